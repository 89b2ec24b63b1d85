"""Hugging Face text-to-image node against the fake HF Inference server."""

from __future__ import annotations

import pytest

from brushwork.errors import ProviderError, ValidationError
from brushwork.events.types import ProviderCallRecorded
from brushwork.providers.huggingface import HuggingFaceTextToImage
from brushwork.providers.testing import Fault, FaultKind

MODEL = "black-forest-labs/FLUX.1-schnell"


@pytest.mark.asyncio
async def test_request_path_body_and_image(harness_factory):
    harness = await harness_factory("huggingface")

    (image,) = await HuggingFaceTextToImage().execute(
        harness.context(), prompt="a red fox", model=MODEL, width=512, height=768,
        num_inference_steps=4, guidance_scale=3.5, negative_prompt="blurry",
        scheduler="EulerDiscreteScheduler", seed=9,
    )

    assert harness.fake.rejections == []
    assert image.shape == (1, 12, 16, 3)
    (request,) = harness.fake.requests
    assert request.path == f"/hf-inference/models/{MODEL}"
    assert request.json == {"inputs": "a red fox", "parameters": {
        "width": 512, "height": 768, "num_inference_steps": 4, "guidance_scale": 3.5,
        "negative_prompt": "blurry", "scheduler": "EulerDiscreteScheduler", "seed": 9}}
    (event,) = harness.events_of(ProviderCallRecorded)
    assert event.endpoint == f"/models/{MODEL}"
    assert event.model == MODEL


@pytest.mark.asyncio
async def test_defaults_send_no_parameters(harness_factory):
    harness = await harness_factory("huggingface")

    await HuggingFaceTextToImage().execute(harness.context(), prompt="a fox", model=MODEL)

    assert harness.fake.requests[0].json == {"inputs": "a fox"}


@pytest.mark.asyncio
@pytest.mark.parametrize("model", ["", "flux", "../../admin/x", "owner/name?x=1", "a/b/c"])
async def test_invalid_model_id_rejected_before_sending(harness_factory, model):
    harness = await harness_factory("huggingface")

    with pytest.raises(ValidationError, match="not a Hub model id"):
        await HuggingFaceTextToImage().execute(harness.context(), prompt="a fox", model=model)

    assert harness.fake.requests == []


@pytest.mark.asyncio
async def test_unknown_model_shows_error_field(harness_factory):
    harness = await harness_factory("huggingface")

    with pytest.raises(ProviderError) as caught:
        await HuggingFaceTextToImage().execute(harness.context(), prompt="a fox",
                                               model="someone/missing-model")

    assert caught.value.http_status == 404
    assert "Model someone/missing-model does not exist" in caught.value.message


@pytest.mark.asyncio
async def test_undecodable_image_recorded_as_error(harness_factory):
    harness = await harness_factory("huggingface")
    harness.fake.inject(Fault(FaultKind.MALFORMED_JSON, phase="submit"))

    with pytest.raises(ProviderError) as caught:
        await HuggingFaceTextToImage().execute(harness.context(), prompt="a fox", model=MODEL)

    error = caught.value
    assert "not usable" in error.message
    assert "are not an image" in error.message
    assert error.retryable is True
    assert error.may_have_charged is True
    (event,) = harness.events_of(ProviderCallRecorded)
    assert event.outcome == "error"


@pytest.mark.asyncio
async def test_html_answer_rejected(harness_factory):
    harness = await harness_factory("huggingface")
    harness.fake.inject(Fault(FaultKind.TRUNCATED_BODY, phase="submit",
                              content_type="text/html"))

    with pytest.raises(ProviderError) as caught:
        await HuggingFaceTextToImage().execute(harness.context(), prompt="a fox", model=MODEL)

    assert "content type 'text/html'" in caught.value.message
    assert caught.value.retryable is False
