"""The Kling node against the fake text2video API, including its JWT."""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path

import pytest

from brushwork.errors import ProviderError, ValidationError
from brushwork.events.types import ProviderCallRecorded
from brushwork.providers.kling import KlingTextToVideo, encode_jwt, parse_task
from brushwork.providers.secrets import MappingSecrets
from brushwork.providers.settings import RetryPolicy
from brushwork.providers.testing import SAMPLE_MP4, Fault, FaultKind
from brushwork.providers.testing.kling import TEST_ACCESS_KEY


def _payload(token: str) -> dict:
    part = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


@pytest.mark.asyncio
async def test_text_to_video_request_and_file(harness_factory):
    harness = await harness_factory("kling")

    output = await KlingTextToVideo().execute(
        harness.context(), prompt="a fox runs", model_name="kling-v1-6", mode="pro",
        aspect_ratio="1:1", duration="10", negative_prompt="rain", cfg_scale=0.7,
        access_key=TEST_ACCESS_KEY,
    )

    assert harness.fake.rejections == []
    assert Path(output.values[0]).read_bytes() == SAMPLE_MP4
    submit = harness.fake.requests_in("submit")[0]
    assert submit.path == "/v1/videos/text2video"
    assert submit.json == {
        "model_name": "kling-v1-6", "prompt": "a fox runs", "mode": "pro",
        "aspect_ratio": "1:1", "duration": "10", "negative_prompt": "rain", "cfg_scale": 0.7,
    }
    job_id = next(iter(harness.fake.jobs))
    assert harness.fake.requests_in("poll")[0].path == f"/v1/videos/text2video/{job_id}"
    assert "authorization" not in harness.fake.requests_in("download")[0].headers


@pytest.mark.asyncio
async def test_v2_models_get_no_cfg_scale(harness_factory):
    harness = await harness_factory("kling")

    await KlingTextToVideo().execute(harness.context(), prompt="a fox", model_name="kling-v2-6",
                                     sound=True, access_key=TEST_ACCESS_KEY)

    body = harness.fake.requests_in("submit")[0].json
    assert "cfg_scale" not in body
    assert body["sound"] == "on"


@pytest.mark.asyncio
async def test_token_signed_with_stored_pair(harness_factory):
    harness = await harness_factory("kling")
    pair = "ak-0123456789:sk-0123456789abcdef"
    harness.hub.secrets = MappingSecrets({"kling": pair})
    harness.fake.api_key = pair
    before = time.time()

    await KlingTextToVideo().execute(harness.context(), prompt="a fox")

    assert harness.fake.rejections == []
    payload = harness.fake.token_payloads[0]
    assert payload["iss"] == "ak-0123456789"
    assert payload["nbf"] <= before
    assert payload["exp"] >= before + 1800 - 1
    token = harness.fake.requests_in("submit")[0].headers["authorization"].split(" ", 1)[1]
    for event in harness.events:
        assert token not in repr(event)
        assert "sk-0123456789abcdef" not in repr(event)


def test_token_outlives_a_long_poll_deadline():
    token = encode_jwt("ak", "sk", now=1000.0, lifetime_s=3600.0)
    assert _payload(token) == {"iss": "ak", "exp": 4600, "nbf": 995}


@pytest.mark.asyncio
async def test_missing_access_key_rejected_before_sending(harness_factory):
    harness = await harness_factory("kling")

    with pytest.raises(ValidationError, match="access_key:secret_key"):
        await KlingTextToVideo().execute(harness.context(), prompt="a fox")

    assert harness.fake.requests == []


@pytest.mark.asyncio
async def test_wrong_secret_key_gives_code(harness_factory):
    harness = await harness_factory("kling")
    harness.fake.api_key = "another-secret-key-000000"

    with pytest.raises(ProviderError) as caught:
        await KlingTextToVideo().execute(harness.context(), prompt="a fox",
                                         access_key=TEST_ACCESS_KEY)

    assert caught.value.http_status == 401
    assert "code 1000" in caught.value.message
    assert caught.value.may_have_charged is False


@pytest.mark.asyncio
async def test_rate_limit_code_in_message(harness_factory):
    harness = await harness_factory("kling", settings={"retry": RetryPolicy(max_attempts=1)})
    harness.fake.inject(Fault(FaultKind.RATE_LIMIT, phase="submit"))

    with pytest.raises(ProviderError) as caught:
        await KlingTextToVideo().execute(harness.context(), prompt="a fox",
                                         access_key=TEST_ACCESS_KEY)

    assert caught.value.http_status == 429
    assert "code 1302" in caught.value.message


@pytest.mark.asyncio
async def test_failed_task_message(harness_factory):
    harness = await harness_factory("kling")
    harness.fake.fail_jobs_with = "content risk"

    with pytest.raises(ProviderError, match="content risk"):
        await KlingTextToVideo().execute(harness.context(), prompt="a fox",
                                         access_key=TEST_ACCESS_KEY)

    poll = [event for event in harness.events_of(ProviderCallRecorded) if event.method == "GET"]
    assert poll[0].parameters["last_status"] == "failed"


def test_parse_task_states():
    assert parse_task({"code": 0, "data": {"task_status": "submitted"}}).state.value == "queued"
    assert parse_task({"code": 0, "data": {"task_status": "processing"}}).state.value == "running"
    failed = parse_task({"code": 1301, "message": "content security"})
    assert failed.message == "code 1301: content security"
