"""Encoding of node output values into artifacts or inline JSON, and back.

A tensor (IMAGE, MASK) becomes a NumPy ``.npy`` file and a dict of tensors
(LATENT) a ``.npz`` archive in the artifact store, so their sha256 names their exact
bytes. JSON scalars (INT, FLOAT, STRING, BOOLEAN) stay inline in the event.
Objects that cannot be stored (a loaded MODEL, CLIP or VAE) are "transient":
after a restart the node that made them runs again when they are needed.
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING, Any, Protocol

from ..events.types import OutputItem
from .artifacts import ArtifactStore

if TYPE_CHECKING:
    import numpy as np

_INLINE_TYPES = (bool, int, float, str, type(None))
_MAX_INLINE_STRING = 64 * 1024


def _to_numpy(value: Any) -> np.ndarray | None:
    import numpy as np

    if isinstance(value, np.ndarray):
        return value
    module = type(value).__module__
    if module.startswith("torch"):
        import torch

        if isinstance(value, torch.Tensor):
            tensor = value.detach().cpu()
            if tensor.dtype == torch.bfloat16:
                # NumPy has no bfloat16; float32 holds every bfloat16 exactly.
                tensor = tensor.float()
            return tensor.contiguous().numpy()
    return None


def _encode_array(array: np.ndarray) -> bytes:
    """One array in NumPy's .npy format (no zip container: cheaper than .npz)."""
    import numpy as np

    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, np.ascontiguousarray(array), allow_pickle=False)
    return buffer.getvalue()


def _encode_arrays(arrays: dict[str, np.ndarray], scalars: dict[str, Any]) -> bytes:
    import numpy as np

    buffer = io.BytesIO()
    payload = {f"t:{k}": v for k, v in arrays.items()}
    for key, value in scalars.items():
        payload[f"s:{key}"] = np.array(value)
    np.savez(buffer, **payload)
    return buffer.getvalue()


def _decode_arrays(data: bytes) -> tuple[dict[str, Any], dict[str, Any]]:
    import numpy as np
    import torch

    arrays: dict[str, Any] = {}
    scalars: dict[str, Any] = {}
    with np.load(io.BytesIO(data), allow_pickle=False) as archive:
        for name in archive.files:
            kind, key = name.split(":", 1)
            if kind == "t":
                arrays[key] = torch.from_numpy(archive[name].copy())
            else:
                scalars[key] = archive[name].tolist()
    return arrays, scalars


class BlobSink(Protocol):
    """Anything that stores bytes and returns their sha256: the store, or a deferred batch."""

    def put(self, data: bytes) -> str: ...


def encode_value(io_type: str, value: Any, artifacts: BlobSink) -> OutputItem:
    if isinstance(value, _INLINE_TYPES) and not (
        isinstance(value, str) and len(value) > _MAX_INLINE_STRING
    ):
        return OutputItem("inline", io_type, None, value)
    array = _to_numpy(value)
    if array is not None:
        return OutputItem("artifact", io_type, artifacts.put(_encode_array(array)), {"npy": True})
    if isinstance(value, dict):
        arrays: dict[str, np.ndarray] = {}
        scalars: dict[str, Any] = {}
        for key, item in value.items():
            converted = _to_numpy(item)
            if converted is not None:
                arrays[key] = converted
            elif isinstance(item, _INLINE_TYPES) or (
                isinstance(item, list) and all(isinstance(x, int | float) for x in item)
            ):
                scalars[key] = item
            else:
                return OutputItem("transient", io_type)
        return OutputItem(
            "artifact", io_type, artifacts.put(_encode_arrays(arrays, scalars)), {"dict": True}
        )
    if isinstance(value, str):
        return OutputItem("artifact", io_type, artifacts.put(value.encode()), {"text": True})
    return OutputItem("transient", io_type)


def decode_value(item: OutputItem, artifacts: ArtifactStore) -> Any:
    if item.kind == "inline":
        return item.value
    if item.kind != "artifact" or item.ref is None:
        raise ValueError(f"an output of kind {item.kind!r} cannot be restored from the log")
    # Imported here, not first: an inline value needs no NumPy, and importing
    # it delays a resumed run's first node by tens of milliseconds.
    import numpy as np

    data = artifacts.get(item.ref)
    marker = item.value or {}
    if marker.get("text"):
        return data.decode()
    if marker.get("npy"):
        import torch

        array = np.lib.format.read_array(io.BytesIO(data), allow_pickle=False)
        return torch.from_numpy(array.copy())
    arrays, scalars = _decode_arrays(data)
    if marker.get("dict"):
        return {**arrays, **scalars}
    return arrays["value"]


def is_restorable(item: OutputItem) -> bool:
    return item.kind in ("inline", "artifact")
