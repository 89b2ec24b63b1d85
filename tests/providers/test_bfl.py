"""Black Forest Labs node against the fake FLUX server."""

from __future__ import annotations

import base64

import pytest

from brushwork.errors import ProviderError, ValidationError
from brushwork.events.types import ProviderCallRecorded, ProviderJobAccepted
from brushwork.providers.bfl import BFLFluxGenerate, parse_status
from brushwork.providers.call import JobState
from tests.providers.support import image_tensor


@pytest.mark.asyncio
async def test_flux_job_polls_and_downloads(harness_factory):
    harness = await harness_factory("bfl")

    (image,) = await BFLFluxGenerate().execute(
        harness.context(), prompt="a castle", model="flux-2-pro", width=1024, height=768,
        seed=5,
    )

    assert harness.fake.rejections == []
    assert image.shape == (1, 12, 16, 3)
    submit = harness.fake.requests_in("submit")[0]
    assert submit.path == "/v1/flux-2-pro"
    assert submit.json == {"prompt": "a castle", "prompt_upsampling": False,
                           "safety_tolerance": 2, "output_format": "png", "width": 1024,
                           "height": 768, "seed": 5}
    assert len(harness.fake.requests_in("poll")) == 2
    download = harness.fake.requests_in("download")[0]
    assert "x-key" not in download.headers


@pytest.mark.asyncio
async def test_flux_events_in_order(harness_factory):
    harness = await harness_factory("bfl")

    await BFLFluxGenerate().execute(harness.context(), prompt="a castle")

    kinds = [type(event).__name__ for event in harness.events]
    assert kinds == ["ProviderJobAccepted", "ProviderCallRecorded", "ProviderCallRecorded",
                     "ProviderCallRecorded"]
    accepted = harness.events_of(ProviderJobAccepted)[0]
    assert accepted.provider == "bfl"
    assert accepted.node_id == "7"
    assert accepted.poll_url.startswith(harness.fake.origin + "/v1/get_result?id=")
    submit, poll, download = harness.events_of(ProviderCallRecorded)
    assert submit.cost == 4.5
    assert poll.endpoint == "/v1/get_result"
    assert poll.attempts == 2
    assert poll.parameters["job_id"] == accepted.job_id
    assert download.parameters["bytes"] > 0
    assert "signature" not in download.endpoint


@pytest.mark.asyncio
async def test_flux_reports_progress(harness_factory):
    harness = await harness_factory("bfl", fake_options={"polls_until_done": 3})

    await BFLFluxGenerate().execute(harness.context(), prompt="a castle")

    assert (50.0, 100.0) in harness.progress
    assert harness.progress[-1] == (100.0, 100.0)


@pytest.mark.asyncio
async def test_kontext_sends_aspect_ratio_and_image(harness_factory):
    harness = await harness_factory("bfl")

    await BFLFluxGenerate().execute(harness.context(), prompt="edit", model="flux-kontext-pro",
                                    aspect_ratio="16:9", input_image=image_tensor())

    assert harness.fake.rejections == []
    body = harness.fake.requests_in("submit")[0].json
    assert body["aspect_ratio"] == "16:9"
    assert "width" not in body
    assert base64.b64decode(body["input_image"]).startswith(b"\x89PNG")


@pytest.mark.asyncio
async def test_moderated_job_fails_clearly(harness_factory):
    harness = await harness_factory("bfl")
    harness.fake.fail_jobs_with = "Content Moderated"

    with pytest.raises(ProviderError) as caught:
        await BFLFluxGenerate().execute(harness.context(), prompt="a castle")

    assert "Content Moderated" in caught.value.message
    assert caught.value.may_have_charged is True
    assert caught.value.retryable is False
    poll = harness.events_of(ProviderCallRecorded)[-1]
    assert poll.outcome == "error"


def test_flux2_dimensions_validated():
    result = BFLFluxGenerate.validate_inputs(prompt="x", model="flux-2-pro", width=1000,
                                             height=1024)
    assert "multiples of 16" in result
    result = BFLFluxGenerate.validate_inputs(prompt="x", model="flux-pro-1.1", width=2048,
                                             height=1024)
    assert "256 to 1440" in result
    result = BFLFluxGenerate.validate_inputs(prompt="x", model="flux-2-pro",
                                             safety_tolerance=6)
    assert "0-5" in result


def test_parse_status_values():
    assert parse_status({"status": "Pending", "progress": None}).state is JobState.QUEUED
    assert parse_status({"status": "Pending", "progress": 0.3}).state is JobState.RUNNING
    ready = parse_status({"status": "Ready", "result": {"sample": "https://x/y.png"}})
    assert ready.state is JobState.SUCCEEDED
    assert parse_status({"status": "Request Moderated"}).state is JobState.FAILED
    assert parse_status({"status": "Task not found"}).state is JobState.FAILED


@pytest.mark.asyncio
async def test_polling_url_on_foreign_host_is_refused(harness_factory):
    harness = await harness_factory("bfl")
    harness.fake.polling_origin = "https://collector.example.net"

    with pytest.raises(ProviderError, match="will not send the API key") as caught:
        await BFLFluxGenerate().execute(harness.context(), prompt="x")

    assert caught.value.may_have_charged is True
    assert harness.fake.requests_in("poll") == []


def test_input_image_model_check():
    with pytest.raises(ValidationError):
        BFLFluxGenerate.check_inputs(prompt="x", model="flux-pro-1.1", input_image=object())
