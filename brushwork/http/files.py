"""GET /view and POST /upload/image: files inside the input, output and temp folders."""

from __future__ import annotations

import hashlib
import io
import mimetypes
import os
from pathlib import Path

import anyio
from aiohttp import web

from ..engine.paths import DataPaths
from .errors import error_response

ALLOWED_UPLOAD_TYPES = {"image/png", "image/jpeg", "image/webp", "image/gif", "image/bmp",
                        "image/tiff"}
_UNSAFE_CONTENT_TYPES = {"text/html", "text/javascript", "application/javascript", "text/css",
                         "application/xhtml+xml"}


class PathRejected(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _check_component(value: str, what: str) -> None:
    if "\x00" in value:
        raise PathRejected(400, f"{what} contains a NUL byte")
    if "\\" in value:
        raise PathRejected(400, f"{what} {value!r} contains a backslash; use '/' separators")


def resolve_inside(base: Path, subfolder: str, filename: str) -> Path:
    """Resolve ``base/subfolder/filename``; reject anything that leaves ``base``."""
    _check_component(subfolder, "subfolder")
    _check_component(filename, "filename")
    if not filename or filename.startswith("/") or ".." in Path(filename).parts:
        raise PathRejected(400, f"invalid filename {filename!r}")
    if subfolder.startswith("/") or os.path.isabs(subfolder):
        raise PathRejected(403, f"subfolder {subfolder!r} must be relative")
    root = base.resolve()
    folder = (root / subfolder).resolve()
    if folder != root and root not in folder.parents:
        raise PathRejected(403, f"subfolder {subfolder!r} leaves the {base.name} folder")
    target = (folder / filename).resolve()
    if root not in target.parents:
        raise PathRejected(403, f"{filename!r} resolves outside the {base.name} folder")
    return target


def _split_annotation(filename: str, kind: str) -> tuple[str, str]:
    for annotation in ("input", "output", "temp"):
        suffix = f" [{annotation}]"
        if filename.endswith(suffix):
            return filename[: -len(suffix)], annotation
    return filename, kind


async def view(request: web.Request, paths: DataPaths) -> web.StreamResponse:
    query = request.query
    if "filename" not in query:
        return error_response(400, "missing_filename", "missing query parameter 'filename'")
    filename, kind = _split_annotation(query["filename"], query.get("type", "output"))
    base = paths.folder_for_type(kind)
    if base is None:
        return error_response(400, "invalid_type",
                              f"invalid type {kind!r}; use input, output or temp")
    try:
        target = resolve_inside(base, query.get("subfolder", ""), filename)
    except PathRejected as rejected:
        return error_response(rejected.status, "invalid_path", rejected.message)
    if not target.is_file():
        return error_response(404, "not_found", f"file {filename!r} not found in {kind}")
    preview = query.get("preview")
    channel = query.get("channel", "rgba")
    if channel not in ("rgba", "rgb", "a"):
        return error_response(400, "invalid_channel",
                              f"invalid channel {channel!r}; use rgba, rgb or a")
    headers = {"Content-Disposition": f'filename="{target.name}"'}
    if preview or channel != "rgba":
        data, content_type = await anyio.to_thread.run_sync(_reencode, target, preview, channel)
        return web.Response(body=data, content_type=content_type, headers=headers)
    content_type = mimetypes.guess_type(target.name)[0] or "application/octet-stream"
    if content_type in _UNSAFE_CONTENT_TYPES:
        content_type = "application/octet-stream"
    headers["Content-Type"] = content_type
    return web.FileResponse(target, headers=headers)


def _reencode(path: Path, preview: str | None, channel: str) -> tuple[bytes, str]:
    from PIL import Image

    with Image.open(path) as image:
        image.load()
        if channel == "rgb":
            image = image.convert("RGB")
        elif channel == "a":
            alpha = image.convert("RGBA").getchannel("A")
            image = Image.new("RGBA", alpha.size, (0, 0, 0, 0))
            image.putalpha(alpha)
        out = io.BytesIO()
        if preview:
            fmt, _, quality_text = preview.partition(";")
            quality = int(quality_text) if quality_text.isdigit() else 90
            fmt = fmt.lower()
            if fmt not in ("webp", "jpeg") or "A" in image.getbands():
                fmt = "webp"
            if fmt == "jpeg":
                image = image.convert("RGB")
            image.save(out, format=fmt.upper(), quality=quality)
            return out.getvalue(), f"image/{fmt}"
        image.save(out, format="PNG")
        return out.getvalue(), "image/png"


async def upload_image(request: web.Request, paths: DataPaths,
                       max_bytes: int) -> web.Response:
    if not request.content_type.startswith("multipart/"):
        return error_response(400, "invalid_upload",
                              "send multipart/form-data with an 'image' file field")
    fields: dict[str, str] = {}
    image_name: str | None = None
    image_bytes = b""
    image_type = ""
    reader = await request.multipart()
    async for part in reader:
        if part.name == "image":
            image_name = part.filename
            image_type = part.headers.get("Content-Type", "")
            chunks = []
            size = 0
            while chunk := await part.read_chunk(1 << 16):
                size += len(chunk)
                if size > max_bytes:
                    return error_response(413, "payload_too_large",
                                          f"upload is larger than {max_bytes} bytes")
                chunks.append(chunk)
            image_bytes = b"".join(chunks)
        elif part.name:
            fields[part.name] = (await part.text())[:4096]
    if not image_name:
        return error_response(400, "missing_image", "the 'image' file field is missing or unnamed")
    kind = fields.get("type", "input") or "input"
    base = paths.folder_for_type(kind)
    if base is None:
        return error_response(400, "invalid_type",
                              f"invalid type {kind!r}; use input, output or temp")
    sniffed = _sniff_image(image_bytes)
    if sniffed is None:
        return error_response(415, "unsupported_media_type",
                              f"{image_name!r} is not a PNG, JPEG, WebP, GIF, BMP or TIFF image"
                              + (f" (sent as {image_type})" if image_type else ""))
    try:
        target = resolve_inside(base, fields.get("subfolder", ""), Path(image_name).name)
    except PathRejected as rejected:
        return error_response(rejected.status, "invalid_path", rejected.message)
    overwrite = fields.get("overwrite", "").lower() in ("true", "1")
    target = await anyio.to_thread.run_sync(_store_upload, target, image_bytes, overwrite)
    return web.json_response({"name": target.name, "subfolder": fields.get("subfolder", ""),
                              "type": kind})


def _sniff_image(data: bytes) -> str | None:
    signatures = {b"\x89PNG\r\n\x1a\n": "png", b"\xff\xd8\xff": "jpeg", b"GIF8": "gif",
                  b"BM": "bmp", b"II*\x00": "tiff", b"MM\x00*": "tiff"}
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
