"""GET /view and POST /upload/image stay inside their folders, within limits."""

from __future__ import annotations

import io
import json
import os
import urllib.parse
import uuid

import pytest
from PIL import Image


def png_bytes(size: int = 4) -> bytes:
    """A PNG of random pixels, so its size grows with ``size`` (noise does not compress)."""
    out = io.BytesIO()
    Image.frombytes("RGB", (size, size), os.urandom(size * size * 3)).save(out, format="PNG")
    return out.getvalue()


def jpeg_bytes() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (4, 4), (10, 20, 30)).save(out, format="JPEG")
    return out.getvalue()


def multipart(filename: str, data: bytes, **fields: str) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    lines = []
    for name, value in fields.items():
        lines.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'
            f"{value}\r\n".encode()
        )
    lines.append(
        f'--{boundary}\r\nContent-Disposition: form-data; name="image"; '
        f'filename="{filename}"\r\nContent-Type: application/octet-stream\r\n\r\n'.encode()
        + data
        + b"\r\n"
    )
    lines.append(f"--{boundary}--\r\n".encode())
    return b"".join(lines), f"multipart/form-data; boundary={boundary}"


def upload(server, filename: str, data: bytes, **fields: str) -> tuple[int, dict]:
    body, content_type = multipart(filename, data, **fields)
    status, raw, _ = server.request(
        "POST", "/upload/image", raw=body, headers={"Content-Type": content_type}
    )
    return status, json.loads(raw)


def view(server, **query: str) -> tuple[int, bytes, dict]:
    return server.request("GET", "/view?" + urllib.parse.urlencode(query))


@pytest.fixture
def outside(tmp_path):
    secret = tmp_path / "outside" / "secret.png"
    secret.parent.mkdir()
    secret.write_bytes(png_bytes())
    return secret


VIEW_REJECTIONS = [
    ("parent in filename", {"filename": "../brushwork.db"}, 400),
    ("parent in subfolder", {"filename": "brushwork.db", "subfolder": "../"}, 403),
    ("deep parent subfolder", {"filename": "passwd", "subfolder": "../../../../etc"}, 403),
    ("absolute subfolder", {"filename": "passwd", "subfolder": "/etc"}, 403),
    ("absolute filename", {"filename": "/etc/passwd"}, 400),
    ("nul byte", {"filename": "a.png\x00.txt"}, 400),
    ("backslash", {"filename": "..\\brushwork.db"}, 400),
    ("backslash subfolder", {"filename": "a.png", "subfolder": "..\\.."}, 400),
    ("newline", {"filename": "a\n.png"}, 400),
    ("unknown type", {"filename": "a.png", "type": "models"}, 400),
    ("empty filename", {"filename": ""}, 400),
]


@pytest.mark.parametrize(
    ("query", "status"),
    [case[1:] for case in VIEW_REJECTIONS],
    ids=[case[0] for case in VIEW_REJECTIONS],
)
def test_view_rejects_path(shared_server, query, status):
    answer_status, raw, _ = view(shared_server, **query)
    assert answer_status == status
    assert json.loads(raw)["error"]["type"] in ("invalid_path", "invalid_request")


def test_view_rejects_symlink_out(server, outside):
    os.symlink(outside, server.data_dir / "output" / "link.png")
    status, _, _ = view(server, filename="link.png")
    assert status == 403


def test_view_rejects_symlinked_folder(server, outside):
    os.symlink(outside.parent, server.data_dir / "output" / "elsewhere")
    status, _, _ = view(server, filename="secret.png", subfolder="elsewhere")
    assert status == 403


def test_view_serves_file_inside(server):
    image = png_bytes()
    (server.data_dir / "output" / "sub").mkdir()
    (server.data_dir / "output" / "sub" / "ok.png").write_bytes(image)
    status, body, headers = view(server, filename="ok.png", subfolder="sub")
    assert status == 200
    assert body == image
    assert headers["Content-Type"] == "image/png"


def test_view_html_served_as_download(server):
    (server.data_dir / "output" / "page.html").write_text("<script>alert(1)</script>")
    status, _, headers = view(server, filename="page.html")
    assert status == 200
    assert headers["Content-Type"] == "application/octet-stream"
    assert headers["X-Content-Type-Options"] == "nosniff"


def test_view_preview_of_non_image_answers_415(server):
    (server.data_dir / "output" / "notes.png").write_text("not an image")
    status, raw, _ = view(server, filename="notes.png", preview="webp;80")
    assert status == 415
    assert json.loads(raw)["error"]["type"] == "unsupported_media_type"


def test_upload_strips_directories_from_name(server):
    image = png_bytes()
    status, answer = upload(server, "../../escape.png", image)
    assert status == 200
    assert answer["name"] == "escape.png"
    assert (server.data_dir / "input" / "escape.png").read_bytes() == image
    assert not (server.data_dir.parent / "escape.png").exists()


@pytest.mark.parametrize(
    ("subfolder", "status"), [("../outside", 403), ("/tmp", 403), ("a\\b", 400), ("a\x00b", 400)]
)
def test_upload_rejects_subfolder(shared_server, subfolder, status):
    answer_status, answer = upload(shared_server, "a.png", png_bytes(), subfolder=subfolder)
    assert answer_status == status
    assert answer["error"]["type"] == "invalid_path"


def test_upload_rejects_symlinked_subfolder(server, outside):
    os.symlink(outside.parent, server.data_dir / "input" / "linked")
    status, _ = upload(server, "b.png", png_bytes(), subfolder="linked")
    assert status == 403
    assert not (outside.parent / "b.png").exists()


def test_upload_rejects_non_image(shared_server):
    status, answer = upload(shared_server, "script.png", b"#!/bin/sh\necho hi\n")
    assert status == 415
    assert answer["error"]["type"] == "unsupported_media_type"


def test_upload_rejects_disallowed_type(server_factory):
    server = server_factory("--upload-types", "png")
    status, answer = upload(server, "photo.jpg", jpeg_bytes())
    assert status == 415
    assert answer["error"]["details"]["accepted"] == ["png"]


def test_upload_over_limit_answers_413(server_factory):
    server = server_factory("--max-upload-bytes", "2000")
    status, answer = upload(server, "big.png", png_bytes(256))
    assert status == 413
    assert answer["error"]["details"]["limit_bytes"] == 2000


def test_upload_without_multipart_answers_400(shared_server):
    status, answer = shared_server.post("/upload/image", {"image": "x"})
    assert status == 400
    assert "multipart" in answer["error"]["message"]


def test_upload_part_over_limit_answers_413(server_factory):
    # Under the declared-size allowance for form framing, so the part reader stops it.
    server = server_factory("--max-upload-bytes", "2000")
    image = png_bytes(32)
    assert 2000 < len(image) < 20_000
    status, answer = upload(server, "medium.png", image)
    assert status == 413
    assert answer["error"]["details"]["limit_bytes"] == 2000
    assert not (server.data_dir / "input" / "medium.png").exists()


def test_upload_file_in_wrong_field_answers_400(shared_server):
    body, content_type = multipart("x.png", png_bytes())
    body = body.replace(b'name="image"', b'name="notimage"')
    status, raw, _ = shared_server.request(
        "POST", "/upload/image", raw=body, headers={"Content-Type": content_type}
    )
    assert status == 400
    assert "'image' field" in json.loads(raw)["error"]["message"]
