"""Topaz Labs upscale node against the fake Topaz Labs server."""

from __future__ import annotations

import anyio
import pytest

from brushwork.engine.context import InterruptFlag
from brushwork.errors import CancelledByUserError, ProviderError
from brushwork.events.types import ProviderCallRecorded
from brushwork.providers.settings import PollPolicy
from brushwork.providers.testing import Fault, FaultKind, UploadedFile, secret_key
from brushwork.providers.topaz import TopazImageUpscale, parse_status
from tests.providers.support import image_tensor


@pytest.mark.asyncio
async def test_standard_upscale_request_and_image(harness_factory):
    harness = await harness_factory("topaz", fake_options={"polls_until_done": 3})

    (image,) = await TopazImageUpscale().execute(
        harness.context(), image=image_tensor(), model="High Fidelity V2", output_width=40,
        crop_to_fill=True,
    )

    assert harness.fake.rejections == []
    assert image.shape == (1, 24, 32, 3)
    submit = harness.fake.requests_in("submit")[0]
    assert submit.path == "/image/v1/enhance/async"
    assert submit.headers["x-api-key"] == secret_key("topaz")
    upload = submit.form["image"]
    assert isinstance(upload, UploadedFile)
    assert upload.content_type == "image/png"
    assert upload.data.startswith(b"\x89PNG")
    fields = {name: value for name, value in submit.form.items() if name != "image"}
    assert fields == {"model": "High Fidelity V2", "output_format": "png",
                      "crop_to_fill": "true", "face_enhancement": "false",
                      "output_width": "40"}
    (link,) = harness.fake.requests_in("result")
    assert link.path == f"/image/v1/download/{next(iter(harness.fake.jobs))}"
    assert (40.0, 100.0) in harness.progress
    endpoints = [(event.method, event.endpoint) for event in
                 harness.events_of(ProviderCallRecorded)]
    assert endpoints[:3] == [("POST", "/enhance/async"),
                             ("GET", endpoints[1][1]),
                             ("GET", link.path.removeprefix("/image/v1"))]


@pytest.mark.asyncio
async def test_generative_model_uses_enhance_gen(harness_factory):
    harness = await harness_factory("topaz")

    await TopazImageUpscale().execute(
        harness.context(), image=image_tensor(), model="Reimagine", prompt="sharper fur",
        creativity=6, face_enhancement=True, face_enhancement_strength=0.5,
        face_enhancement_creativity=0.25,
    )

    assert harness.fake.rejections == []
    submit = harness.fake.requests_in("submit")[0]
    assert submit.path == "/image/v1/enhance-gen/async"
    assert submit.form["creativity"] == "6"
    assert submit.form["prompt"] == "sharper fur"
    assert submit.form["face_enhancement_strength"] == "0.5"
    assert submit.form["face_enhancement_creativity"] == "0.25"


def test_output_over_512_megapixels_rejected():
    result = TopazImageUpscale.validate_inputs(output_width=32000, output_height=20000)

    assert "at most 512000000" in result


def test_parse_status_progress_in_percent():
    running = parse_status({"status": "Processing", "progress": 25})
    assert running.state.value == "running"
    assert running.progress == 0.25
    assert parse_status({"status": "Pending", "progress": 0}).state.value == "queued"
    assert parse_status({"status": "Cancelled"}).state.value == "failed"
    assert parse_status({"status": "Completed", "progress": 100}).state.value == "succeeded"


@pytest.mark.asyncio
async def test_failed_job_names_status(harness_factory):
    harness = await harness_factory("topaz")
    harness.fake.fail_jobs_with = "failed"

    with pytest.raises(ProviderError) as caught:
        await TopazImageUpscale().execute(harness.context(), image=image_tensor())

    assert "failed: status Failed" in caught.value.message
    assert harness.fake.requests_in("result") == []


@pytest.mark.asyncio
async def test_result_link_error_says_may_have_charged(harness_factory):
    harness = await harness_factory("topaz")
    harness.fake.inject(Fault(FaultKind.SERVER_ERROR, phase="result", times=5))

    with pytest.raises(ProviderError) as caught:
        await TopazImageUpscale().execute(harness.context(), image=image_tensor())

    assert caught.value.may_have_charged is True
    assert len(harness.fake.requests_in("result")) == 3


@pytest.mark.asyncio
async def test_wrong_key_shows_error_message(harness_factory):
    harness = await harness_factory("topaz")
    harness.fake.api_key = "another-key-entirely-000"

    with pytest.raises(ProviderError) as caught:
        await TopazImageUpscale().execute(harness.context(), image=image_tensor())

    assert caught.value.http_status == 401
    assert "header X-API-Key" in caught.value.message
    assert secret_key("topaz") not in caught.value.message


@pytest.mark.asyncio
async def test_interrupt_cancels_job_at_provider(harness_factory):
    endless = {"poll": PollPolicy(initial_interval_s=1.0, deadline_s=1e9)}
    harness = await harness_factory("topaz", settings=endless)
    harness.fake.inject(Fault(FaultKind.NEVER_FINISHES))
    interrupt = InterruptFlag()
    ctx = harness.context(interrupt=interrupt)

    async def interrupt_after_two_polls():
        while len(harness.fake.requests_in("poll")) < 2:
            await anyio.sleep(0.01)
        interrupt.set()

    with anyio.fail_after(10):
        async with anyio.create_task_group() as group:
            group.start_soon(interrupt_after_two_polls)
            with pytest.raises(CancelledByUserError):
                await TopazImageUpscale().execute(ctx, image=image_tensor())

    job_id = next(iter(harness.fake.jobs))
    assert harness.fake.cancelled_jobs == [job_id]
    assert harness.fake.requests_in("cancel")[0].path == f"/image/v1/cancel/{job_id}"
