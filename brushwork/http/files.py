"""GET /view and POST /upload/image: files inside the input, output and temp folders.

A path from a client is rejected when it contains a NUL byte, a control
character or a backslash, when it is absolute, when it names ``..``, or
when it resolves (following symlinks) outside its folder.
"""

from __future__ import annotations

import hashlib
import io
import mimetypes
import os
import urllib.parse
from pathlib import Path

import anyio
from aiohttp import BodyPartReader, web

from ..engine.paths import DataPaths
from ..errors import BrushworkError, NotFoundError, ValidationError
from .limits import check_content_length, payload_too_large
from .options import HttpOptions

_UNSAFE_CONTENT_TYPES = {
    "text/html",
    "text/javascript",
    "application/javascript",
    "text/css",
    "application/xhtml+xml",
    "image/svg+xml",
}
# Form fields other than the image (type, subfolder, overwrite) are short strings.
MAX_FIELD_BYTES = 4096
MAX_FORM_PARTS = 16


class PathRejected(BrushworkError):
    """A client path that is malformed (400) or leaves its folder (403)."""

    code = "invalid_path"

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class UnsupportedMediaError(BrushworkError):
    code = "unsupported_media_type"
    status = 415


def _check_component(value: str, what: str) -> None:
    if "\x00" in value:
        raise PathRejected(400, f"{what} contains a NUL byte")
    if any(ord(char) < 0x20 or ord(char) == 0x7F for char in value):
        raise PathRejected(400, f"{what} {value[:100]!r} contains a control character")
    if "\\" in value:
        raise PathRejected(400, f"{what} {value[:100]!r} contains a backslash; use '/' separators")


def resolve_inside(base: Path, subfolder: str, filename: str) -> Path:
    """Resolve ``base/subfolder/filename``; raise PathRejected for anything that leaves ``base``."""
    _check_component(subfolder, "subfolder")
    _check_component(filename, "filename")
    if not filename or filename.startswith("/") or ".." in Path(filename).parts:
        raise PathRejected(400, f"invalid filename {filename[:100]!r}")
    if subfolder.startswith("/") or os.path.isabs(subfolder):
        raise PathRejected(403, f"subfolder {subfolder[:100]!r} must be relative")
    root = base.resolve()
    folder = (root / subfolder).resolve()
    if folder != root and root not in folder.parents:
        raise PathRejected(403, f"subfolder {subfolder[:100]!r} leaves the {base.name} folder")
    target = (folder / filename).resolve()
    if root not in target.parents:
        raise PathRejected(403, f"{filename[:100]!r} resolves outside the {base.name} folder")
    return target


def _split_annotation(filename: str, kind: str) -> tuple[str, str]:
    for annotation in ("input", "output", "temp"):
        suffix = f" [{annotation}]"
        if filename.endswith(suffix):
            return filename[: -len(suffix)], annotation
    return filename, kind


def _folder(paths: DataPaths, kind: str) -> Path:
    base = paths.folder_for_type(kind)
    if base is None:
        raise ValidationError(f"invalid type {kind[:40]!r}; use input, output or temp")
    return base


def _content_disposition(name: str) -> str:
    plain = "".join(char for char in name if char.isprintable() and char not in '"\\')
    return f"filename=\"{plain}\"; filename*=UTF-8''{urllib.parse.quote(name)}"


async def view(request: web.Request, paths: DataPaths) -> web.StreamResponse:
    query = request.query
    if "filename" not in query:
        raise ValidationError("missing query parameter 'filename'")
    filename, kind = _split_annotation(query["filename"], query.get("type", "output"))
    base = _folder(paths, kind)
    target = resolve_inside(base, query.get("subfolder", ""), filename)
    if not target.is_file():
        raise NotFoundError(f"file {filename[:100]!r} not found in {kind}")
    preview = query.get("preview")
    channel = query.get("channel", "rgba")
    if channel not in ("rgba", "rgb", "a"):
        raise ValidationError(f"invalid channel {channel[:20]!r}; use rgba, rgb or a")
    headers = {"Content-Disposition": _content_disposition(target.name)}
    if preview or channel != "rgba":
        try:
            data, content_type = await anyio.to_thread.run_sync(_reencode, target, preview, channel)
        except Exception as error:  # Pillow raises many types for files it cannot read
            raise UnsupportedMediaError(
                f"{target.name!r} cannot be re-encoded as an image: {error}"[:300]
            ) from None
        return web.Response(body=data, content_type=content_type, headers=headers)
    content_type = mimetypes.guess_type(target.name)[0] or "application/octet-stream"
    if content_type in _UNSAFE_CONTENT_TYPES:
        content_type = "application/octet-stream"
    headers["Content-Type"] = content_type
    headers["X-Content-Type-Options"] = "nosniff"
    return web.FileResponse(target, headers=headers)


def _reencode(path: Path, preview: str | None, channel: str) -> tuple[bytes, str]:
    from PIL import Image

    with Image.open(path) as opened:
        opened.load()
        image: Image.Image = opened
        if channel == "rgb":
            image = opened.convert("RGB")
        elif channel == "a":
            alpha = opened.convert("RGBA").getchannel("A")
            image = Image.new("RGBA", alpha.size, (0, 0, 0, 0))
            image.putalpha(alpha)
        out = io.BytesIO()
        if preview:
            fmt, _, quality_text = preview.partition(";")
            quality = int(quality_text) if quality_text.isdigit() else 90
            quality = max(1, min(100, quality))
            fmt = fmt.lower()
            if fmt not in ("webp", "jpeg") or "A" in image.getbands():
                fmt = "webp"
            if fmt == "jpeg":
                image = image.convert("RGB")
            image.save(out, format=fmt.upper(), quality=quality)
            return out.getvalue(), f"image/{fmt}"
        image.save(out, format="PNG")
        return out.getvalue(), "image/png"


async def _read_part(part: BodyPartReader, limit: int, flag: str, what: str) -> bytes:
    chunks = []
    size = 0
    while chunk := await part.read_chunk(1 << 16):
        size += len(chunk)
        if size > limit:
            raise payload_too_large(what, None, limit, flag)
        chunks.append(chunk)
    return b"".join(chunks)


async def upload_image(
    request: web.Request, paths: DataPaths, options: HttpOptions
) -> web.Response:
    max_bytes = options.max_upload_bytes
    check_content_length(
        request,
        max_bytes,
        "--max-upload-bytes",
        "the upload",
        overhead=MAX_FORM_PARTS * MAX_FIELD_BYTES,
    )
    if not request.content_type.startswith("multipart/"):
        raise ValidationError("send multipart/form-data with an 'image' file field")
    fields: dict[str, str] = {}
    image_name: str | None = None
    image_bytes = b""
    try:
        reader = await request.multipart()
        parts = 0
        while (part := await reader.next()) is not None:
            parts += 1
            if parts > MAX_FORM_PARTS:
                raise ValidationError(f"the form has more than {MAX_FORM_PARTS} parts")
            if not isinstance(part, BodyPartReader):
                raise ValidationError("nested multipart bodies are not supported")
            if part.name == "image":
                image_name = part.filename
                image_bytes = await _read_part(part, max_bytes, "--max-upload-bytes", "the image")
            elif part.filename is not None:
                raise ValidationError(
                    f"unexpected file field {(part.name or '')[:40]!r}; "
                    "send the image in the 'image' field"
                )
            elif part.name:
                raw = await _read_part(
                    part,
                    MAX_FIELD_BYTES,
                    "nothing: fields are short",
                    f"form field {part.name[:40]!r}",
                )
                fields[part.name] = raw.decode("utf-8", errors="replace")
    except (ValueError, AssertionError) as error:  # aiohttp's multipart parser errors
        if isinstance(error, BrushworkError):
            raise
        raise ValidationError(f"malformed multipart body: {error}"[:300]) from None

    if not image_name:
        raise ValidationError("the 'image' file field is missing or has no filename")
    kind = fields.get("type", "input") or "input"
    base = _folder(paths, kind)
    sniffed = _sniff_image(image_bytes)
    if sniffed is None or sniffed not in options.upload_types:
        accepted = ", ".join(sorted(options.upload_types))
        raise UnsupportedMediaError(
            f"{image_name[:100]!r} is not an accepted image type ({accepted})",
            details={"detected": sniffed, "accepted": sorted(options.upload_types)},
        )

    subfolder = fields.get("subfolder", "")
    target = resolve_inside(base, subfolder, Path(image_name).name)
    overwrite = fields.get("overwrite", "").lower() in ("true", "1")
    target = await anyio.to_thread.run_sync(_store_upload, target, image_bytes, overwrite)
    return web.json_response({"name": target.name, "subfolder": subfolder, "type": kind})


def _sniff_image(data: bytes) -> str | None:
    signatures = {
        b"\x89PNG\r\n\x1a\n": "png",
        b"\xff\xd8\xff": "jpeg",
        b"GIF8": "gif",
        b"BM": "bmp",
        b"II*\x00": "tiff",
        b"MM\x00*": "tiff",
    }
    for signature, kind in signatures.items():
        if data.startswith(signature):
            return kind
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    return None


def _store_upload(target: Path, data: bytes, overwrite: bool) -> Path:
    target.parent.mkdir(parents=True, exist_ok=True)
    if not overwrite:
        digest = hashlib.sha256(data).digest()
        stem, suffix = target.stem, target.suffix
        candidate, counter = target, 1
        while candidate.exists():
            if hashlib.sha256(candidate.read_bytes()).digest() == digest:
                return candidate
            candidate = target.with_name(f"{stem} ({counter}){suffix}")
            counter += 1
        target = candidate
    tmp = target.with_name(f".upload-{os.getpid()}-{target.name}")
    tmp.write_bytes(data)
    os.replace(tmp, target)
    return target
