"""fal nodes against the fake queue API."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest

from brushwork.engine.context import InterruptFlag
from brushwork.errors import CancelledByUserError, ProviderError
from brushwork.events.types import ProviderCallRecorded
from brushwork.providers.call import JobRef
from brushwork.providers.fal import (
    FalPikaTextToVideo,
    FalRunFile,
    FalRunImage,
    fal_error_message,
    parse_status,
    result_url,
)
from brushwork.providers.settings import PollPolicy
from brushwork.providers.testing import SAMPLE_MP4, Fault, FaultKind, secret_key


@pytest.mark.asyncio
async def test_queue_paths_and_images(harness_factory):
    harness = await harness_factory("fal")
    harness.fake.image_count = 2

    (images,) = await FalRunImage().execute(harness.context(), model="fal-ai/flux/dev",
                                            arguments='{"prompt": "a fox", "num_images": 2}')

    assert harness.fake.rejections == []
    assert images.shape == (2, 12, 16, 3)
    submit = harness.fake.requests_in("submit")[0]
    assert submit.path == "/fal-ai/flux/dev"
    assert submit.headers["authorization"] == f"Key {secret_key('fal')}"
    assert submit.json == {"prompt": "a fox", "num_images": 2}
    job_id = next(iter(harness.fake.jobs))
    # The status and result paths leave out the model's subpath.
    polls = harness.fake.requests_in("poll")
    assert polls[0].path == f"/fal-ai/flux/requests/{job_id}/status"
    (result,) = harness.fake.requests_in("result")
    assert result.path == f"/fal-ai/flux/requests/{job_id}"
    events = [(event.method, event.endpoint) for event in harness.events_of(ProviderCallRecorded)]
    assert events[:3] == [("POST", "/fal-ai/flux/dev"),
                          ("GET", f"/fal-ai/flux/requests/{job_id}/status"),
                          ("GET", f"/fal-ai/flux/requests/{job_id}")]


@pytest.mark.asyncio
async def test_data_uri_output_decoded(harness_factory):
    harness = await harness_factory("fal")
    harness.fake.output_kind = "data_uri"

    (image,) = await FalRunImage().execute(harness.context(), model="fal-ai/flux/dev",
                                           arguments="{}")

    assert image.shape == (1, 12, 16, 3)
    assert harness.fake.requests_in("download") == []


@pytest.mark.asyncio
async def test_result_fetch_retried_after_server_error(harness_factory):
    harness = await harness_factory("fal")
    harness.fake.inject(Fault(FaultKind.SERVER_ERROR, phase="result"))

    await FalRunImage().execute(harness.context(), model="fal-ai/flux/dev", arguments="{}")

    assert len(harness.fake.requests_in("result")) == 2
    assert harness.fake.submissions == 1


@pytest.mark.asyncio
async def test_file_node_saves_video(harness_factory):
    harness = await harness_factory("fal")
    harness.fake.output_kind = "video"

    output = await FalRunFile().execute(harness.context(), model="fal-ai/some-video",
                                        arguments='{"prompt": "x"}')

    path = Path(output.values[0])
    assert path.suffix == ".mp4"
    assert path.read_bytes() == SAMPLE_MP4
    assert list(output.ui) == ["videos"]


@pytest.mark.asyncio
async def test_completed_with_error_fails(harness_factory):
    harness = await harness_factory("fal")
    harness.fake.fail_jobs_with = "the model crashed"

    with pytest.raises(ProviderError) as caught:
        await FalRunImage().execute(harness.context(), model="fal-ai/flux/dev", arguments="{}")

    assert "failed: the model crashed (fake_failure)" in caught.value.message
    assert harness.fake.requests_in("result") == []


@pytest.mark.asyncio
async def test_output_without_urls(harness_factory):
    harness = await harness_factory("fal")
    harness.fake.output_kind = "none"

    with pytest.raises(ProviderError) as caught:
        await FalRunImage().execute(harness.context(), model="fal-ai/flux/dev", arguments="{}")

    assert "contains no file URL" in caught.value.message


@pytest.mark.asyncio
async def test_pika_request_and_video(harness_factory):
    harness = await harness_factory("fal")

    output = await FalPikaTextToVideo().execute(
        harness.context(), prompt="a fox", aspect_ratio="4:5", resolution="1080p",
        duration="10", negative_prompt="blur", seed=8,
    )

    assert harness.fake.rejections == []
    assert Path(output.values[0]).read_bytes() == SAMPLE_MP4
    submit = harness.fake.requests_in("submit")[0]
    assert submit.path == "/fal-ai/pika/v2.2/text-to-video"
    assert submit.json == {"prompt": "a fox", "aspect_ratio": "4:5", "resolution": "1080p",
                           "duration": 10, "negative_prompt": "blur", "seed": 8}
    job_id = next(iter(harness.fake.jobs))
    assert harness.fake.requests_in("poll")[0].path == f"/fal-ai/pika/requests/{job_id}/status"


@pytest.mark.asyncio
async def test_interrupt_cancels_request(harness_factory):
    harness = await harness_factory(
        "fal", settings={"poll": PollPolicy(initial_interval_s=1.0, deadline_s=1e9)})
    harness.fake.inject(Fault(FaultKind.NEVER_FINISHES))
    interrupt = InterruptFlag()

    async def interrupt_after_two_polls():
        while len(harness.fake.requests_in("poll")) < 2:
            await anyio.sleep(0.01)
        interrupt.set()

    with anyio.fail_after(10):
        async with anyio.create_task_group() as group:
            group.start_soon(interrupt_after_two_polls)
            with pytest.raises(CancelledByUserError):
                await FalRunImage().execute(harness.context(interrupt=interrupt),
                                            model="fal-ai/flux/dev", arguments="{}")

    job_id = next(iter(harness.fake.jobs))
    assert harness.fake.cancelled_jobs == [job_id]
    (cancel,) = harness.fake.requests_in("cancel")
    assert (cancel.method, cancel.path) == ("PUT", f"/fal-ai/flux/requests/{job_id}/cancel")


def test_inputs_checked():
    assert "fal model path" in FalRunImage.validate_inputs(model="flux", arguments="{}")
    assert "JSON object" in FalRunImage.validate_inputs(model="fal-ai/flux/dev",
                                                        arguments='"x"')
    assert FalRunFile.validate_inputs(model="fal-ai/flux/dev", arguments="") is True
    assert FalPikaTextToVideo.validate_inputs(prompt="") == "prompt is empty"


def test_result_url_from_status_url():
    job = JobRef("r1", "https://queue.fal.run/fal-ai/flux/requests/r1/status?logs=1")
    assert result_url(job) == "https://queue.fal.run/fal-ai/flux/requests/r1"
    with pytest.raises(ValueError):
        result_url(JobRef("r1", "https://queue.fal.run/other"))


def test_parse_status_states():
    assert parse_status({"status": "IN_QUEUE", "queue_position": 3}).state.value == "queued"
    assert parse_status({"status": "IN_PROGRESS"}).state.value == "running"
    assert parse_status({"status": "COMPLETED"}).state.value == "succeeded"
    failed = parse_status({"status": "COMPLETED", "error": "boom"})
    assert (failed.state.value, failed.message) == ("failed", "boom")


def test_error_message_with_type():
    assert fal_error_message({"detail": "bad input", "error_type": "validation"}) == \
        "bad input (validation)"
    assert fal_error_message({"detail": [{"msg": "field required"}]}) == "field required"
