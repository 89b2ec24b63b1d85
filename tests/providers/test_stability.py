"""Stability AI node against the fake Stability server."""

from __future__ import annotations

import pytest
import torch

from brushwork.errors import ProviderError, ValidationError
from brushwork.events.types import ProviderCallRecorded
from brushwork.providers.stability import StabilityImageGenerate
from brushwork.providers.testing import UploadedFile
from tests.providers.support import image_tensor


@pytest.mark.asyncio
async def test_core_sends_multipart_and_decodes(harness_factory):
    harness = await harness_factory("stability")

    (image,) = await StabilityImageGenerate().execute(
        harness.context(), prompt="a lighthouse", endpoint="core", aspect_ratio="16:9",
        negative_prompt="fog", style_preset="cinematic", seed=99,
    )

    assert harness.fake.rejections == []
    assert image.shape == (1, 12, 16, 3)
    (request,) = harness.fake.requests
    assert request.path == "/v2beta/stable-image/generate/core"
    assert request.content_type == "multipart/form-data"
    assert request.headers["accept"] == "application/json"
    assert request.form == {
        "prompt": "a lighthouse", "output_format": "png", "seed": "99",
        "negative_prompt": "fog", "style_preset": "cinematic", "aspect_ratio": "16:9",
    }


@pytest.mark.asyncio
async def test_sd3_image_to_image_sends_file_part(harness_factory):
    harness = await harness_factory("stability")

    await StabilityImageGenerate().execute(
        harness.context(), prompt="make it blue", endpoint="sd3", sd3_model="sd3.5-medium",
        image=image_tensor(), strength=0.7,
    )

    assert harness.fake.rejections == []
    form = harness.fake.requests[0].form
    assert form["model"] == "sd3.5-medium"
    assert form["mode"] == "image-to-image"
    assert form["strength"] == "0.7"
    assert "aspect_ratio" not in form
    assert isinstance(form["image"], UploadedFile)
    assert form["image"].content_type == "image/png"
    assert form["image"].data.startswith(b"\x89PNG")
    (event,) = harness.events_of(ProviderCallRecorded)
    assert event.model == "sd3.5-medium"
    assert event.parameters["image"].startswith("<file, ")


@pytest.mark.asyncio
async def test_core_rejects_input_image(harness_factory):
    harness = await harness_factory("stability")

    with pytest.raises(ValidationError, match="core endpoint takes no input image"):
        await StabilityImageGenerate().execute(harness.context(), prompt="x", endpoint="core",
                                               image=torch.rand(1, 4, 4, 3))

    assert harness.fake.requests == []


@pytest.mark.asyncio
async def test_content_filter_is_a_charged_error(harness_factory):
    harness = await harness_factory("stability")
    harness.fake.content_filtered = True

    with pytest.raises(ProviderError) as caught:
        await StabilityImageGenerate().execute(harness.context(), prompt="something")

    assert "CONTENT_FILTERED" in caught.value.message
    assert caught.value.may_have_charged is True


@pytest.mark.asyncio
async def test_validation_error_body_in_message(harness_factory):
    harness = await harness_factory("stability")

    with pytest.raises(ProviderError) as caught:
        # The fake answers a seed over the documented maximum with its 400 error body.
        await StabilityImageGenerate().execute(harness.context(), prompt="x",
                                               seed=4294967295)

    assert caught.value.http_status == 400
    assert "seed out of range" in caught.value.message
    assert caught.value.may_have_charged is False
