"""Replicate nodes against the fake predictions API, and the generic result helpers."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest

from brushwork.engine.context import InterruptFlag
from brushwork.errors import CancelledByUserError, ProviderError
from brushwork.events.types import ProviderCallRecorded
from brushwork.providers.replicate import (
    ReplicateRunFile,
    ReplicateRunImage,
    parse_prediction,
    problem_error_message,
    result_urls,
)
from brushwork.providers.settings import PollPolicy
from brushwork.providers.testing import SAMPLE_MP4, Fault, FaultKind

VERSION = "5c7d5dc6dd8bf75c1acaa8565735e7986bc5b66206b55cca93cb72c9bf15ccaa"


@pytest.mark.asyncio
async def test_official_model_path_and_images(harness_factory):
    harness = await harness_factory("replicate")
    harness.fake.image_count = 2

    (images,) = await ReplicateRunImage().execute(
        harness.context(), model="black-forest-labs/flux-schnell",
        input_json='{"prompt": "a fox", "num_outputs": 2}',
    )

    assert harness.fake.rejections == []
    assert images.shape == (2, 12, 16, 3)
    submit = harness.fake.requests_in("submit")[0]
    assert submit.path == "/v1/models/black-forest-labs/flux-schnell/predictions"
    assert submit.json == {"input": {"prompt": "a fox", "num_outputs": 2}}
    assert harness.fake.requests_in("poll")[0].path.startswith("/v1/predictions/")


@pytest.mark.asyncio
async def test_version_id_uses_predictions_endpoint(harness_factory):
    harness = await harness_factory("replicate")

    await ReplicateRunImage().execute(harness.context(), model=VERSION,
                                      input_json='{"prompt": "a fox"}')

    submit = harness.fake.requests_in("submit")[0]
    assert submit.path == "/v1/predictions"
    assert submit.json == {"version": VERSION, "input": {"prompt": "a fox"}}


@pytest.mark.asyncio
async def test_file_node_saves_video(harness_factory):
    harness = await harness_factory("replicate")
    harness.fake.output_kind = "video"

    output = await ReplicateRunFile().execute(harness.context(), model="owner/video-model",
                                              input_json="{}")

    path = Path(output.values[0])
    assert path.suffix == ".mp4"
    assert path.read_bytes() == SAMPLE_MP4
    assert output.ui == {"videos": [{"filename": path.name, "subfolder": "", "type": "output"}]}


@pytest.mark.asyncio
async def test_file_index_past_the_outputs(harness_factory):
    harness = await harness_factory("replicate")

    with pytest.raises(ProviderError) as caught:
        await ReplicateRunFile().execute(harness.context(), model="owner/m", index=3)

    assert "returned 1 file URLs, so there is no file at index 3" in caught.value.message


@pytest.mark.asyncio
async def test_output_without_urls(harness_factory):
    harness = await harness_factory("replicate")
    harness.fake.output_kind = "none"

    with pytest.raises(ProviderError) as caught:
        await ReplicateRunImage().execute(harness.context(), model="owner/m")

    assert "output contains no file URL: null" in caught.value.message
    assert caught.value.may_have_charged is True


@pytest.mark.asyncio
async def test_failed_prediction_names_error(harness_factory):
    harness = await harness_factory("replicate")
    harness.fake.fail_jobs_with = "CUDA out of memory"

    with pytest.raises(ProviderError) as caught:
        await ReplicateRunImage().execute(harness.context(), model="owner/m")

    assert "failed: CUDA out of memory" in caught.value.message


@pytest.mark.asyncio
async def test_problem_body_read(harness_factory):
    harness = await harness_factory("replicate")
    harness.fake.api_key = "another-token-0123456789"

    with pytest.raises(ProviderError) as caught:
        await ReplicateRunImage().execute(harness.context(), model="owner/m")

    assert "Unauthenticated: You did not pass a valid authentication token" in \
        caught.value.message
    assert caught.value.may_have_charged is False


@pytest.mark.asyncio
async def test_interrupt_cancels_prediction(harness_factory):
    harness = await harness_factory(
        "replicate", settings={"poll": PollPolicy(initial_interval_s=1.0, deadline_s=1e9)})
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
                await ReplicateRunImage().execute(ctx, model="owner/m")

    assert harness.fake.cancelled_jobs == [next(iter(harness.fake.jobs))]
    outcomes = [(event.method, event.outcome) for event in
                harness.events_of(ProviderCallRecorded)]
    assert ("POST", "ok") in outcomes


@pytest.mark.asyncio
async def test_cancel_retried_after_server_error(harness_factory):
    harness = await harness_factory(
        "replicate", settings={"poll": PollPolicy(initial_interval_s=1.0, deadline_s=1e9)})
    harness.fake.inject(Fault(FaultKind.NEVER_FINISHES))
    harness.fake.inject(Fault(FaultKind.SERVER_ERROR, phase="cancel"))
    interrupt = InterruptFlag()

    async def interrupt_after_first_poll():
        while not harness.fake.requests_in("poll"):
            await anyio.sleep(0.01)
        interrupt.set()

    with anyio.fail_after(10):
        async with anyio.create_task_group() as group:
            group.start_soon(interrupt_after_first_poll)
            with pytest.raises(CancelledByUserError):
                await ReplicateRunImage().execute(harness.context(interrupt=interrupt),
                                                  model="owner/m")

    assert len(harness.fake.requests_in("cancel")) == 2
    assert harness.fake.cancelled_jobs


def test_inputs_checked():
    assert "model is empty" in ReplicateRunImage.validate_inputs(model="")
    assert "owner/name or a version id" in ReplicateRunImage.validate_inputs(model="a/b/c")
    assert "not valid JSON" in ReplicateRunImage.validate_inputs(model="o/m", input_json="{")
    assert "JSON object" in ReplicateRunImage.validate_inputs(model="o/m", input_json="[1]")
    assert ReplicateRunFile.validate_inputs(model=VERSION, input_json="") is True


def test_result_urls_in_document_order():
    output = {"images": [{"url": "https://a/1.png"}, {"url": "data:image/png;base64,AA=="}],
              "seed": 3, "note": "see https://not-a-url-at-start", "video": "http://b/v.mp4"}
    assert result_urls(output) == ["https://a/1.png", "data:image/png;base64,AA==",
                                   "http://b/v.mp4"]
    assert result_urls(None) == []


def test_parse_prediction_states():
    assert parse_prediction({"status": "starting"}).state.value == "queued"
    assert parse_prediction({"status": "processing"}).state.value == "running"
    assert parse_prediction({"status": "canceled", "error": None}).message == "canceled"
    done = parse_prediction({"status": "succeeded", "output": "https://x/o.png"})
    assert done.result == "https://x/o.png"


def test_problem_message():
    assert problem_error_message({"detail": "Request was throttled."}) == \
        "Request was throttled."
    assert problem_error_message({"title": "Invalid", "detail": "bad input"}) == \
        "Invalid: bad input"
