"""Meshy nodes against the fake Meshy server."""

from __future__ import annotations

from pathlib import Path

import pytest

from brushwork.errors import ProviderError
from brushwork.events.types import ProviderJobAccepted
from brushwork.providers.meshy import MeshyTextTo3D, meshy_error_message, parse_task
from brushwork.providers.settings import RetryPolicy
from brushwork.providers.testing import Fault, FaultKind
from brushwork.providers.testing.tripo import SAMPLE_GLB


@pytest.mark.asyncio
async def test_preview_request_and_file(harness_factory):
    harness = await harness_factory("meshy", fake_options={"polls_until_done": 3})
    ctx = harness.context()

    output = await MeshyTextTo3D().execute(
        ctx, prompt="a red fox figurine", art_style="sculpture", topology="quad",
        target_polycount=5000, pose_mode="t-pose", seed=3, model_format="obj",
    )

    assert harness.fake.rejections == []
    path = Path(output.values[0])
    assert path.suffix == ".obj"
    assert path.read_bytes() == SAMPLE_GLB
    assert output.ui == {"3d": [{"filename": path.name, "subfolder": "", "type": "output"}]}
    submit = harness.fake.requests_in("submit")[0]
    assert submit.path == "/openapi/v2/text-to-3d"
    assert submit.json == {
        "mode": "preview", "prompt": "a red fox figurine", "art_style": "sculpture",
        "ai_model": "latest", "topology": "quad", "target_polycount": 5000,
        "should_remesh": True, "symmetry_mode": "auto", "pose_mode": "t-pose", "seed": 3,
    }
    assert harness.fake.requests_in("download")[0].path.endswith(".obj")
    assert (40.0, 100.0) in harness.progress


@pytest.mark.asyncio
async def test_refine_textures_the_preview(harness_factory):
    harness = await harness_factory("meshy")

    await MeshyTextTo3D().execute(harness.context(), prompt="a fox", pose_mode="none",
                                  refine=True, enable_pbr=True, texture_prompt="orange fur")

    assert harness.fake.rejections == []
    preview, refine = harness.fake.requests_in("submit")
    assert preview.json["pose_mode"] == ""
    preview_id = next(iter(harness.fake.jobs))
    assert refine.json == {"mode": "refine", "preview_task_id": preview_id, "enable_pbr": True,
                           "texture_prompt": "orange fur"}
    refine_id = list(harness.fake.jobs)[1]
    assert harness.fake.requests_in("download")[0].path.startswith(f"/files/{refine_id}")


@pytest.mark.asyncio
async def test_refine_run_resumes_both_tasks(harness_factory):
    harness = await harness_factory("meshy")
    inputs = {"prompt": "a fox", "refine": True}
    await MeshyTextTo3D().execute(harness.context(), **inputs)
    assert len(harness.events_of(ProviderJobAccepted)) == 2

    ctx = harness.context(events=[], prior_events=list(harness.events), attempt=2)
    await MeshyTextTo3D().execute(ctx, **inputs)

    assert harness.fake.submissions == 2
    assert len(harness.fake.requests_in("submit")) == 2


@pytest.mark.asyncio
async def test_failed_task_names_reason(harness_factory):
    harness = await harness_factory("meshy")
    harness.fake.fail_jobs_with = "the prompt was flagged"

    with pytest.raises(ProviderError) as caught:
        await MeshyTextTo3D().execute(harness.context(), prompt="x")

    assert "the prompt was flagged" in caught.value.message


@pytest.mark.asyncio
async def test_rate_limit_error_body_read(harness_factory):
    harness = await harness_factory("meshy", settings={"retry": RetryPolicy(max_attempts=1)})
    harness.fake.inject(Fault(FaultKind.RATE_LIMIT, phase="submit"))

    with pytest.raises(ProviderError) as caught:
        await MeshyTextTo3D().execute(harness.context(), prompt="x")

    assert caught.value.http_status == 429
    assert "rate_limit_exceeded: rate limit exceeded" in caught.value.message
    assert caught.value.may_have_charged is False


def test_inputs_checked():
    assert "at most 600" in MeshyTextTo3D.validate_inputs(prompt="x" * 601)
    assert "ai_model is empty" in MeshyTextTo3D.validate_inputs(prompt="x", ai_model="")


def test_parse_task_states():
    assert parse_task({"status": "PENDING", "progress": 0}).state.value == "queued"
    assert parse_task({"status": "IN_PROGRESS", "progress": 60}).progress == 0.6
    canceled = parse_task({"status": "CANCELED", "task_error": {"message": ""}})
    assert (canceled.state.value, canceled.message) == ("failed", "CANCELED")


def test_error_message_both_shapes():
    assert meshy_error_message({"message": "Invalid API key"}) == "Invalid API key"
    assert meshy_error_message({"type": "invalid_input", "code": "parameters_conflict",
                                "message": "bad"}) == "parameters_conflict: bad"
