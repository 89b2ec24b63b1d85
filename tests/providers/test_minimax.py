"""MiniMax nodes against the fake video and speech API."""

from __future__ import annotations

from pathlib import Path

import pytest

from brushwork.errors import ProviderError
from brushwork.events.types import ProviderCallRecorded
from brushwork.providers.minimax import MiniMaxTextToSpeech, MiniMaxTextToVideo
from brushwork.providers.testing import SAMPLE_MP3, SAMPLE_MP4, Fault, FaultKind


@pytest.mark.asyncio
async def test_video_request_query_retrieve_download(harness_factory):
    harness = await harness_factory("minimax")

    output = await MiniMaxTextToVideo().execute(
        harness.context(), prompt="a fox runs", duration=10, resolution="1080P",
        prompt_optimizer=False,
    )

    assert harness.fake.rejections == []
    assert Path(output.values[0]).read_bytes() == SAMPLE_MP4
    assert harness.fake.requests_in("submit")[0].json == {
        "model": "MiniMax-Hailuo-02", "prompt": "a fox runs", "prompt_optimizer": False,
        "duration": 10, "resolution": "1080P",
    }
    job_id = next(iter(harness.fake.jobs))
    assert harness.fake.requests_in("poll")[0].query == {"task_id": job_id}
    (retrieve,) = harness.fake.requests_in("retrieve")
    assert retrieve.query == {"file_id": f"file-{job_id}"}
    endpoints = [(event.method, event.endpoint) for event in
                 harness.events_of(ProviderCallRecorded)]
    assert endpoints[:3] == [("POST", "/v1/video_generation"),
                             ("GET", "/v1/query/video_generation"),
                             ("GET", "/v1/files/retrieve")]


@pytest.mark.asyncio
async def test_older_models_get_no_duration(harness_factory):
    harness = await harness_factory("minimax")

    await MiniMaxTextToVideo().execute(harness.context(), prompt="a fox", model="T2V-01")

    body = harness.fake.requests_in("submit")[0].json
    assert "duration" not in body
    assert "resolution" not in body


@pytest.mark.asyncio
async def test_rate_limit_in_body_is_not_charged(harness_factory):
    harness = await harness_factory("minimax")
    harness.fake.reject_with = ("submit", 1002, "rate limit exceeded")

    with pytest.raises(ProviderError) as caught:
        await MiniMaxTextToVideo().execute(harness.context(), prompt="a fox")

    assert "status_code 1002: rate limit exceeded" in caught.value.message
    assert caught.value.retryable is True
    assert caught.value.may_have_charged is False
    assert harness.fake.jobs == {}
    (event,) = harness.events_of(ProviderCallRecorded)
    assert event.outcome == "error"


@pytest.mark.asyncio
async def test_retrieve_failure_says_charged(harness_factory):
    harness = await harness_factory("minimax")
    harness.fake.reject_with = ("retrieve", 2013, "invalid params")

    with pytest.raises(ProviderError) as caught:
        await MiniMaxTextToVideo().execute(harness.context(), prompt="a fox")

    assert caught.value.may_have_charged is True
    assert "status_code 2013" in caught.value.message


@pytest.mark.asyncio
async def test_retrieve_server_error_retried(harness_factory):
    harness = await harness_factory("minimax")
    harness.fake.inject(Fault(FaultKind.SERVER_ERROR, phase="retrieve"))

    output = await MiniMaxTextToVideo().execute(harness.context(), prompt="a fox")

    assert Path(output.values[0]).is_file()
    assert len(harness.fake.requests_in("retrieve")) == 2


@pytest.mark.asyncio
async def test_failed_task(harness_factory):
    harness = await harness_factory("minimax")
    harness.fake.fail_jobs_with = "failed"

    with pytest.raises(ProviderError, match="video task failed"):
        await MiniMaxTextToVideo().execute(harness.context(), prompt="a fox")


@pytest.mark.asyncio
async def test_speech_saved_as_mp3(harness_factory):
    harness = await harness_factory("minimax")

    output = await MiniMaxTextToSpeech().execute(
        harness.context(), text="Hello there.", voice_id="Calm_Woman", speed=1.25,
    )

    assert harness.fake.rejections == []
    path = Path(output.values[0])
    assert path.read_bytes() == SAMPLE_MP3
    assert path.suffix == ".mp3"
    assert output.ui == {"audio": [{"filename": path.name, "subfolder": "", "type": "output"}]}
    assert harness.fake.requests[0].json == {
        "model": "speech-2.8-hd", "text": "Hello there.", "stream": False,
        "voice_setting": {"voice_id": "Calm_Woman", "speed": 1.25},
        "audio_setting": {"format": "mp3"}, "output_format": "hex",
    }


@pytest.mark.asyncio
async def test_speech_sensitive_input_error(harness_factory):
    harness = await harness_factory("minimax")
    harness.fake.reject_with = ("submit", 1026, "input new_sensitive")

    with pytest.raises(ProviderError) as caught:
        await MiniMaxTextToSpeech().execute(harness.context(), text="Hello there.")

    assert "status_code 1026" in caught.value.message
    assert caught.value.may_have_charged is False
    assert caught.value.retryable is False


def test_duration_checked():
    assert "6 or 10" in MiniMaxTextToVideo.validate_inputs(prompt="x", duration=8)
    assert "fewer than 2000" in MiniMaxTextToVideo.validate_inputs(prompt="x" * 2000)
