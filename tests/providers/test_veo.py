"""The Veo node against the fake Gemini API operations."""

from __future__ import annotations

from pathlib import Path

import pytest

from brushwork.errors import ProviderError, ValidationError
from brushwork.events.types import ProviderCallRecorded, ProviderJobAccepted
from brushwork.providers.testing import SAMPLE_MP4, secret_key
from brushwork.providers.veo import VeoVideoGenerate, parse_operation
from tests.providers.support import image_tensor


@pytest.mark.asyncio
async def test_video_request_poll_and_download(harness_factory):
    harness = await harness_factory("veo", fake_options={"polls_until_done": 3})

    output = await VeoVideoGenerate().execute(
        harness.context(), prompt="a fox runs", model="veo-3.0-generate-001",
        aspect_ratio="9:16", duration_seconds=6, resolution="1080p", negative_prompt="rain",
    )

    assert harness.fake.rejections == []
    path = Path(output.values[0])
    assert path.read_bytes() == SAMPLE_MP4
    assert path.suffix == ".mp4"
    assert output.ui["videos"][0]["filename"] == path.name
    submit = harness.fake.requests_in("submit")[0]
    assert submit.path == "/v1beta/models/veo-3.0-generate-001:predictLongRunning"
    assert submit.json == {
        "instances": [{"prompt": "a fox runs"}],
        "parameters": {"aspectRatio": "9:16", "durationSeconds": 6, "resolution": "1080p",
                       "negativePrompt": "rain"},
    }
    job_id = next(iter(harness.fake.jobs))
    polls = harness.fake.requests_in("poll")
    assert len(polls) == 3
    assert polls[0].path == f"/v1beta/models/veo-3.0-generate-001/operations/{job_id}"
    (download,) = harness.fake.requests_in("download")
    # The Files API download carries the key.
    assert download.headers["x-goog-api-key"] == secret_key("veo")
    (accepted,) = harness.events_of(ProviderJobAccepted)
    assert accepted.job_id == job_id


@pytest.mark.asyncio
async def test_first_frame_sent_as_base64(harness_factory):
    harness = await harness_factory("veo")

    await VeoVideoGenerate().execute(harness.context(), prompt="a fox runs",
                                     image=image_tensor())

    assert harness.fake.rejections == []
    image = harness.fake.requests_in("submit")[0].json["instances"][0]["image"]
    assert image["mimeType"] == "image/png"
    assert len(image["bytesBase64Encoded"]) > 16
    submit_event = next(event for event in harness.events_of(ProviderCallRecorded)
                        if event.method == "POST")
    assert submit_event.outcome == "ok"


@pytest.mark.asyncio
async def test_filtered_video_names_reason(harness_factory):
    harness = await harness_factory("veo")
    harness.fake.filter_reason = "The prompt contains a public figure."

    with pytest.raises(ProviderError) as caught:
        await VeoVideoGenerate().execute(harness.context(), prompt="a fox runs")

    assert "filtered by safety checks" in caught.value.message
    assert "public figure" in caught.value.message
    assert caught.value.may_have_charged is True
    assert harness.fake.requests_in("download") == []


@pytest.mark.asyncio
async def test_failed_operation_message(harness_factory):
    harness = await harness_factory("veo")
    harness.fake.fail_jobs_with = "internal model error"

    with pytest.raises(ProviderError, match="internal model error"):
        await VeoVideoGenerate().execute(harness.context(), prompt="a fox runs")


@pytest.mark.asyncio
async def test_duration_checked_before_sending(harness_factory):
    harness = await harness_factory("veo")

    with pytest.raises(ValidationError, match="4, 6 or 8"):
        await VeoVideoGenerate().execute(harness.context(), prompt="a fox", duration_seconds=5)

    assert harness.fake.requests == []


def test_parse_operation_states():
    assert parse_operation({"name": "x"}).state.value == "running"
    failed = parse_operation({"done": True, "error": {"code": 3, "message": "bad prompt"}})
    assert failed.message == "bad prompt"
    empty = parse_operation({"done": True, "response": {"generateVideoResponse": {}}})
    assert empty.state.value == "failed"
