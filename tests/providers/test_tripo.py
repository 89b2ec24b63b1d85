"""Tripo nodes against the fake Tripo server."""

from __future__ import annotations

from pathlib import Path

import pytest

from brushwork.errors import ProviderError
from brushwork.providers.testing import UploadedFile
from brushwork.providers.testing.tripo import SAMPLE_GLB
from brushwork.providers.tripo import (
    FILE_3D,
    TripoImageTo3D,
    TripoTextTo3D,
    model_extension,
    parse_task,
    tripo_error_message,
)
from tests.providers.support import image_tensor


@pytest.mark.asyncio
async def test_text_to_model_request_and_file(harness_factory):
    harness = await harness_factory("tripo", fake_options={"polls_until_done": 3})
    ctx = harness.context()

    output = await TripoTextTo3D().execute(
        ctx, prompt="a red fox figurine", negative_prompt="blurry", model_version="v3.0-20250812",
        pbr=False, face_limit=5000, quad=True, seed=12, texture_seed=34,
        texture_quality="detailed",
    )

    assert harness.fake.rejections == []
    path = Path(output.values[0])
    assert path.parent == ctx.paths.output
    assert path.suffix == ".glb"
    assert path.read_bytes() == SAMPLE_GLB
    assert output.ui == {"3d": [{"filename": path.name, "subfolder": "", "type": "output"}]}
    submit = harness.fake.requests_in("submit")[0]
    assert submit.path == "/v2/openapi/task"
    assert submit.json == {
        "type": "text_to_model", "prompt": "a red fox figurine", "negative_prompt": "blurry",
        "model_version": "v3.0-20250812", "texture": True, "pbr": False,
        "texture_quality": "detailed", "geometry_quality": "standard", "quad": True,
        "auto_size": False, "face_limit": 5000, "model_seed": 12, "texture_seed": 34,
    }
    assert (50.0, 100.0) in harness.progress


def test_output_type_is_3d_file():
    assert TripoTextTo3D.outputs[0].type == FILE_3D
    assert TripoTextTo3D.category == "api node/3d/Tripo"


@pytest.mark.asyncio
async def test_image_to_model_uploads_first(harness_factory):
    harness = await harness_factory("tripo")

    await TripoImageTo3D().execute(harness.context(), image=image_tensor(),
                                   orientation="align_image")

    assert harness.fake.rejections == []
    (upload,) = harness.fake.requests_in("upload")
    assert upload.path == "/v2/openapi/upload"
    part = upload.form["file"]
    assert isinstance(part, UploadedFile)
    assert part.content_type == "image/png"
    body = harness.fake.requests_in("submit")[0].json
    assert body["type"] == "image_to_model"
    assert body["file"] == {"type": "png", "file_token": next(iter(harness.fake.uploads))}
    assert body["orientation"] == "align_image"


@pytest.mark.asyncio
async def test_error_body_read(harness_factory):
    harness = await harness_factory("tripo")
    harness.fake.api_key = "another-key-0123456789"

    with pytest.raises(ProviderError) as caught:
        await TripoTextTo3D().execute(harness.context(), prompt="x")

    assert caught.value.http_status == 401
    assert "check the request against the API reference" in caught.value.message
    assert "code 1401" in caught.value.message


@pytest.mark.asyncio
async def test_failed_task(harness_factory):
    harness = await harness_factory("tripo")
    harness.fake.fail_jobs_with = "failed"

    with pytest.raises(ProviderError) as caught:
        await TripoTextTo3D().execute(harness.context(), prompt="x")

    job_id = next(iter(harness.fake.jobs))
    assert f"Tripo job {job_id} failed: failed" in caught.value.message


def test_parse_task_states():
    assert parse_task({"data": {"status": "queued", "progress": 0}}).state.value == "queued"
    running = parse_task({"data": {"status": "running", "progress": 25}})
    assert running.state.value == "running"
    assert running.progress == 0.25
    for status in ("failed", "cancelled", "unknown", "banned", "expired"):
        assert parse_task({"data": {"status": status}}).state.value == "failed"


def test_model_extension_from_url_or_type():
    assert model_extension("https://cdn.example/a/model.GLB?sig=1") == "glb"
    assert model_extension("https://cdn.example/a/model") is None
    assert model_extension("https://cdn.example/a/model", "model/gltf-binary") == "glb"
    assert model_extension("https://cdn.example/a/model", "application/octet-stream") is None


def test_error_message_format():
    body = {"code": 2001, "message": "bad prompt", "suggestion": "shorten it"}
    assert tripo_error_message(body) == "bad prompt (shorten it), code 2001"
