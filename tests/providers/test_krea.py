"""Krea image node against the fake Krea server."""

from __future__ import annotations

import anyio
import pytest
import torch

from brushwork.engine.context import InterruptFlag
from brushwork.errors import CancelledByUserError, ProviderError, ValidationError
from brushwork.events.types import ProviderCallRecorded
from brushwork.providers.krea import KreaImageGenerate, parse_job
from brushwork.providers.settings import PollPolicy
from brushwork.providers.testing import Fault, FaultKind
from tests.providers.support import image_tensor

MOODBOARD = "0b9a6f3c-3c1e-4c37-9c55-2f1f7f7d3e11"


@pytest.mark.asyncio
async def test_generation_request_and_image(harness_factory):
    harness = await harness_factory("krea", fake_options={"polls_until_done": 3})

    (image,) = await KreaImageGenerate().execute(
        harness.context(), prompt="a red fox", model="krea-2-large", aspect_ratio="16:9",
        creativity="raw", seed=77, moodboard_id=MOODBOARD, moodboard_strength=0.5,
    )

    assert harness.fake.rejections == []
    assert image.shape == (1, 12, 16, 3)
    submit = harness.fake.requests_in("submit")[0]
    assert submit.path == "/generate/image/krea/krea-2/large"
    assert submit.json == {
        "prompt": "a red fox", "aspect_ratio": "16:9", "resolution": "1K",
        "creativity": "raw", "seed": 77,
        "moodboards": [{"id": MOODBOARD, "strength": 0.5}],
    }
    statuses = [request.path for request in harness.fake.requests_in("poll")]
    assert len(statuses) == 3
    poll = harness.events_of(ProviderCallRecorded)[1]
    assert poll.parameters["last_status"] == "completed"


@pytest.mark.asyncio
async def test_style_images_uploaded_as_assets(harness_factory):
    harness = await harness_factory("krea")
    frames = torch.cat([image_tensor(), image_tensor()])

    await KreaImageGenerate().execute(harness.context(), prompt="a fox", style_image=frames,
                                      style_strength=-0.5)

    assert harness.fake.rejections == []
    uploads = harness.fake.requests_in("upload")
    assert len(uploads) == 2
    assert uploads[0].form["file"].content_type == "image/png"
    references = harness.fake.requests_in("submit")[0].json["image_style_references"]
    assert [reference["strength"] for reference in references] == [-0.5, -0.5]
    assert {reference["url"] for reference in references} == harness.fake.asset_urls


@pytest.mark.asyncio
async def test_bad_moodboard_id_rejected_before_sending(harness_factory):
    harness = await harness_factory("krea")

    with pytest.raises(ValidationError, match="not a UUID"):
        await KreaImageGenerate().execute(harness.context(), prompt="a fox",
                                          moodboard_id="my-board")

    assert harness.fake.requests == []


@pytest.mark.asyncio
async def test_failed_job_names_error(harness_factory):
    harness = await harness_factory("krea")
    harness.fake.fail_jobs_with = "content moderation"

    with pytest.raises(ProviderError) as caught:
        await KreaImageGenerate().execute(harness.context(), prompt="a fox")

    assert "content moderation" in caught.value.message
    assert next(iter(harness.fake.jobs)) in caught.value.message


def test_parse_job_states():
    for status in ("backlogged", "queued", "scheduled"):
        assert parse_job({"status": status}).state.value == "queued"
    assert parse_job({"status": "processing"}).state.value == "running"
    assert parse_job({"status": "cancelled", "result": None}).state.value == "failed"
    done = parse_job({"status": "completed", "result": {"urls": ["https://x/1.png"]}})
    assert done.result == ["https://x/1.png"]


@pytest.mark.asyncio
async def test_interrupt_cancels_job_at_provider(harness_factory):
    endless = {"poll": PollPolicy(initial_interval_s=1.0, deadline_s=1e9)}
    harness = await harness_factory("krea", settings=endless)
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
                await KreaImageGenerate().execute(ctx, prompt="a fox")

    job_id = next(iter(harness.fake.jobs))
    assert harness.fake.cancelled_jobs == [job_id]
    assert harness.fake.requests_in("cancel")[0].path == f"/jobs/{job_id}"
