"""Vidu nodes against the fake Vidu server."""

from __future__ import annotations

from pathlib import Path

import pytest

from brushwork.errors import ProviderError
from brushwork.providers.testing import SAMPLE_MP4, secret_key
from brushwork.providers.vidu import ViduImageToVideo, ViduTextToVideo, parse_creations
from tests.providers.support import image_tensor


@pytest.mark.asyncio
async def test_text_to_video_request_and_file(harness_factory):
    harness = await harness_factory("vidu", fake_options={"polls_until_done": 3})
    ctx = harness.context()

    output = await ViduTextToVideo().execute(
        ctx, prompt="a fox in snow", model="viduq2", duration=8, aspect_ratio="9:16",
        movement_amplitude="large", bgm=True, seed=42,
    )

    assert harness.fake.rejections == []
    path = Path(output.values[0])
    assert path.parent == ctx.paths.output
    assert path.read_bytes() == SAMPLE_MP4
    assert output.ui == {"videos": [{"filename": path.name, "subfolder": "", "type": "output"}]}
    submit = harness.fake.requests_in("submit")[0]
    assert submit.path == "/ent/v2/text2video"
    assert submit.headers["authorization"] == f"Token {secret_key('vidu')}"
    assert submit.json == {"model": "viduq2", "prompt": "a fox in snow", "duration": 8,
                           "aspect_ratio": "9:16", "movement_amplitude": "large", "bgm": True,
                           "seed": 42}
    polls = harness.fake.requests_in("poll")
    assert len(polls) == 3
    assert polls[0].path.endswith("/creations")


@pytest.mark.asyncio
async def test_image_to_video_sends_data_uri(harness_factory):
    harness = await harness_factory("vidu")

    await ViduImageToVideo().execute(harness.context(), image=image_tensor(), prompt="")

    assert harness.fake.rejections == []
    submit = harness.fake.requests_in("submit")[0]
    assert submit.path == "/ent/v2/img2video"
    assert submit.json["images"][0].startswith("data:image/png;base64,")
    assert "prompt" not in submit.json
    assert "aspect_ratio" not in submit.json


@pytest.mark.asyncio
async def test_failed_task_names_error_code(harness_factory):
    harness = await harness_factory("vidu")
    harness.fake.fail_jobs_with = "CreationPolicyViolation"

    with pytest.raises(ProviderError) as caught:
        await ViduTextToVideo().execute(harness.context(), prompt="x")

    assert "error code CreationPolicyViolation" in caught.value.message
    assert caught.value.may_have_charged is True


def test_inputs_checked_against_limits():
    assert "viduq1 takes a duration of 5" in ViduTextToVideo.validate_inputs(
        prompt="x", model="viduq1", duration=8)
    assert ViduTextToVideo.validate_inputs(prompt="x", model="viduq2", duration=8) is True
    assert "at most 2000" in ViduTextToVideo.validate_inputs(prompt="x" * 2001)
    assert ViduTextToVideo.validate_inputs(prompt=" ") == "prompt is empty"
    assert ViduImageToVideo.validate_inputs(prompt="") is True


def test_parse_creations_states():
    assert parse_creations({"state": "created"}).state.value == "queued"
    assert parse_creations({"state": "queueing"}).state.value == "queued"
    assert parse_creations({"state": "processing"}).state.value == "running"
    done = parse_creations({"state": "success", "creations": [{"url": "https://x/v.mp4"}]})
    assert done.result == [{"url": "https://x/v.mp4"}]
    assert parse_creations({"state": "failed", "err_code": ""}).message == "failed"
