"""ByteDance Seedream and Seedance nodes against the fake BytePlus ModelArk server."""

from __future__ import annotations

from pathlib import Path

import pytest

from brushwork.errors import ProviderError
from brushwork.events.types import ProviderCallRecorded
from brushwork.providers.bytedance import (
    ByteDanceSeedanceVideo,
    ByteDanceSeedreamImage,
    parse_task,
    seedance_prompt,
)
from brushwork.providers.testing import SAMPLE_MP4, Fault, FaultKind


@pytest.mark.asyncio
async def test_seedream_request_and_image(harness_factory):
    harness = await harness_factory("bytedance")

    (image,) = await ByteDanceSeedreamImage().execute(
        harness.context(), prompt="a fern", model="seedream-3-0-t2i-250415", size="2048x2048",
        seed=9, guidance_scale=7.5,
    )

    assert harness.fake.rejections == []
    assert image.shape == (1, 12, 16, 3)
    submit = harness.fake.requests_in("submit")[0]
    assert submit.path == "/api/v3/images/generations"
    assert submit.json == {"model": "seedream-3-0-t2i-250415", "prompt": "a fern",
                           "response_format": "b64_json", "size": "2048x2048",
                           "watermark": False, "seed": 9, "guidance_scale": 7.5}


@pytest.mark.asyncio
async def test_seedream_4_gets_no_guidance_scale(harness_factory):
    harness = await harness_factory("bytedance")

    await ByteDanceSeedreamImage().execute(harness.context(), prompt="a fern")

    body = harness.fake.requests_in("submit")[0].json
    assert body["model"] == "seedream-4-0-250828"
    assert "guidance_scale" not in body
    assert "seed" not in body


@pytest.mark.asyncio
async def test_seedream_error_without_images(harness_factory):
    harness = await harness_factory("bytedance")
    harness.fake.image_error = {"code": "FakeRefusal", "message": "the prompt was refused"}

    with pytest.raises(ProviderError) as caught:
        await ByteDanceSeedreamImage().execute(harness.context(), prompt="x")

    assert "returned no images: the prompt was refused (FakeRefusal)" in caught.value.message
    assert caught.value.may_have_charged is True


@pytest.mark.asyncio
async def test_seedream_server_error_not_retried(harness_factory):
    harness = await harness_factory("bytedance")
    harness.fake.inject(Fault(FaultKind.SERVER_ERROR, phase="submit"))

    with pytest.raises(ProviderError) as caught:
        await ByteDanceSeedreamImage().execute(harness.context(), prompt="x")

    assert "internal error" in caught.value.message
    assert caught.value.may_have_charged is True
    assert len(harness.fake.requests_in("submit")) == 1
    (event,) = harness.events_of(ProviderCallRecorded)
    assert event.outcome == "error"


@pytest.mark.asyncio
async def test_seedance_prompt_flags_and_file(harness_factory):
    harness = await harness_factory("bytedance")

    output = await ByteDanceSeedanceVideo().execute(
        harness.context(), prompt="waves at night", model="seedance-1-5-pro-251215",
        resolution="1080p", ratio="9:16", duration=10, seed=3, camera_fixed=True,
    )

    assert harness.fake.rejections == []
    assert Path(output.values[0]).read_bytes() == SAMPLE_MP4
    submit = harness.fake.requests_in("submit")[0]
    assert submit.path == "/api/v3/contents/generations/tasks"
    assert submit.json == {"model": "seedance-1-5-pro-251215", "content": [{
        "type": "text",
        "text": "waves at night --resolution 1080p --ratio 9:16 --duration 10 --seed 3 "
                "--camerafixed true --watermark false"}]}
    assert harness.fake.requests_in("poll")[0].path.startswith(
        "/api/v3/contents/generations/tasks/")


@pytest.mark.asyncio
async def test_seedance_failure_names_code(harness_factory):
    harness = await harness_factory("bytedance")
    harness.fake.fail_jobs_with = "the output was flagged"

    with pytest.raises(ProviderError) as caught:
        await ByteDanceSeedanceVideo().execute(harness.context(), prompt="x")

    assert "the output was flagged (FakeJobFailure)" in caught.value.message


def test_seedance_inputs_checked():
    assert "'--name' flag" in ByteDanceSeedanceVideo.validate_inputs(prompt="a cat --ratio 1:1")
    assert ByteDanceSeedanceVideo.validate_inputs(prompt="a cat -- sitting") is True
    assert "720p" in ByteDanceSeedanceVideo.validate_inputs(prompt="x", resolution="HD")
    assert "16:9" in ByteDanceSeedanceVideo.validate_inputs(prompt="x", ratio="wide")
    assert "adaptive" in ByteDanceSeedreamImage.validate_inputs(prompt="x", size="1024")


def test_seedance_seed_left_out_when_zero():
    text = seedance_prompt("p", resolution="720p", ratio="16:9", duration=5, seed=0,
                           camera_fixed=False, watermark=True)
    assert text == "p --resolution 720p --ratio 16:9 --duration 5 --camerafixed false " \
                   "--watermark true"


def test_parse_task_states():
    assert parse_task({"status": "queued"}).state.value == "queued"
    assert parse_task({"status": "running"}).state.value == "running"
    assert parse_task({"status": "cancelled"}).state.value == "failed"
    done = parse_task({"status": "succeeded", "content": {"video_url": "https://x/v.mp4"}})
    assert done.result == {"video_url": "https://x/v.mp4"}
