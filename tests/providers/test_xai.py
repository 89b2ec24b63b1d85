"""xAI image and video nodes against the fake xAI server."""

from __future__ import annotations

from pathlib import Path

import pytest

from brushwork.errors import ProviderError, ValidationError
from brushwork.events.types import ProviderCallRecorded, ProviderJobAccepted
from brushwork.providers.testing import SAMPLE_MP4, Fault, FaultKind
from brushwork.providers.xai import (
    SPEC,
    XAIImageGenerate,
    XAIVideoGenerate,
    parse_video,
    xai_error_message,
)
from tests.providers.support import image_tensor


@pytest.mark.asyncio
async def test_image_request_images_and_cost(harness_factory):
    harness = await harness_factory("xai")

    (image,) = await XAIImageGenerate().execute(
        harness.context(), prompt="a red fox", model="grok-imagine-image-2.0",
        aspect_ratio="16:9", resolution="2k", quality="high", n=3,
    )

    assert harness.fake.rejections == []
    assert image.shape == (3, 12, 16, 3)
    (request,) = harness.fake.requests
    assert request.path == "/v1/images/generations"
    assert request.json == {
        "model": "grok-imagine-image-2.0", "prompt": "a red fox", "n": 3,
        "aspect_ratio": "16:9", "resolution": "2k", "response_format": "b64_json",
        "quality": "high",
    }
    (event,) = harness.events_of(ProviderCallRecorded)
    assert event.cost == 200_000_000
    assert event.cost_unit == "usd_ticks"


@pytest.mark.asyncio
async def test_quality_for_other_model_rejected_before_sending(harness_factory):
    harness = await harness_factory("xai")

    with pytest.raises(ValidationError, match=r"only with grok-imagine-image-2\.0"):
        await XAIImageGenerate().execute(harness.context(), prompt="a fox",
                                         model="grok-imagine-image", quality="low")

    assert harness.fake.requests == []


def test_both_error_shapes_read():
    chat_shape = {"error": {"message": "temperature must be <= 2", "type": "invalid"}}
    responses_shape = {"code": "Client specified an invalid argument",
                       "error": "Each message must have content."}

    assert xai_error_message(chat_shape) == "temperature must be <= 2"
    assert xai_error_message(responses_shape) == (
        "Client specified an invalid argument: Each message must have content.")
    assert SPEC.error_message is xai_error_message


def test_parse_video_states():
    assert parse_video({"status": "pending"}).state.value == "queued"
    done = parse_video({"status": "done", "video": {"url": "https://x/v.mp4"}})
    assert done.state.value == "succeeded"
    assert done.result == {"url": "https://x/v.mp4"}
    blocked = parse_video({"status": "done", "video": {"url": "u", "respect_moderation": False}})
    assert blocked.state.value == "failed"
    assert parse_video({"status": "expired"}).retryable is True
    failed = parse_video({"status": "failed", "error": {"code": "x", "message": "bad"}})
    assert failed.message == "bad"


@pytest.mark.asyncio
async def test_video_from_first_frame_saved(harness_factory):
    harness = await harness_factory("xai", fake_options={"polls_until_done": 3})
    ctx = harness.context()

    output = await XAIVideoGenerate().execute(
        ctx, prompt="the fox runs", duration=10, aspect_ratio="9:16", resolution="480p",
        image=image_tensor(),
    )

    assert harness.fake.rejections == []
    path = Path(output.values[0])
    assert path.parent == ctx.paths.output
    assert path.read_bytes() == SAMPLE_MP4
    assert output.ui == {"videos": [{"filename": path.name, "subfolder": "", "type": "output"}]}
    submit = harness.fake.requests_in("submit")[0]
    assert submit.path == "/v1/videos/generations"
    assert submit.json["image"]["url"].startswith("data:image/png;base64,")
    assert {key: submit.json[key] for key in ("model", "duration", "aspect_ratio",
                                              "resolution")} == {
        "model": "grok-imagine-video", "duration": 10, "aspect_ratio": "9:16",
        "resolution": "480p"}
    (accepted,) = harness.events_of(ProviderJobAccepted)
    assert accepted.poll_url.endswith(f"/v1/videos/{accepted.job_id}")
    assert len(harness.fake.requests_in("poll")) == 3


@pytest.mark.asyncio
async def test_video_auto_aspect_ratio_not_sent(harness_factory):
    harness = await harness_factory("xai")

    await XAIVideoGenerate().execute(harness.context(), prompt="waves")

    assert "aspect_ratio" not in harness.fake.requests_in("submit")[0].json
    assert "image" not in harness.fake.requests_in("submit")[0].json


@pytest.mark.asyncio
@pytest.mark.parametrize(("setup", "expected"), [
    ({"fail_jobs_with": "the render crashed"}, "the render crashed"),
    ({"expire_jobs": True}, "expired"),
    ({"moderate_videos": True}, "moderation blocked the video"),
])
async def test_video_failures_name_reason(harness_factory, setup, expected):
    harness = await harness_factory("xai")
    for name, value in setup.items():
        setattr(harness.fake, name, value)

    with pytest.raises(ProviderError) as caught:
        await XAIVideoGenerate().execute(harness.context(), prompt="waves")

    job_id = next(iter(harness.fake.jobs))
    assert expected in caught.value.message
    assert job_id in caught.value.message
    assert caught.value.may_have_charged is True
    assert harness.fake.requests_in("download") == []


@pytest.mark.asyncio
async def test_video_poll_server_errors_retried(harness_factory):
    harness = await harness_factory("xai")
    harness.fake.inject(Fault(FaultKind.UNAVAILABLE, phase="poll", times=2))

    output = await XAIVideoGenerate().execute(harness.context(), prompt="waves")

    assert Path(output.values[0]).is_file()
    assert harness.fake.submissions == 1
    assert len(harness.fake.requests_in("poll")) == 4


@pytest.mark.asyncio
async def test_video_never_finishing_stops_at_deadline(harness_factory):
    harness = await harness_factory("xai")
    harness.fake.inject(Fault(FaultKind.NEVER_FINISHES))

    with pytest.raises(ProviderError) as caught:
        await XAIVideoGenerate().execute(harness.context(), prompt="waves")

    job_id = next(iter(harness.fake.jobs))
    assert f"job {job_id} did not finish" in caught.value.message
    assert "last status: pending" in caught.value.message


@pytest.mark.asyncio
async def test_video_resumed_not_resubmitted(harness_factory):
    harness = await harness_factory("xai")
    await XAIVideoGenerate().execute(harness.context(), prompt="waves")

    resumed_events: list = []
    ctx = harness.context(events=resumed_events, prior_events=list(harness.events), attempt=2)
    output = await XAIVideoGenerate().execute(ctx, prompt="waves")

    assert Path(output.values[0]).is_file()
    assert harness.fake.submissions == 1
    poll = next(event for event in resumed_events if isinstance(event, ProviderCallRecorded))
    assert poll.parameters["resumed"] is True
