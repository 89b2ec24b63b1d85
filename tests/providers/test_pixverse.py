"""The PixVerse node against the fake text-to-video API."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from brushwork.errors import ProviderError
from brushwork.providers.pixverse import PixVerseTextToVideo, parse_result
from brushwork.providers.testing import SAMPLE_MP4, secret_key


@pytest.mark.asyncio
async def test_text_to_video_request_and_file(harness_factory):
    harness = await harness_factory("pixverse")

    output = await PixVerseTextToVideo().execute(
        harness.context(), prompt="a fox runs", model="v4.5", aspect_ratio="9:16",
        quality="720p", duration=8, motion_mode="fast", style="anime",
        negative_prompt="rain", seed=3,
    )

    assert harness.fake.rejections == []
    assert Path(output.values[0]).read_bytes() == SAMPLE_MP4
    submit = harness.fake.requests_in("submit")[0]
    assert submit.path == "/openapi/v2/video/text/generate"
    assert submit.headers["api-key"] == secret_key("pixverse")
    assert submit.json == {
        "prompt": "a fox runs", "model": "v4.5", "aspect_ratio": "9:16", "quality": "720p",
        "duration": 8, "motion_mode": "fast", "water_mark": False, "style": "anime",
        "negative_prompt": "rain", "seed": 3,
    }
    job_id = next(iter(harness.fake.jobs))
    poll = harness.fake.requests_in("poll")[0]
    assert poll.path == f"/openapi/v2/video/result/{job_id}"
    # Each logical request carries its own trace id.
    assert uuid.UUID(submit.headers["ai-trace-id"]) != uuid.UUID(poll.headers["ai-trace-id"])


@pytest.mark.asyncio
async def test_moderation_failure(harness_factory):
    harness = await harness_factory("pixverse")
    harness.fake.final_status = 7

    with pytest.raises(ProviderError) as caught:
        await PixVerseTextToVideo().execute(harness.context(), prompt="a fox runs")

    assert "content moderation" in caught.value.message
    assert caught.value.may_have_charged is True
    assert harness.fake.requests_in("download") == []


@pytest.mark.asyncio
async def test_error_code_in_message(harness_factory):
    harness = await harness_factory("pixverse")
    harness.fake.api_key = "another-key-entirely-000"

    with pytest.raises(ProviderError) as caught:
        await PixVerseTextToVideo().execute(harness.context(), prompt="a fox runs")

    assert caught.value.http_status == 401
    assert "ErrCode 401" in caught.value.message


def test_duration_checked():
    assert "5 or 8" in PixVerseTextToVideo.validate_inputs(prompt="x", duration=6)


def test_parse_result_states():
    assert parse_result({"ErrCode": 0, "Resp": {"status": 5}}).state.value == "running"
    done = parse_result({"ErrCode": 0, "Resp": {"status": 1, "url": "https://x/v.mp4"}})
    assert done.result == "https://x/v.mp4"
    assert parse_result({"ErrCode": 500, "ErrMsg": "boom"}).message == "ErrCode 500: boom"
