"""Model files under the data directory: listing for combo inputs and safe name resolution.

Checkpoints are single ``.safetensors`` files under ``models/checkpoints``
or diffusers folders (a directory with ``model_index.json``) under
``models/checkpoints`` or ``models/diffusers``. Pickled ``.ckpt`` files are
not listed because loading them would run code from the file.
"""

from __future__ import annotations

import os
from pathlib import Path

from ...engine.runtime import data_paths_or_none

WEIGHT_SUFFIX = ".safetensors"
CHECKPOINT_FOLDERS = ("checkpoints", "diffusers")


def _model_folder(name: str) -> Path | None:
    paths = data_paths_or_none()
    return None if paths is None else paths.model_folder(name)


def _is_diffusers_folder(path: Path) -> bool:
    return (path / "model_index.json").is_file()


def _list_folder(root: Path, *, include_diffusers: bool) -> list[str]:
    if not root.is_dir():
        return []
    names: list[str] = []
    pipeline_dirs = sorted(p.parent for p in root.rglob("model_index.json"))
    if include_diffusers:
        names.extend(p.relative_to(root).as_posix() for p in pipeline_dirs if p != root)
    for file in root.rglob("*" + WEIGHT_SUFFIX):
        # Weights inside a diffusers folder belong to that folder's entry.
        if any(parent in pipeline_dirs for parent in file.parents):
            continue
        names.append(file.relative_to(root).as_posix())
    return names


def checkpoint_names() -> list[str]:
    """List the checkpoint names that CheckpointLoaderSimple accepts, sorted."""
    names: set[str] = set()
    for folder_name in CHECKPOINT_FOLDERS:
        root = _model_folder(folder_name)
        if root is not None:
            names.update(_list_folder(root, include_diffusers=True))
    return sorted(names)


def lora_names() -> list[str]:
    root = _model_folder("loras")
    return [] if root is None else sorted(_list_folder(root, include_diffusers=False))


def _resolve_in(root: Path, name: str) -> Path | None:
    # The check is on the normalized path, not the resolved one, so that a
    # name cannot climb out with ".." while symlinked model files still load.
    base = Path(os.path.normpath(root))
    candidate = Path(os.path.normpath(base / name))
    if not candidate.is_relative_to(base):
        return None
    return candidate if candidate.exists() else None


def resolve_checkpoint(name: str) -> Path:
    """Return the file or diffusers folder that a checkpoint name refers to.

    Raises FileNotFoundError naming the folders searched.
    """
    for folder_name in CHECKPOINT_FOLDERS:
        root = _model_folder(folder_name)
        if root is None:
            continue
        path = _resolve_in(root, name)
        if path is not None and (
            (path.is_file() and path.suffix == WEIGHT_SUFFIX) or _is_diffusers_folder(path)
        ):
            return path
    raise FileNotFoundError(
        f"checkpoint {name!r} not found: put a .safetensors file or a diffusers folder "
        "under models/checkpoints or models/diffusers of the data directory"
    )


def resolve_lora(name: str) -> Path:
    root = _model_folder("loras")
    path = None if root is None else _resolve_in(root, name)
    if path is None or not path.is_file() or path.suffix != WEIGHT_SUFFIX:
        raise FileNotFoundError(
            f"LoRA {name!r} not found: put a .safetensors file under models/loras"
        )
    return path


def is_diffusers_folder(path: Path) -> bool:
    return path.is_dir() and _is_diffusers_folder(path)
