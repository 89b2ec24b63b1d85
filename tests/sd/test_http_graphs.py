"""ComfyUI's default graph and its variants over HTTP and the websocket, on tiny models."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import urllib.parse
import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.support.server import REPO, ServerProcess, follow_until_done

pytest.importorskip("diffusers", reason="the Stable Diffusion nodes need the models extra")


@pytest.fixture(scope="module")
def sd_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    from brushwork.nodes.sd.testing import build_tiny_checkpoint, build_tiny_lora

    data_dir = tmp_path_factory.mktemp("sd") / "data"
    checkpoints = data_dir / "models" / "checkpoints"
    tiny = build_tiny_checkpoint(checkpoints, "sd1")
    build_tiny_lora(data_dir / "models" / "loras" / "tiny-lora.safetensors", tiny)
    Image.new("RGB", (64, 64), (180, 90, 30)).save(data_dir.parent / "start.png")
    server = ServerProcess(data_dir).start(timeout=60)
    try:
        yield server
    finally:
        server.stop()


def default_graph(ckpt: str = "tiny-sd1.safetensors", *, seed: int = 8566257, steps: int = 2,
                  sampler: str = "euler", scheduler: str = "normal", prefix: str = "sd",
                  size: int = 64) -> dict:
    return {
        "3": {"class_type": "KSampler", "inputs": {
            "seed": seed, "steps": steps, "cfg": 7.0, "sampler_name": sampler,
            "scheduler": scheduler, "denoise": 1.0, "model": ["4", 0],
            "positive": ["6", 0], "negative": ["7", 0], "latent_image": ["5", 0]}},
        "4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": ckpt}},
        "5": {"class_type": "EmptyLatentImage",
              "inputs": {"width": size, "height": size, "batch_size": 1}},
        "6": {"class_type": "CLIPTextEncode",
              "inputs": {"text": "a photo of a red fox", "clip": ["4", 1]}},
        "7": {"class_type": "CLIPTextEncode", "inputs": {"text": "blurry", "clip": ["4", 1]}},
        "8": {"class_type": "VAEDecode", "inputs": {"samples": ["3", 0], "vae": ["4", 2]}},
        "9": {"class_type": "SaveImage", "inputs": {"images": ["8", 0], "filename_prefix": prefix}},
    }


def run(server: ServerProcess, prompt: dict) -> tuple[str, list[dict]]:
    client_id = uuid.uuid4().hex
    ws = server.websocket(client_id)
    try:
        status, answer = server.post("/prompt", {"prompt": prompt, "client_id": client_id})
        assert status == 200, answer
        return answer["prompt_id"], follow_until_done(ws, answer["prompt_id"], timeout=120)
    finally:
        ws.close()


def output_pixels(server: ServerProcess, prompt_id: str) -> np.ndarray:
    entry = server.get(f"/history/{prompt_id}")[prompt_id]
    assert entry["status"]["status_str"] == "success", entry["status"]
    image = entry["outputs"]["9"]["images"][0]
    status, body, _ = server.request("GET", "/view?" + urllib.parse.urlencode(image))
    assert status == 200
    return np.asarray(Image.open(io.BytesIO(body)))


@pytest.mark.parametrize("ckpt", ["tiny-sd1.safetensors", "tiny-sd1-diffusers"])
def test_default_graph_txt2img(sd_server, ckpt):
    prompt_id, messages = run(sd_server, default_graph(ckpt))
    kinds = [m["type"] for m in messages]
    assert "execution_success" in kinds
    progress = [m["data"] for m in messages if m["type"] == "progress"]
    assert [p["value"] for p in progress if p["node"] == "3"][-1] == 2
    pixels = output_pixels(sd_server, prompt_id)
    assert pixels.shape == (64, 64, 3)
    assert pixels.std() > 0


def test_checkpoint_combo_lists_model_folder(sd_server):
    spec = sd_server.get("/object_info/CheckpointLoaderSimple")["CheckpointLoaderSimple"]
    choices = spec["input"]["required"]["ckpt_name"][0]
    assert "tiny-sd1.safetensors" in choices
    assert "tiny-sd1-diffusers" in choices


def test_img2img_starts_from_upload(sd_server, tmp_path):
    start = (Path(sd_server.data_dir).parent / "start.png").read_bytes()
    boundary = uuid.uuid4().hex
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"image\"; "
            f"filename=\"start.png\"\r\nContent-Type: image/png\r\n\r\n").encode() + start + (
        f"\r\n--{boundary}--\r\n").encode()
    status, raw, _ = sd_server.request(
        "POST", "/upload/image", raw=body,
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
    assert status == 200, raw
    name = json.loads(raw)["name"]
    graph = default_graph(prefix="img2img")
    graph["10"] = {"class_type": "LoadImage", "inputs": {"image": name}}
    graph["11"] = {"class_type": "VAEEncode", "inputs": {"pixels": ["10", 0], "vae": ["4", 2]}}
    graph["3"]["inputs"].update(latent_image=["11", 0], denoise=0.5)
    del graph["5"]
    prompt_id, _ = run(sd_server, graph)
    img2img = output_pixels(sd_server, prompt_id)
    txt2img = output_pixels(sd_server, run(sd_server, default_graph(prefix="t2i"))[0])
    assert img2img.shape == (64, 64, 3)
    assert not np.array_equal(img2img, txt2img)


def with_lora(strength: float) -> dict:
    graph = default_graph(prefix=f"lora{strength}")
    graph["12"] = {"class_type": "LoraLoader", "inputs": {
        "model": ["4", 0], "clip": ["4", 1], "lora_name": "tiny-lora.safetensors",
        "strength_model": strength, "strength_clip": strength}}
    graph["3"]["inputs"]["model"] = ["12", 0]
    graph["6"]["inputs"]["clip"] = ["12", 1]
    graph["7"]["inputs"]["clip"] = ["12", 1]
    return graph


def test_lora_changes_output_and_zero_strength_does_not(sd_server):
    base = output_pixels(sd_server, run(sd_server, default_graph(prefix="base"))[0])
    strong = output_pixels(sd_server, run(sd_server, with_lora(1.0))[0])
    zero = output_pixels(sd_server, run(sd_server, with_lora(0.0))[0])
    assert not np.array_equal(base, strong)
    assert np.array_equal(base, zero)


def test_every_listed_sampler_and_scheduler(sd_server):
    spec = sd_server.get("/object_info/KSampler")["KSampler"]["input"]["required"]
    samplers, schedulers = spec["sampler_name"][0], spec["scheduler"][0]
    combos = [(s, "normal") for s in samplers] + [("euler", s) for s in schedulers]
    client_id = uuid.uuid4().hex
    ws = sd_server.websocket(client_id)
    ids = {}
    for index, (sampler, scheduler) in enumerate(combos):
        prompt = default_graph(sampler=sampler, scheduler=scheduler, seed=index,
                               prefix=f"{sampler}-{scheduler}")
        status, answer = sd_server.post("/prompt", {"prompt": prompt, "client_id": client_id})
        assert status == 200, (sampler, scheduler, answer)
        ids[answer["prompt_id"]] = (sampler, scheduler)
    for prompt_id in ids:
        follow_until_done(ws, prompt_id, timeout=180)
    ws.close()
    for prompt_id, combo in ids.items():
        pixels = output_pixels(sd_server, prompt_id)
        assert np.isfinite(pixels).all(), combo
    assert len(samplers) >= 10
    assert len(schedulers) >= 4


def test_interrupt_stops_sampling(sd_server):
    client_id = uuid.uuid4().hex
    ws = sd_server.websocket(client_id)
    ws.settimeout(120)
    status, answer = sd_server.post("/prompt", {"prompt": default_graph(steps=400, prefix="int"),
                                                "client_id": client_id})
    assert status == 200
    prompt_id = answer["prompt_id"]
    interrupted = None
    while interrupted is None:
        frame = ws.recv()
        if isinstance(frame, bytes):
            continue
        message = json.loads(frame)
        data = message.get("data", {})
        if message["type"] == "progress" and data.get("node") == "3" and data["value"] >= 2:
            sd_server.post("/interrupt", {"prompt_id": prompt_id})
        elif message["type"] == "execution_interrupted":
            interrupted = data
        elif message["type"] == "execution_success":
            pytest.fail("sampling finished although it was interrupted")
    ws.close()
    assert interrupted["node_id"] == "3"
    entry = sd_server.get(f"/history/{prompt_id}")[prompt_id]
    assert entry["status"]["completed"] is False


def test_replay_re_execute_matches_sampler(sd_server):
    prompt_id, _ = run(sd_server, default_graph(prefix="replay", seed=42))
    result = subprocess.run(
        [sys.executable, "-m", "brushwork.cli", "replay", prompt_id, "--data-dir",
         str(sd_server.data_dir), "--re-execute"],
        capture_output=True, text=True, cwd=REPO, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = {line.split()[0]: line for line in result.stdout.split("re-execution")[1].splitlines()
             if line.strip()[:1].isdigit()}
    assert "match" in lines["3"]
    assert "match" in lines["8"]
