"""A credential sent in extra_data appears in no log line, DB byte, output file or response."""

from __future__ import annotations

import json
import uuid
import zlib
from pathlib import Path

from PIL import Image

from tests.support.server import follow_until_done

SECRET = "sk-fake-" + uuid.uuid4().hex
SECOND_SECRET = "tok-fake-" + uuid.uuid4().hex
SECRETS = (SECRET, SECOND_SECRET)

SAVE_GRAPH = {
    "1": {
        "class_type": "EmptyImage",
        "inputs": {"width": 8, "height": 8, "batch_size": 1, "color": 0x112233},
    },
    "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": "leak"}},
}
FAIL_GRAPH = {
    "1": {"class_type": "TestConstant", "inputs": {"value": 1}},
    "2": {"class_type": "TestFail", "inputs": {"value": ["1", 0], "message": "expected"}},
    "3": {"class_type": "TestOutput", "inputs": {"value": ["2", 0]}},
}


def body(graph: dict, client_id: str) -> dict:
    return {
        "prompt": graph,
        "client_id": client_id,
        "extra_data": {
            "api_key_comfy_org": SECRET,
            "auth_token_comfy_org": SECOND_SECRET,
            "extra_pnginfo": {"workflow": {"note": "kept"}},
        },
    }


def png_text(path: Path) -> str:
    """Return every text chunk of a PNG, decompressed (zTXt and iTXt may be zlib-compressed)."""
    with Image.open(path) as image:
        texts = [f"{key}={value}" for key, value in image.info.items()]
    raw = path.read_bytes()
    for marker in (b"zTXt", b"iTXt"):
        start = raw.find(marker)
        while start != -1:
            length = int.from_bytes(raw[start - 4 : start], "big")
            chunk = raw[start + 4 : start + 4 + length]
            try:
                texts.append(zlib.decompress(chunk[chunk.index(b"\x00", 0) + 2 :]).decode())
            except (zlib.error, ValueError):
                pass
            start = raw.find(marker, start + 4)
    return "\n".join(texts)


def assert_absent(text: str | bytes, where: str) -> None:
    for secret in SECRETS:
        needle = secret.encode() if isinstance(text, bytes) else secret
        assert needle not in text, f"{secret} found in {where}"


def test_credentials_never_leak(server_factory):
    server = server_factory("--log-format", "json", "--log-level", "debug")
    client_id = uuid.uuid4().hex
    ws = server.websocket(client_id)
    frames: list[str] = []

    status, saved = server.post("/prompt", body(SAVE_GRAPH, client_id))
    assert status == 200
    frames += [json.dumps(m) for m in follow_until_done(ws, saved["prompt_id"])]
    status, failed = server.post("/prompt", body(FAIL_GRAPH, client_id))
    assert status == 200
    frames += [json.dumps(m) for m in follow_until_done(ws, failed["prompt_id"])]
    status, _ = server.post("/prompt", body({"1": {"class_type": "Nope"}}, client_id))
    assert status == 400
    ws.close()
    # A registered secret is redacted wherever it turns up, even in a request id.
    server.request("GET", "/queue", headers={"X-Request-ID": SECRET})

    answers = {
        path: server.request("GET", path)[1]
        for path in (
            "/history",
            "/queue",
            f"/history/{saved['prompt_id']}",
            f"/audit/{saved['prompt_id']}",
            f"/audit/{failed['prompt_id']}",
        )
    }
    history = server.get("/history")
    assert len(history) == 2
    assert history[saved["prompt_id"]]["prompt"][3]["extra_pnginfo"] == {
        "workflow": {"note": "kept"}
    }
    server.stop()

    log = server.log_path.read_text()
    assert "prompt_queued" in log
    for path, answer in answers.items():
        assert_absent(answer, f"the answer to GET {path}")
    for frame in frames:
        assert_absent(frame, "a websocket message")
    files = [p for p in server.data_dir.rglob("*") if p.is_file()]
    assert any(p.name.startswith("brushwork.db") for p in files)
    for path in files:
        assert_absent(path.read_bytes(), str(path))
    pngs = list((server.data_dir / "output").glob("leak_*.png"))
    assert pngs
    for path in pngs:
        text = png_text(path)
        assert "kept" in text
        assert_absent(text, f"the text chunks of {path.name}")
    for line in log.splitlines():
        assert_absent(line, "a log line")
    assert "[REDACTED]" in log
