"""Luma nodes against the fake Dream Machine server."""

from __future__ import annotations

from pathlib import Path

import pytest

from brushwork.errors import ProviderError
from brushwork.events.types import ProviderCallRecorded
from brushwork.providers.luma import LumaImageGenerate, LumaVideoGenerate
from brushwork.providers.testing import SAMPLE_MP4


@pytest.mark.asyncio
async def test_video_saved_under_output(harness_factory):
    harness = await harness_factory("luma")
    ctx = harness.context()

    output = await LumaVideoGenerate().execute(
        ctx, prompt="waves at night", model="ray-flash-2", aspect_ratio="9:16",
        duration="9s", resolution="1080p", loop=True,
    )

    assert harness.fake.rejections == []
    path = Path(output.values[0])
    assert path.parent == ctx.paths.output
    assert path.suffix == ".mp4"
    assert path.read_bytes() == SAMPLE_MP4
    assert output.ui == {"videos": [{"filename": path.name, "subfolder": "",
                                     "type": "output"}]}
    assert not list(ctx.paths.output.glob(".*.part"))
    submit = harness.fake.requests_in("submit")[0]
    assert submit.path == "/dream-machine/v1/generations"
    assert submit.json == {"prompt": "waves at night", "model": "ray-flash-2",
                           "aspect_ratio": "9:16", "duration": "9s", "resolution": "1080p",
                           "loop": True}


@pytest.mark.asyncio
async def test_image_generation_decodes(harness_factory):
    harness = await harness_factory("luma")

    (image,) = await LumaImageGenerate().execute(harness.context(), prompt="a fern",
                                                 model="photon-flash-1", aspect_ratio="1:1")

    assert harness.fake.rejections == []
    assert image.shape == (1, 12, 16, 3)
    assert harness.fake.requests_in("submit")[0].path == "/dream-machine/v1/generations/image"


@pytest.mark.asyncio
async def test_failed_generation_names_reason(harness_factory):
    harness = await harness_factory("luma")
    harness.fake.fail_jobs_with = "prompt rejected by moderation"

    with pytest.raises(ProviderError) as caught:
        await LumaVideoGenerate().execute(harness.context(), prompt="x")

    message = caught.value.message
    assert "prompt rejected by moderation" in message
    assert harness.fake.jobs[next(iter(harness.fake.jobs))]["id"] in message
    assert caught.value.may_have_charged is True


@pytest.mark.asyncio
async def test_poll_audit_counts_status_requests(harness_factory):
    harness = await harness_factory("luma", fake_options={"polls_until_done": 4})

    await LumaVideoGenerate().execute(harness.context(), prompt="x")

    poll = harness.events_of(ProviderCallRecorded)[1]
    assert poll.method == "GET"
    assert poll.endpoint.startswith("/generations/")
    assert poll.attempts == 4
    assert poll.parameters["last_status"] == "completed"
    # Poll waits double from the initial interval: 1 s, 2 s and 4 s on the fake clock.
    assert sum(harness.clock.sleeps) == 7.0
