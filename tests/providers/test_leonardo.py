"""Leonardo.Ai image node against the fake Leonardo.Ai server."""

from __future__ import annotations

import pytest

from brushwork.errors import ProviderError, ValidationError
from brushwork.events.types import ProviderCallRecorded, ProviderJobAccepted
from brushwork.providers.leonardo import DEFAULT_MODEL_ID, LeonardoImageGenerate, parse_generation


@pytest.mark.asyncio
async def test_generation_request_images_and_cost(harness_factory):
    harness = await harness_factory("leonardo", fake_options={"polls_until_done": 3})

    (image,) = await LeonardoImageGenerate().execute(
        harness.context(), prompt="a red fox", width=768, height=512, num_images=2,
        contrast="4", negative_prompt="blurry", guidance_scale=7, alchemy=True, seed=5,
    )

    assert harness.fake.rejections == []
    assert image.shape == (2, 12, 16, 3)
    submit = harness.fake.requests_in("submit")[0]
    assert submit.path == "/api/rest/v1/generations"
    assert submit.json == {
        "prompt": "a red fox", "modelId": DEFAULT_MODEL_ID, "width": 768, "height": 512,
        "num_images": 2, "contrast": 4.0, "negative_prompt": "blurry", "guidance_scale": 7,
        "alchemy": True, "seed": 5,
    }
    assert len(harness.fake.requests_in("poll")) == 3
    assert len(harness.fake.requests_in("download")) == 2
    (accepted,) = harness.events_of(ProviderJobAccepted)
    submit_event = harness.events_of(ProviderCallRecorded)[0]
    assert submit_event.cost == 8
    assert submit_event.cost_unit == "api_credits"
    assert accepted.poll_url.endswith(f"/api/rest/v1/generations/{accepted.job_id}")


@pytest.mark.asyncio
async def test_contrast_none_is_left_out(harness_factory):
    harness = await harness_factory("leonardo")
    custom_model = "aa77f04e-3eec-4034-9c07-d0f619684628"

    await LeonardoImageGenerate().execute(harness.context(), prompt="a fox",
                                          model_id=custom_model, contrast="none")

    assert harness.fake.rejections == []
    assert "contrast" not in harness.fake.requests_in("submit")[0].json


@pytest.mark.parametrize(("inputs", "message"), [
    ({"num_images": 5, "width": 1024, "height": 768}, "1 to 4 images at 1024x768"),
    ({"num_images": 9, "width": 512, "height": 512}, "1 to 8 images"),
    ({"width": 2048}, "32 to 1536"),
    ({"model_id": "phoenix"}, "not a Leonardo.Ai model UUID"),
])
def test_limits_checked(inputs, message):
    result = LeonardoImageGenerate.validate_inputs(prompt="a fox", **inputs)

    assert message in result


def test_eight_small_images_allowed():
    assert LeonardoImageGenerate.validate_inputs(prompt="a fox", num_images=8, width=768,
                                                 height=768) is True


@pytest.mark.asyncio
async def test_too_many_images_rejected_before_sending(harness_factory):
    harness = await harness_factory("leonardo")

    with pytest.raises(ValidationError, match="1 to 4 images"):
        await LeonardoImageGenerate().execute(harness.context(), prompt="a fox",
                                              num_images=6)

    assert harness.fake.requests == []


@pytest.mark.asyncio
async def test_failed_generation_names_job(harness_factory):
    harness = await harness_factory("leonardo")
    harness.fake.fail_jobs_with = "failed"

    with pytest.raises(ProviderError) as caught:
        await LeonardoImageGenerate().execute(harness.context(), prompt="a fox")

    job_id = next(iter(harness.fake.jobs))
    assert f"job {job_id} failed" in caught.value.message
    assert caught.value.may_have_charged is True
    assert harness.fake.requests_in("download") == []


def test_parse_generation_states():
    assert parse_generation({"generations_by_pk": {"status": "PENDING"}}).state.value == "queued"
    done = parse_generation({"generations_by_pk": {
        "status": "COMPLETE", "generated_images": [{"url": "https://x/1.jpg"}]}})
    assert done.result == [{"url": "https://x/1.jpg"}]
    assert parse_generation({"generations_by_pk": {"status": "FAILED"}}).state.value == "failed"
