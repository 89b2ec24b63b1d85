"""Alibaba Wan nodes against the fake DashScope server."""

from __future__ import annotations

from pathlib import Path

import aiohttp
import pytest

from brushwork.errors import ProviderError
from brushwork.providers.testing import SAMPLE_MP4, secret_key
from brushwork.providers.testing.wan import IMAGE_MODEL
from brushwork.providers.wan import (
    WanTextToImage,
    WanTextToVideo,
    dashscope_error_message,
    parse_task,
)


@pytest.mark.asyncio
async def test_video_request_and_file(harness_factory):
    harness = await harness_factory("wan")

    output = await WanTextToVideo().execute(
        harness.context(), prompt="a fox", size="832*480", duration=10,
        negative_prompt="blurry", prompt_extend=False, seed=5, watermark=True,
    )

    assert harness.fake.rejections == []
    assert Path(output.values[0]).read_bytes() == SAMPLE_MP4
    submit = harness.fake.requests_in("submit")[0]
    assert submit.path == "/api/v1/services/aigc/video-generation/video-synthesis"
    assert submit.headers["x-dashscope-async"] == "enable"
    assert submit.json == {
        "model": "wan2.5-t2v-preview",
        "input": {"prompt": "a fox", "negative_prompt": "blurry"},
        "parameters": {"size": "832*480", "duration": 10, "prompt_extend": False,
                       "watermark": True, "seed": 5},
    }
    poll = harness.fake.requests_in("poll")[0]
    assert poll.path.startswith("/api/v1/tasks/")
    assert "x-dashscope-async" not in poll.headers


@pytest.mark.asyncio
async def test_fake_rejects_synchronous_call(harness_factory):
    harness = await harness_factory("wan")
    url = harness.fake.base_url + "/services/aigc/video-generation/video-synthesis"

    async with aiohttp.ClientSession() as session, session.post(
        url, json={"model": "wan2.5-t2v-preview", "input": {"prompt": "x"}},
        headers={"Authorization": f"Bearer {secret_key('wan')}"},
    ) as response:
        body = await response.json()

    assert response.status == 403
    assert body["message"] == "current user api does not support synchronous calls"
    assert set(body) == {"request_id", "code", "message"}


@pytest.mark.asyncio
async def test_images_batched(harness_factory):
    harness = await harness_factory("wan")

    (images,) = await WanTextToImage().execute(harness.context(), prompt="a fern",
                                               model=IMAGE_MODEL, n=2)

    assert harness.fake.rejections == []
    assert images.shape == (2, 12, 16, 3)
    submit = harness.fake.requests_in("submit")[0]
    assert submit.path == "/api/v1/services/aigc/text2image/image-synthesis"
    assert submit.json["parameters"] == {"size": "1024*1024", "n": 2, "prompt_extend": True,
                                         "watermark": False}


@pytest.mark.asyncio
async def test_image_items_failed_names_codes(harness_factory):
    harness = await harness_factory("wan")
    harness.fake.image_item_error = "the image was blocked"

    with pytest.raises(ProviderError) as caught:
        await WanTextToImage().execute(harness.context(), prompt="x", model=IMAGE_MODEL)

    assert "returned no images (FakeItemFailure: the image was blocked)" in caught.value.message
    assert caught.value.may_have_charged is True


@pytest.mark.asyncio
async def test_failed_task_names_code_and_message(harness_factory):
    harness = await harness_factory("wan")
    harness.fake.fail_jobs_with = "the algorithm failed"

    with pytest.raises(ProviderError) as caught:
        await WanTextToVideo().execute(harness.context(), prompt="x")

    assert "FakeJobFailure: the algorithm failed" in caught.value.message


@pytest.mark.asyncio
async def test_unknown_model_error_body_read(harness_factory):
    harness = await harness_factory("wan")

    with pytest.raises(ProviderError) as caught:
        await WanTextToImage().execute(harness.context(), prompt="x", model="no-such-model")

    assert "FakeError400: Model not exist: no-such-model" in caught.value.message
    assert caught.value.may_have_charged is False


def test_inputs_checked():
    assert "5-10" in WanTextToVideo.validate_inputs(prompt="x", duration=12)
    assert "1280*720" in WanTextToVideo.validate_inputs(prompt="x", size="1280x720")
    assert "model is empty" in WanTextToImage.validate_inputs(prompt="x", model=" ")


def test_parse_task_states():
    assert parse_task({"output": {"task_status": "PENDING"}}).state.value == "queued"
    assert parse_task({"output": {"task_status": "RUNNING"}}).state.value == "running"
    unknown = parse_task({"output": {"task_status": "UNKNOWN"}})
    assert unknown.state.value == "failed"
    assert unknown.message == "the task is unknown or has expired"
    assert parse_task({"output": {"task_status": "CANCELED"}}).message == "CANCELED"


def test_error_message_reads_code():
    assert dashscope_error_message({"request_id": "r", "code": "Throttling",
                                    "message": "slow down"}) == "Throttling: slow down"
    assert dashscope_error_message("plain text") == "plain text"
