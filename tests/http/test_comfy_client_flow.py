"""Drive a real `brushwork serve` the way ComfyUI's websocket example client does."""

from __future__ import annotations

import io
import json
import urllib.parse
import uuid

import numpy as np
from PIL import Image

from tests.support.server import follow_until_done

COLOR = 0x3366CC


def invert_workflow(prefix: str = "flow") -> dict:
    return {
        "1": {"class_type": "EmptyImage",
              "inputs": {"width": 16, "height": 8, "batch_size": 2, "color": COLOR}},
        "2": {"class_type": "ImageInvert", "inputs": {"image": ["1", 0]}},
        "3": {"class_type": "SaveImage", "inputs": {"images": ["2", 0], "filename_prefix": prefix}},
    }


def expected_inverted_pixel() -> np.ndarray:
    rgb = np.array([(COLOR >> 16) & 0xFF, (COLOR >> 8) & 0xFF, COLOR & 0xFF], np.float32) / 255
    return np.clip(255.0 * (1.0 - rgb), 0, 255).astype(np.uint8)


def test_websocket_client_flow(server):
    client_id = uuid.uuid4().hex
    ws = server.websocket(client_id)
    prompt_id = str(uuid.uuid4())
    status, answer = server.post("/prompt", {"prompt": invert_workflow(), "client_id": client_id,
                                            "prompt_id": prompt_id})
    assert status == 200
    assert answer["prompt_id"] == prompt_id
    assert answer["node_errors"] == {}

    messages = follow_until_done(ws, prompt_id)
    ws.close()
    kinds = [m["type"] for m in messages]
    assert "execution_start" in kinds
    assert "execution_success" in kinds
    executing = [m["data"]["node"] for m in messages if m["type"] == "executing"]
    assert executing[:3] == ["1", "2", "3"]
    assert all("position" in m for m in messages if m["type"] != "status" or "sid" not in m["data"])

    history = server.get(f"/history/{prompt_id}")[prompt_id]
    assert history["status"]["status_str"] == "success"
    images = history["outputs"]["3"]["images"]
    assert [image["filename"] for image in images] == ["flow_00001_.png", "flow_00002_.png"]

    for image in images:
        query = urllib.parse.urlencode(image)
        status, body, headers = server.request("GET", f"/view?{query}")
        assert status == 200
        assert headers["Content-Type"] == "image/png"
        pixels = np.asarray(Image.open(io.BytesIO(body)).convert("RGB"))
        assert pixels.shape == (8, 16, 3)
        assert (pixels == expected_inverted_pixel()).all()
        on_disk = (server.data_dir / "output" / image["filename"]).read_bytes()
        assert body == on_disk


def test_api_prefix_routes_answer(server):
    assert server.get("/api/system_stats")["system"]["comfyui_version"]
    info = server.get("/api/object_info/ImageInvert")
    assert info["ImageInvert"]["input"]["required"]["image"] == ["IMAGE"]
    assert server.get("/api/object_info/NoSuchNode") == {}


def test_history_survives_restart(server_factory, tmp_path):
    server = server_factory()
    ids = []
    for index in range(3):
        status, answer = server.post("/prompt", {"prompt": invert_workflow(f"restart{index}")})
        assert status == 200
        ids.append(answer["prompt_id"])
    ws = server.websocket(uuid.uuid4().hex)
    from tests.support.server import wait_for

    wait_for(lambda: len(server.get("/history")) == 3)
    ws.close()
    server.stop()

    again = server_factory(data_dir=server.data_dir)
    history = again.get("/history")
    assert list(history) == ids
    assert all(entry["status"]["completed"] for entry in history.values())


def test_queue_and_prompt_counts(server):
    status, answer = server.post("/prompt", {"prompt": {
        "1": {"class_type": "TestConstant", "inputs": {"value": 1}},
        "2": {"class_type": "TestSlowAdd", "inputs": {"a": ["1", 0], "seconds": 1.0}},
        "3": {"class_type": "TestOutput", "inputs": {"value": ["2", 0]}}}})
    assert status == 200
    second = server.post("/prompt", {"prompt": invert_workflow("later")})[1]
    from tests.support.server import wait_for

    queue = wait_for(lambda: (q := server.get("/queue"))["queue_running"] and q)
    assert queue["queue_running"][0][1] == answer["prompt_id"]
    assert [item[1] for item in queue["queue_pending"]] == [second["prompt_id"]]
    assert server.get("/prompt")["exec_info"]["queue_remaining"] == 2
    wait_for(lambda: server.get("/prompt")["exec_info"]["queue_remaining"] == 0)
    json.dumps(server.get("/history"))


def test_full_queue_answers_429(server_factory):
    server = server_factory("--max-queue-size", "1")
    slow = {"1": {"class_type": "TestConstant", "inputs": {"value": 1}},
            "2": {"class_type": "TestSlowAdd", "inputs": {"a": ["1", 0], "seconds": 2.0}},
            "3": {"class_type": "TestOutput", "inputs": {"value": ["2", 0]}}}
    assert server.post("/prompt", {"prompt": slow})[0] == 200
    status, raw, headers = server.request("POST", "/prompt", {"prompt": slow})
    assert status == 429
    assert int(headers["Retry-After"]) >= 1
    assert json.loads(raw)["error"]["type"] == "limit_exceeded"


def test_changed_input_file_reruns_load_image(server):
    from PIL import Image

    source = server.data_dir / "input" / "pixel.png"
    Image.new("RGB", (4, 4), (10, 20, 30)).save(source)
    workflow = {"1": {"class_type": "LoadImage", "inputs": {"image": "pixel.png"}},
                "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0],
                                                            "filename_prefix": "pix"}}}
    client_id = uuid.uuid4().hex
    ws = server.websocket(client_id)
    first = server.post("/prompt", {"prompt": workflow, "client_id": client_id})[1]
    follow_until_done(ws, first["prompt_id"])
    second = server.post("/prompt", {"prompt": workflow, "client_id": client_id})[1]
    messages = follow_until_done(ws, second["prompt_id"])
    cached = next(m for m in messages if m["type"] == "execution_cached")["data"]["nodes"]
    assert sorted(cached) == ["1", "2"]

    Image.new("RGB", (4, 4), (200, 20, 30)).save(source)
    third = server.post("/prompt", {"prompt": workflow, "client_id": client_id})[1]
    messages = follow_until_done(ws, third["prompt_id"])
    ws.close()
    cached = next(m for m in messages if m["type"] == "execution_cached")["data"]["nodes"]
    assert cached == []
    executing = [m["data"]["node"] for m in messages if m["type"] == "executing"]
    assert executing[:2] == ["1", "2"]
