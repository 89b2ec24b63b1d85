"""Runway nodes against the fake Runway server."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest

from brushwork.engine.context import InterruptFlag
from brushwork.errors import CancelledByUserError, ValidationError
from brushwork.events.types import ProviderCallRecorded
from brushwork.providers.runway import RunwayImageToVideo, RunwayTextToImage, parse_task
from brushwork.providers.settings import PollPolicy
from brushwork.providers.testing import SAMPLE_MP4, Fault, FaultKind
from tests.providers.support import image_tensor

# Polls that never reach their deadline on the fake clock, so only cancellation ends them.
ENDLESS_POLLING = {"poll": PollPolicy(initial_interval_s=1.0, deadline_s=1e9)}


@pytest.mark.asyncio
async def test_image_to_video_request_and_file(harness_factory):
    harness = await harness_factory("runway", fake_options={"polls_until_done": 4})

    output = await RunwayImageToVideo().execute(
        harness.context(), image=image_tensor(), prompt="the fox runs", model="gen4.5",
        ratio="960:960", duration=7, seed=11,
    )

    assert harness.fake.rejections == []
    assert Path(output.values[0]).read_bytes() == SAMPLE_MP4
    assert output.ui["videos"][0]["type"] == "output"
    submit = harness.fake.requests_in("submit")[0]
    assert submit.headers["x-runway-version"] == "2024-11-06"
    body = submit.json
    assert body["promptImage"].startswith("data:image/png;base64,")
    assert {key: body[key] for key in ("model", "ratio", "duration", "seed", "promptText")} == {
        "model": "gen4.5", "ratio": "960:960", "duration": 7, "seed": 11,
        "promptText": "the fox runs"}
    assert (40.0, 100.0) in harness.progress


@pytest.mark.asyncio
async def test_text_to_image_decodes(harness_factory):
    harness = await harness_factory("runway")

    (image,) = await RunwayTextToImage().execute(harness.context(), prompt="a fox",
                                                 ratio="1024:1024")

    assert harness.fake.rejections == []
    assert image.shape == (1, 12, 16, 3)


def test_duration_checked_per_model():
    assert "4, 6, 8" in RunwayImageToVideo.validate_inputs(model="veo3.1", duration=5)
    assert RunwayImageToVideo.validate_inputs(model="gen4.5", duration=3) is True
    long_prompt = "é" * 1001
    assert "UTF-16" in RunwayImageToVideo.validate_inputs(prompt=long_prompt)


def test_parse_task_states():
    assert parse_task({"status": "THROTTLED"}).state.value == "queued"
    assert parse_task({"status": "RUNNING", "progress": 0.25}).progress == 0.25
    failed = parse_task({"status": "FAILED", "failure": "bad input", "failureCode": "X.Y"})
    assert failed.message == "bad input (X.Y)"


@pytest.mark.asyncio
async def test_interrupt_cancels_task_at_provider(harness_factory):
    harness = await harness_factory("runway", settings=ENDLESS_POLLING)
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
                await RunwayImageToVideo().execute(ctx, image=image_tensor(), prompt="x")

    job_id = next(iter(harness.fake.jobs))
    assert harness.fake.cancelled_jobs == [job_id]
    outcomes = [(event.method, event.outcome) for event in
                harness.events_of(ProviderCallRecorded)]
    assert ("DELETE", "ok") in outcomes
    assert ("GET", "cancelled") in outcomes


@pytest.mark.asyncio
async def test_engine_cancellation_keeps_task_running(harness_factory):
    harness = await harness_factory("runway", settings=ENDLESS_POLLING)
    harness.fake.inject(Fault(FaultKind.NEVER_FINISHES))
    ctx = harness.context()

    with anyio.fail_after(10):
        async with anyio.create_task_group() as group:

            async def run_node():
                await RunwayImageToVideo().execute(ctx, image=image_tensor(), prompt="x")

            group.start_soon(run_node)
            while len(harness.fake.requests_in("poll")) < 2:
                await anyio.sleep(0.01)
            group.cancel_scope.cancel()

    # Without the interrupt flag this is a shutdown: the job stays for a resume.
    assert harness.fake.cancelled_jobs == []
    poll = harness.events_of(ProviderCallRecorded)[-1]
    assert poll.outcome == "cancelled"


@pytest.mark.asyncio
async def test_huge_prompt_image_rejected_before_sending(harness_factory, monkeypatch):
    harness = await harness_factory("runway")
    monkeypatch.setattr("brushwork.providers.runway.MAX_PROMPT_IMAGE_BYTES", 100)

    with pytest.raises(ValidationError, match="too large to send"):
        await RunwayImageToVideo().execute(harness.context(), image=image_tensor(64, 64),
                                           prompt="x")

    assert harness.fake.requests == []
