"""Together AI image node against the fake Together AI server."""

from __future__ import annotations

import pytest
import torch

from brushwork.errors import ProviderError, ValidationError
from brushwork.events.types import ProviderCallRecorded
from brushwork.providers.testing import secret_key
from brushwork.providers.together import TogetherImageGenerate


@pytest.mark.asyncio
async def test_generation_request_and_images(harness_factory):
    harness = await harness_factory("together")

    (image,) = await TogetherImageGenerate().execute(
        harness.context(), prompt="a red fox", width=1344, height=768, steps=4, n=2,
        negative_prompt="blurry", seed=42, disable_safety_checker=True,
    )

    assert harness.fake.rejections == []
    assert image.shape == (2, 12, 16, 3)
    assert image.dtype == torch.float32
    (request,) = harness.fake.requests
    assert request.path == "/v1/images/generations"
    assert request.json == {
        "model": "black-forest-labs/FLUX.1-schnell", "prompt": "a red fox", "width": 1344,
        "height": 768, "n": 2, "response_format": "base64", "steps": 4,
        "negative_prompt": "blurry", "seed": 42, "disable_safety_checker": True,
    }


@pytest.mark.asyncio
async def test_defaults_leave_optional_fields_out(harness_factory):
    harness = await harness_factory("together")

    await TogetherImageGenerate().execute(harness.context(), prompt="a fox")

    body = harness.fake.requests[0].json
    assert set(body) == {"model", "prompt", "width", "height", "n", "response_format"}


@pytest.mark.asyncio
async def test_url_answer_is_downloaded(harness_factory):
    harness = await harness_factory("together")
    harness.fake.urls_only = True

    (image,) = await TogetherImageGenerate().execute(harness.context(), prompt="a fox")

    assert image.shape == (1, 12, 16, 3)
    assert len(harness.fake.requests_in("download")) == 1
    download = harness.events_of(ProviderCallRecorded)[1]
    assert "signature" not in download.endpoint


@pytest.mark.asyncio
@pytest.mark.parametrize(("inputs", "message"), [
    ({"n": 5}, "1 to 4 images"),
    ({"steps": 51}, "1 to 50"),
    ({"model": " "}, "model is empty"),
])
async def test_limits_checked_before_sending(harness_factory, inputs, message):
    harness = await harness_factory("together")

    with pytest.raises(ValidationError, match=message):
        await TogetherImageGenerate().execute(harness.context(), prompt="a fox", **inputs)

    assert harness.fake.requests == []


@pytest.mark.asyncio
async def test_wrong_key_names_secret(harness_factory):
    harness = await harness_factory("together")
    harness.fake.api_key = "another-key-entirely-000"

    with pytest.raises(ProviderError) as caught:
        await TogetherImageGenerate().execute(harness.context(), prompt="a fox")

    assert caught.value.http_status == 401
    assert caught.value.may_have_charged is False
    assert "secret 'together'" in caught.value.message
    assert "header Authorization" in caught.value.message
    assert secret_key("together") not in caught.value.message
