"""Conversions between provider payloads and engine values.

IMAGE values are torch float32 tensors ``[B, H, W, C]`` in 0..1 with C = 3.
Decoding and encoding run in a worker thread so the event loop stays free.
VIDEO, AUDIO and 3D values are files under the output directory; the node
returns the path string and a UI entry ``{"filename", "subfolder", "type"}``.
torch is imported inside functions only.
"""

from __future__ import annotations

import base64
import binascii
import io
import re
import weakref
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio

from ..errors import ProviderError, ValidationError

if TYPE_CHECKING:
    from ..engine.context import NodeContext

# Media types of the outputs, and the file extension each is saved with.
EXTENSIONS = {
    "video/mp4": "mp4",
    "video/quicktime": "mov",
    "video/webm": "webm",
    "audio/mpeg": "mp3",
    "audio/mp3": "mp3",
    "audio/wav": "wav",
    "audio/x-wav": "wav",
    "audio/ogg": "ogg",
    "audio/flac": "flac",
    "image/png": "png",
    "image/jpeg": "jpg",
    "image/webp": "webp",
}


# Per-context counters: the engine calls a node once per item of a list input,
# all with one context, so the n-th call gets the n-th file name and job.
_sequences: weakref.WeakKeyDictionary[Any, dict[str, int]] = weakref.WeakKeyDictionary()


def next_index(ctx: NodeContext, kind: str) -> int:
    """Return 0 on the first call for (ctx, kind), then 1, 2, ..."""
    counters = _sequences.setdefault(ctx, {})
    index = counters.get(kind, 0)
    counters[kind] = index + 1
    return index


def _decode_images_sync(payloads: list[bytes]) -> Any:
    import numpy as np
    import torch
    from PIL import Image, UnidentifiedImageError

    frames = []
    for payload in payloads:
        try:
            with Image.open(io.BytesIO(payload)) as image:
                image.load()
                rgb = image.convert("RGB")
        except (UnidentifiedImageError, OSError, ValueError) as exc:
            raise ValueError(f"the image data cannot be decoded ({exc})") from None
        frames.append(np.asarray(rgb, dtype=np.float32) / 255.0)
    shapes = {frame.shape for frame in frames}
    if len(shapes) > 1:
        raise ValueError(f"the images have different sizes {sorted(shapes)} and cannot be batched")
    return torch.from_numpy(np.stack(frames))


async def decode_images(payloads: list[bytes], *, provider: str) -> Any:
    """Decode PNG, JPEG or WebP payloads into one IMAGE batch ``[B, H, W, 3]``."""
    if not payloads:
        raise ProviderError(f"{provider} returned no images", provider=provider,
                            may_have_charged=True)
    try:
        return await anyio.to_thread.run_sync(_decode_images_sync, payloads)
    except ValueError as exc:
        raise ProviderError(
            f"{provider} returned an image that cannot be used: {exc}",
            provider=provider, may_have_charged=True,
        ) from None


def decode_base64(data: str, *, provider: str, what: str = "image") -> bytes:
    """Decode a base64 payload, accepting a ``data:`` URI prefix."""
    if data.startswith("data:"):
        data = data.split(",", 1)[-1]
    try:
        return base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise ProviderError(
            f"{provider} returned {what} data that is not valid base64",
            provider=provider, may_have_charged=True,
        ) from None


def _encode_image_sync(image: Any, index: int, image_format: str, quality: int) -> bytes:
    import numpy as np
    from PIL import Image

    if image.ndim == 3:
        image = image.unsqueeze(0)
    if image.ndim != 4 or image.shape[-1] not in (1, 3, 4):
        raise ValueError(f"expected an IMAGE tensor [B, H, W, C], got shape {tuple(image.shape)}")
    frame = image[min(index, image.shape[0] - 1)].detach().cpu().float().clamp(0, 1).numpy()
    array = (frame * 255.0 + 0.5).astype(np.uint8)
    if array.shape[-1] == 1:
        array = array[..., 0]
    picture = Image.fromarray(array)
    if image_format == "JPEG" and picture.mode != "RGB":
        picture = picture.convert("RGB")
    buffer = io.BytesIO()
    if image_format == "JPEG":
        picture.save(buffer, format="JPEG", quality=quality)
    else:
        picture.save(buffer, format=image_format)
    return buffer.getvalue()


async def encode_image(
    image: Any, *, index: int = 0, image_format: str = "PNG", quality: int = 92
) -> bytes:
    """Encode one frame of an IMAGE tensor as PNG (default), JPEG or WebP bytes."""
    try:
        return await anyio.to_thread.run_sync(
            _encode_image_sync, image, index, image_format, quality
        )
    except ValueError as exc:
        raise ValidationError(str(exc)) from None


async def encode_image_within(
    image: Any, max_bytes: int, *, index: int = 0
) -> tuple[bytes, str]:
    """Encode a frame as PNG, or as JPEG when the PNG exceeds ``max_bytes``.

    Returns (bytes, media type); raises ValidationError when neither fits.
    """
    png = await encode_image(image, index=index)
    if len(png) <= max_bytes:
        return png, "image/png"
    for quality in (92, 80, 65):
        jpeg = await encode_image(image, index=index, image_format="JPEG", quality=quality)
        if len(jpeg) <= max_bytes:
            return jpeg, "image/jpeg"
    raise ValidationError(
        f"the input image is too large to send: {len(png)} bytes as PNG and still over "
        f"{max_bytes} bytes as JPEG; scale it down first"
    )


def data_uri(data: bytes, media_type: str) -> str:
    return f"data:{media_type};base64,{base64.b64encode(data).decode('ascii')}"


def extension_for(media_type: str, default: str) -> str:
    return EXTENSIONS.get(media_type.split(";", 1)[0].strip().lower(), default)


def output_file(
    ctx: NodeContext, provider: str, extension: str, *, index: int | None = None
) -> tuple[Path, dict[str, str]]:
    """Return the output path for one result file, and its UI entry.

    The name depends only on the prompt, node and index (by default the
    number of files this context requested before), so a re-run of the same
    node after a crash overwrites its own partial file.
    """
    if index is None:
        index = next_index(ctx, f"file:{provider}")
    safe_node = re.sub(r"[^A-Za-z0-9_.-]", "_", str(ctx.node_id))
    safe_prompt = re.sub(r"[^A-Za-z0-9_-]", "_", str(ctx.prompt_id))[:36]
    filename = f"{provider}_{safe_prompt}_{safe_node}_{index:02d}.{extension.lstrip('.')}"
    folder = ctx.paths.output
    folder.mkdir(parents=True, exist_ok=True)
    return folder / filename, {"filename": filename, "subfolder": "", "type": "output"}


def change_extension(path: Path, entry: dict[str, str], extension: str
                     ) -> tuple[Path, dict[str, str]]:
    """Rename a written output file to another extension; return the new path and UI entry."""
    target = path.with_suffix("." + extension.lstrip("."))
    if target != path:
        path.replace(target)
    return target, {**entry, "filename": target.name}


async def write_output_file(
    ctx: NodeContext, provider: str, data: bytes, extension: str, *, index: int | None = None
) -> tuple[Path, dict[str, str]]:
    """Write ``data`` to the node's output file atomically; return the path and UI entry."""
    path, entry = output_file(ctx, provider, extension, index=index)
    partial = path.with_name(f".{path.name}.part")
    await anyio.Path(partial).write_bytes(data)
    await anyio.Path(partial).replace(path)
    return path, entry
