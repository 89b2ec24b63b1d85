"""LoadImage, SaveImage and PreviewImage: the nodes that read and write image files.

File names follow ComfyUI: LoadImage takes a name relative to the input
folder, optionally with a " [input]", " [output]" or " [temp]" suffix that
selects the folder, and SaveImage writes ``<prefix>_<counter:05>_.png``.
"""

from __future__ import annotations

import hashlib
import io
import json
import mimetypes
import os
import random
import string
import threading
import time
from collections import OrderedDict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..engine.node import Input, Node, NodeOutput, Output
from ..engine.runtime import data_paths_or_none
from ..errors import NotFoundError, ValidationError

if TYPE_CHECKING:
    import numpy as np
    import torch
    from PIL import Image

    from ..engine.context import NodeContext
    from ..engine.paths import DataPaths

_FOLDER_SUFFIXES = {" [input]": "input", " [output]": "output", " [temp]": "temp"}
# Formats PIL cannot decode, though their MIME type is image/*.
_UNREADABLE_TYPES = frozenset({"image/svg+xml"})
# Frames of these formats are alternative views of one picture, not a sequence.
_SINGLE_FRAME_FORMATS = frozenset({"MPO"})
_NO_ALPHA_MASK_SIZE = 64

SAVE_COMPRESS_LEVEL = 4
PREVIEW_COMPRESS_LEVEL = 1


# -- LoadImage -----------------------------------------------------------------


def list_input_images() -> list[str]:
    """List the image files directly inside the input folder, sorted by name."""
    paths = data_paths_or_none()
    if paths is None:
        return []
    try:
        entries = list(os.scandir(paths.input))
    except FileNotFoundError:
        return []
    names = []
    for entry in entries:
        if entry.name.startswith(".") or not entry.is_file():
            continue
        mime, _ = mimetypes.guess_type(entry.name)
        if mime is not None and mime.startswith("image/") and mime not in _UNREADABLE_TYPES:
            names.append(entry.name)
    return sorted(names)


def resolve_annotated_path(paths: DataPaths, name: str) -> Path | None:
    """Map a ComfyUI file name such as ``"sub/a.png [output]"`` to a path.

    Returns None for a name that is empty, absolute, or escapes its folder.
    """
    kind = "input"
    for suffix, folder_kind in _FOLDER_SUFFIXES.items():
        if name.endswith(suffix):
            name = name[: -len(suffix)]
            kind = folder_kind
            break
    folder = paths.folder_for_type(kind)
    if folder is None or not name or "\x00" in name or os.path.isabs(name):
        return None
    root = os.path.abspath(folder)
    candidate = os.path.normpath(os.path.join(root, name))
    if candidate == root or os.path.commonpath((root, candidate)) != root:
        return None
    return Path(candidate)


def _frame_pixels(frame: Image.Image) -> np.ndarray:
    """Return one frame as float32 RGB values in 0..1."""
    import numpy as np

    if frame.mode.startswith("I;16"):
        frame = frame.convert("I")
    if frame.mode == "I":
        # ComfyUI divides 32-bit integer pixels by 255 and lets the RGB
        # conversion clip, which maps 16-bit data roughly onto 0..255.
        frame = frame.point(lambda value: value * (1 / 255))
    return np.asarray(frame.convert("RGB"), dtype=np.float32) / 255.0


def _frame_mask(frame: Image.Image) -> np.ndarray | None:
    """Return 1 - alpha of one frame, or None when the frame has no transparency."""
    import numpy as np

    if "A" in frame.getbands():
        alpha = frame.getchannel("A")
    elif frame.mode == "P" and "transparency" in frame.info:
        alpha = frame.convert("RGBA").getchannel("A")
    else:
        return None
    return 1.0 - np.asarray(alpha, dtype=np.float32) / 255.0


def load_image_file(path: Path) -> tuple[torch.Tensor, torch.Tensor]:
    """Decode an image file into an IMAGE batch (one item per frame) and its MASK.

    Each frame is turned upright by its EXIF orientation. Frames whose size
    differs from the first frame are skipped, as in ComfyUI. The mask is
    1 - alpha, or 64x64 zeros for an image without transparency. When only
    some frames have alpha, the others get zero masks of the frame size, so
    the masks can be stacked (ComfyUI fails on such files).
    """
    import numpy as np
    import torch
    from PIL import Image, ImageOps, ImageSequence, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            pixels: list[np.ndarray] = []
            masks: list[np.ndarray | None] = []
            for raw in ImageSequence.Iterator(img):
                frame = ImageOps.exif_transpose(raw)
                if pixels and frame.size != (pixels[0].shape[1], pixels[0].shape[0]):
                    continue
                pixels.append(_frame_pixels(frame))
                masks.append(_frame_mask(frame))
                if img.format in _SINGLE_FRAME_FORMATS:
                    break
    except (OSError, UnidentifiedImageError, Image.DecompressionBombError) as exc:
        raise ValidationError(f"image file {path.name!r} could not be decoded: {exc}") from exc

    height, width = pixels[0].shape[:2]
    if all(mask is None for mask in masks):
        mask_shape = (_NO_ALPHA_MASK_SIZE, _NO_ALPHA_MASK_SIZE)
    else:
        mask_shape = (height, width)
    filled = [np.zeros(mask_shape, np.float32) if m is None else m for m in masks]
    return torch.from_numpy(np.stack(pixels)), torch.from_numpy(np.stack(filled))


class LoadImage(Node):
    class_type = "LoadImage"
    display_name = "Load Image"
    category = "image"
    description = "Loads an image file from the input folder as an IMAGE and its alpha as a MASK."
    inputs = (
        Input("image", "COMBO", choices=list_input_images, extra={"image_upload": True}),
    )
    outputs = (Output("IMAGE"), Output("MASK"))
    lane = "cpu"

    def execute(self, ctx: NodeContext, image: str) -> tuple[Any, ...]:
        path = resolve_annotated_path(ctx.paths, image)
        if path is None or not path.is_file():
            raise NotFoundError(
                f"image file {image!r} was not found. Upload it first or pick a listed file."
            )
        return load_image_file(path)

    @classmethod
    def fingerprint(cls, ctx: NodeContext | None, **constant_inputs: Any) -> Any:
        """Return the sha256 of the file, so that editing the file invalidates the cache."""
        image = constant_inputs.get("image")
        paths = ctx.paths if ctx is not None else data_paths_or_none()
        if not isinstance(image, str) or paths is None:
            return None
        path = resolve_annotated_path(paths, image)
        if path is None:
            return None
        try:
            with path.open("rb") as handle:
                return hashlib.file_digest(handle, "sha256").hexdigest()
        except OSError:
            # validate_inputs and execute report the missing file.
            return None

    @classmethod
    def validate_inputs(cls, **constant_inputs: Any) -> bool | str:
        image = constant_inputs.get("image")
        if image is None:
            return True
        paths = data_paths_or_none()
        if paths is None:
            return "the data directory is not set, so no image file can be found"
        path = resolve_annotated_path(paths, str(image))
        if path is None:
            return (
                f"invalid image file name {image!r}. Use a relative name inside the input folder."
            )
        if not path.is_file():
            return f"image file {image!r} was not found. Upload it first or pick a listed file."
        return True


# -- SaveImage and PreviewImage ------------------------------------------------


def check_filename_prefix(prefix: str) -> str | None:
    """Return why a filename_prefix is invalid, or None when it stays inside the folder."""
    if "\x00" in prefix:
        return "filename_prefix must not contain NUL characters"
    normalized = os.path.normpath(prefix)
    name = os.path.basename(normalized)
    if os.path.isabs(normalized) or normalized == ".." or normalized.startswith(".." + os.sep):
        return (
            f"filename_prefix {prefix!r} points outside the output folder. "
            "Use a relative prefix such as 'ComfyUI' or 'project/shot'."
        )
    if name in ("", ".", ".."):
        return f"filename_prefix {prefix!r} has no file name part"
    return None


def expand_prefix_variables(prefix: str, width: int, height: int) -> str:
    """Replace ComfyUI's %width%, %height% and local-time %year% ... %second% variables."""
    if "%" not in prefix:
        return prefix
    now = time.localtime()
    values = {
        "%width%": str(width),
        "%height%": str(height),
        "%year%": str(now.tm_year),
        "%month%": f"{now.tm_mon:02}",
        "%day%": f"{now.tm_mday:02}",
        "%hour%": f"{now.tm_hour:02}",
        "%minute%": f"{now.tm_min:02}",
        "%second%": f"{now.tm_sec:02}",
    }
    for variable, value in values.items():
        prefix = prefix.replace(variable, value)
    return prefix


def _highest_counter(folder: Path, name: str) -> int:
    """Return the largest counter of files named ``<name>_<counter>_...`` in folder, or 0."""
    stem = os.path.normcase(name + "_")
    highest = 0
    with os.scandir(folder) as entries:
        for entry in entries:
            candidate = os.path.normcase(entry.name)
            if not candidate.startswith(stem):
                continue
            digits = candidate[len(stem) :].split("_", 1)[0]
            if digits.isascii() and digits.isdigit():
                highest = max(highest, int(digits))
    return highest


class SaveCounters:
    """The next free file counter per (folder, file name prefix), shared by all threads.

    A folder is listed once for each prefix, when that prefix is first
    saved. After that the counter only grows, so deleting files does not
    make it reuse their numbers. The least recently used entries are dropped
    past ``max_entries`` and found again by a new scan.
    """

    def __init__(self, max_entries: int = 4096) -> None:
        self._lock = threading.Lock()
        self._next: OrderedDict[tuple[str, str], int] = OrderedDict()
        self._max_entries = max_entries

    def reserve(self, folder: Path, name: str, count: int) -> int:
        """Reserve ``count`` consecutive counters and return the first."""
        key = self._key(folder, name)
        with self._lock:
            start = self._next.pop(key, None)
            if start is None:
                start = _highest_counter(folder, name) + 1
            self._store(key, start + count)
        return start

    def mark_used(self, folder: Path, name: str, counter: int) -> None:
        """Move the next counter past one taken by a file this process did not reserve."""
        key = self._key(folder, name)
        with self._lock:
            current = self._next.pop(key, 0)
            self._store(key, max(current, counter + 1))

    @staticmethod
    def _key(folder: Path, name: str) -> tuple[str, str]:
        return (os.path.normcase(os.path.abspath(folder)), os.path.normcase(name))

    def _store(self, key: tuple[str, str], next_counter: int) -> None:
        self._next[key] = next_counter
        while len(self._next) > self._max_entries:
            self._next.popitem(last=False)


_COUNTERS = SaveCounters()


def _to_pil_images(images: torch.Tensor) -> list[Image.Image]:
    """Convert an IMAGE batch to 8-bit PIL images with ComfyUI's clip(255 * x), truncated."""
    import torch
    from PIL import Image

    # NaN has no 8-bit value, so it becomes 0 to keep the cast defined.
    pixels = torch.nan_to_num(images.detach().float(), nan=0.0).mul(255.0).clamp_(0.0, 255.0)
    pixels = pixels.to(torch.uint8).cpu().numpy()
    if pixels.shape[-1] == 1:
        return [Image.fromarray(frame[..., 0], "L") for frame in pixels]
    modes = {2: "LA", 3: "RGB", 4: "RGBA"}
    mode = modes.get(pixels.shape[-1])
    if mode is None:
        raise ValueError(f"an image to save needs 1 to 4 channels, not {pixels.shape[-1]}")
    return [Image.fromarray(frame, mode) for frame in pixels]


def _png_metadata(ctx: NodeContext) -> Any:
    """Build the PNG text chunks: "prompt" and each key of extra_data["extra_pnginfo"].

    Nothing else from extra_data is written, because it may contain API credentials.
    """
    from PIL.PngImagePlugin import PngInfo

    metadata = PngInfo()
    metadata.add_text("prompt", json.dumps(ctx.prompt))
    extra = ctx.extra_data.get("extra_pnginfo")
    if isinstance(extra, dict):
        for key, value in extra.items():
            metadata.add_text(str(key), json.dumps(value))
    return metadata


def _write_new_file(folder: Path, stem: str, counter: int, data: bytes) -> tuple[str, int]:
    """Write data as ``<stem>_<counter:05>_.png`` with the first free counter from ``counter`` on.

    Returns the file name and the counter used. Exclusive creation keeps a
    file that another process wrote since the folder scan from being
    overwritten.
    """
    while True:
        filename = f"{stem}_{counter:05}_.png"
        try:
            with open(folder / filename, "xb") as handle:
                handle.write(data)
        except FileExistsError:
            counter += 1
            continue
        return filename, counter


def save_images(
    ctx: NodeContext,
    images: torch.Tensor,
    prefix: str,
    *,
    kind: str,
    compress_level: int,
    scan_folder: bool = True,
) -> NodeOutput:
    """Write each image of a batch as a PNG into the ``kind`` folder ("output" or "temp")."""
    problem = check_filename_prefix(prefix)
    if problem is not None:
        raise ValidationError(problem)
    height, width = int(images.shape[1]), int(images.shape[2])
    prefix = expand_prefix_variables(prefix, width, height)
    problem = check_filename_prefix(prefix)
    if problem is not None:
        raise ValidationError(problem)

    normalized = os.path.normpath(prefix)
    subfolder = os.path.dirname(normalized)
    name = os.path.basename(normalized)
    root = ctx.paths.folder_for_type(kind)
    if root is None:
        raise ValueError(f"unknown image folder type {kind!r}")
    folder = root / subfolder
    folder.mkdir(parents=True, exist_ok=True)

    pil_images = _to_pil_images(images)
    if scan_folder:
        counter = _COUNTERS.reserve(folder, name, len(pil_images))
    else:
        counter = 1
    metadata = _png_metadata(ctx)
    results = []
    for batch_number, picture in enumerate(pil_images):
        ctx.check_interrupted()
        buffer = io.BytesIO()
        picture.save(buffer, format="PNG", pnginfo=metadata, compress_level=compress_level)
        stem = name.replace("%batch_num%", str(batch_number))
        filename, used = _write_new_file(folder, stem, counter, buffer.getvalue())
        if used != counter and scan_folder:
            _COUNTERS.mark_used(folder, name, used)
        counter = used + 1
        results.append({"filename": filename, "subfolder": subfolder, "type": kind})
    return NodeOutput(values=(), ui={"images": results})


class SaveImage(Node):
    class_type = "SaveImage"
    display_name = "Save Image"
    category = "image"
    description = "Saves images as PNG files in the output folder, with the prompt as metadata."
    inputs = (
        Input("images", "IMAGE"),
        Input(
            "filename_prefix", "STRING", default="ComfyUI",
            tooltip="File name prefix relative to the output folder. It may contain subfolders.",
        ),
    )
    hidden = {"prompt": "PROMPT", "extra_pnginfo": "EXTRA_PNGINFO"}
    outputs = ()
    output_node = True
    lane = "cpu"
    cacheable = True
    deterministic = False

    def execute(
        self,
        ctx: NodeContext,
        images: torch.Tensor,
        filename_prefix: str = "ComfyUI",
        **hidden: Any,
    ) -> NodeOutput:
        # The hidden PROMPT and EXTRA_PNGINFO values, if the engine passes
        # them, equal ctx.prompt and ctx.extra_data["extra_pnginfo"].
        return save_images(
            ctx, images, filename_prefix, kind="output", compress_level=SAVE_COMPRESS_LEVEL
        )

    @classmethod
    def validate_inputs(cls, **constant_inputs: Any) -> bool | str:
        prefix = constant_inputs.get("filename_prefix")
        if prefix is None:
            return True
        problem = check_filename_prefix(str(prefix))
        return True if problem is None else problem


class PreviewImage(Node):
    class_type = "PreviewImage"
    display_name = "Preview Image"
    category = "image"
    description = "Saves images as temporary PNG files for display."
    inputs = (Input("images", "IMAGE"),)
    hidden = {"prompt": "PROMPT", "extra_pnginfo": "EXTRA_PNGINFO"}
    outputs = ()
    output_node = True
    lane = "cpu"
    cacheable = True
    deterministic = False

    def execute(self, ctx: NodeContext, images: torch.Tensor, **hidden: Any) -> NodeOutput:
        suffix = "".join(random.choices(string.ascii_lowercase, k=5))
        # The random suffix makes a clash unlikely, so the temp folder is not
        # listed. Exclusive file creation still moves past a clash.
        return save_images(
            ctx,
            images,
            f"ComfyUI_temp_{suffix}",
            kind="temp",
            compress_level=PREVIEW_COMPRESS_LEVEL,
            scan_folder=False,
        )


NODE_CLASSES: list[type[Node]] = [LoadImage, SaveImage, PreviewImage]
