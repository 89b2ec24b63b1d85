"""Rodin nodes against the fake Hyper3D server."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from brushwork.errors import ProviderError
from brushwork.events.types import ProviderCallRecorded, ProviderJobAccepted
from brushwork.providers.rodin import RodinGenerate3D, parse_status, pick_model_file
from brushwork.providers.testing import Fault, FaultKind
from brushwork.providers.testing.tripo import SAMPLE_GLB


@pytest.mark.asyncio
async def test_prompt_task_polls_by_subscription_key(harness_factory):
    harness = await harness_factory("rodin", fake_options={"polls_until_done": 3})
    ctx = harness.context()

    output = await RodinGenerate3D().execute(ctx, prompt="a red fox figurine", tier="Gen-2",
                                             quality="high", seed=77)

    assert harness.fake.rejections == []
    path = Path(output.values[0])
    assert path.suffix == ".glb"
    assert path.read_bytes() == SAMPLE_GLB
    assert output.ui == {"3d": [{"filename": path.name, "subfolder": "", "type": "output"}]}
    submit = harness.fake.requests_in("submit")[0]
    assert submit.content_type == "multipart/form-data"
    assert submit.form == {"tier": "Gen-2", "material": "PBR", "quality": "high",
                           "mesh_mode": "Raw", "geometry_file_format": "glb",
                           "prompt": "a red fox figurine", "seed": "77"}
    (job,) = harness.fake.jobs.values()
    polls = harness.fake.requests_in("poll")
    assert [poll.method for poll in polls] == ["POST"] * 3
    assert all(poll.path == "/api/v2/status" for poll in polls)
    assert all(poll.json == {"subscription_key": job["subscription_key"]} for poll in polls)
    (listing,) = harness.fake.requests_in("result")
    assert listing.json == {"task_uuid": job["id"]}
    # One sub-job finishes before the other, which reports half the progress.
    assert (50.0, 100.0) in harness.progress


@pytest.mark.asyncio
async def test_images_sent_as_repeated_parts(harness_factory):
    harness = await harness_factory("rodin")
    images = torch.rand(3, 8, 10, 3)

    await RodinGenerate3D().execute(harness.context(), images=images, condition_mode="fuse",
                                    geometry_file_format="fbx")

    assert harness.fake.rejections == []
    assert len(harness.fake.last_images) == 3
    assert all(part.content_type == "image/png" for part in harness.fake.last_images)
    form = harness.fake.requests_in("submit")[0].form
    assert "prompt" not in form
    assert form["condition_mode"] == "fuse"
    download = harness.fake.requests_in("download")[0]
    assert download.path.endswith(".fbx")


@pytest.mark.asyncio
async def test_resume_reads_subscription_key_from_event(harness_factory):
    harness = await harness_factory("rodin")
    await RodinGenerate3D().execute(harness.context(), prompt="x")
    (accepted,) = harness.events_of(ProviderJobAccepted)
    (job,) = harness.fake.jobs.values()
    assert accepted.poll_url.endswith("/status#" + job["subscription_key"])

    resumed: list = []
    ctx = harness.context(events=resumed, prior_events=list(harness.events), attempt=2)
    await RodinGenerate3D().execute(ctx, prompt="x")

    assert harness.fake.submissions == 1
    assert harness.fake.rejections == []
    poll = next(event for event in resumed if isinstance(event, ProviderCallRecorded))
    assert (poll.method, poll.endpoint) == ("POST", "/status")
    assert poll.parameters["resumed"] is True


@pytest.mark.asyncio
async def test_download_listing_retried_after_server_error(harness_factory):
    harness = await harness_factory("rodin")
    harness.fake.inject(Fault(FaultKind.SERVER_ERROR, phase="result"))

    await RodinGenerate3D().execute(harness.context(), prompt="x")

    assert len(harness.fake.requests_in("result")) == 2
    assert harness.fake.submissions == 1


@pytest.mark.asyncio
async def test_error_answer_instead_of_task(harness_factory):
    harness = await harness_factory("rodin")
    harness.fake.create_error = "NO_CREDITS"

    with pytest.raises(ProviderError) as caught:
        await RodinGenerate3D().execute(harness.context(), prompt="x")

    assert "returned an error instead of a task: NO_CREDITS" in caught.value.message
    assert harness.events_of(ProviderJobAccepted) == []
    (event,) = harness.events_of(ProviderCallRecorded)
    assert event.outcome == "error"


@pytest.mark.asyncio
async def test_failed_sub_job_fails_task(harness_factory):
    harness = await harness_factory("rodin")
    harness.fake.fail_jobs_with = "failed"

    with pytest.raises(ProviderError) as caught:
        await RodinGenerate3D().execute(harness.context(), prompt="x")

    assert "job statuses: Done, Failed" in caught.value.message
    assert harness.fake.requests_in("result") == []


def test_inputs_checked():
    assert "needs one of them" in RodinGenerate3D.validate_inputs(prompt=" ")
    assert "at most 5" in RodinGenerate3D.validate_inputs(images=torch.rand(6, 4, 4, 3))
    assert RodinGenerate3D.validate_inputs(images=torch.rand(5, 4, 4, 3)) is True


def test_parse_status_summarises_jobs():
    waiting = parse_status({"jobs": [{"uuid": "a", "status": "Waiting"}]})
    assert waiting.state.value == "queued"
    half = parse_status({"jobs": [{"uuid": "a", "status": "Done"},
                                  {"uuid": "b", "status": "Waiting"}]})
    assert (half.state.value, half.progress) == ("running", 0.5)
    assert parse_status({"jobs": [{"uuid": "a", "status": "Done"}]}).state.value == "succeeded"
    with pytest.raises(ValueError):
        parse_status({"jobs": []})


def test_pick_model_file_by_extension():
    files = [{"url": "https://x/p.webp", "name": "preview.webp"},
             {"url": "https://x/m.obj", "name": "model.obj"}]
    assert pick_model_file(files, "obj")["name"] == "model.obj"
    with pytest.raises(ValueError, match=r"no \.glb file"):
        pick_model_file(files, "glb")
