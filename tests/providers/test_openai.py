"""OpenAI nodes against the fake OpenAI server."""

from __future__ import annotations

import pytest
import torch

from brushwork.errors import ProviderError, ValidationError
from brushwork.events.types import ProviderCallRecorded
from brushwork.providers.openai import OpenAIChat, OpenAIImageGenerate
from brushwork.providers.testing import secret_key
from tests.providers.support import image_tensor


@pytest.mark.asyncio
async def test_image_generation_decodes_images(harness_factory):
    harness = await harness_factory("openai")

    (image,) = await OpenAIImageGenerate().execute(
        harness.context(), prompt="a red fox", model="gpt-image-1", size="1024x1024",
        quality="high", n=2,
    )

    assert harness.fake.rejections == []
    assert image.shape == (2, 12, 16, 3)
    assert image.dtype == torch.float32
    assert torch.allclose(image[0, 0, 0], torch.tensor([1.0, 128 / 255, 0.0]), atol=1e-3)
    (request,) = harness.fake.requests
    assert request.path == "/v1/images/generations"
    assert request.json == {"model": "gpt-image-1", "prompt": "a red fox", "n": 2,
                            "size": "1024x1024", "quality": "high"}


@pytest.mark.asyncio
async def test_image_generation_dalle_asks_for_base64(harness_factory):
    harness = await harness_factory("openai")

    await OpenAIImageGenerate().execute(harness.context(), prompt="a fox", model="dall-e-3",
                                        size="1792x1024")

    assert harness.fake.rejections == []
    assert harness.fake.requests[0].json["response_format"] == "b64_json"


@pytest.mark.asyncio
async def test_image_generation_records_audit_event(harness_factory):
    harness = await harness_factory("openai")

    await OpenAIImageGenerate().execute(harness.context(), prompt="a red fox")

    (event,) = harness.events_of(ProviderCallRecorded)
    assert event.provider == "openai"
    assert event.method == "POST"
    assert event.endpoint == "/images/generations"
    assert event.model == "gpt-image-1"
    assert event.status == 200
    assert event.outcome == "ok"
    assert event.attempts == 1
    assert event.parameters["prompt"] == "a red fox"


@pytest.mark.asyncio
async def test_image_size_for_other_model_rejected_before_sending(harness_factory):
    harness = await harness_factory("openai")

    with pytest.raises(ValidationError, match="only with dall-e-2"):
        await OpenAIImageGenerate().execute(harness.context(), prompt="a fox",
                                            model="gpt-image-1", size="256x256")

    assert harness.fake.requests == []


@pytest.mark.asyncio
async def test_wrong_key_gives_clear_error(harness_factory):
    harness = await harness_factory("openai")
    harness.fake.api_key = "another-key-entirely-000"

    with pytest.raises(ProviderError) as caught:
        await OpenAIImageGenerate().execute(harness.context(), prompt="a fox")

    error = caught.value
    assert error.http_status == 401
    assert error.retryable is False
    assert error.may_have_charged is False
    assert "HTTP 401" in error.message
    assert "secret 'openai'" in error.message
    assert "/images/generations" in error.message
    assert secret_key("openai") not in error.message
    (event,) = harness.events_of(ProviderCallRecorded)
    assert event.outcome == "error"
    assert event.status == 401


@pytest.mark.asyncio
async def test_scoped_secret_sends_its_own_key(harness_factory):
    harness = await harness_factory("openai")
    harness.fake.api_key = secret_key("openai") + "-team-a"

    await OpenAIImageGenerate().execute(harness.context(), prompt="a fox",
                                        secret="openai/team-a")

    assert harness.fake.rejections == []


@pytest.mark.asyncio
async def test_chat_returns_text(harness_factory):
    harness = await harness_factory("openai")

    (text,) = await OpenAIChat().execute(
        harness.context(), prompt="Say hi", model="gpt-4o", system="Be brief.",
        max_completion_tokens=50, temperature=0.2, seed=7,
    )

    assert harness.fake.rejections == []
    assert text == "echo: Say hi"
    body = harness.fake.requests[0].json
    assert body["messages"] == [{"role": "system", "content": "Be brief."},
                                {"role": "user", "content": "Say hi"}]
    assert body["max_completion_tokens"] == 50
    assert body["seed"] == 7
    assert body["temperature"] == 0.2


@pytest.mark.asyncio
async def test_chat_sends_images_as_data_uris(harness_factory):
    harness = await harness_factory("openai")
    images = torch.cat([image_tensor(), image_tensor()])

    (text,) = await OpenAIChat().execute(harness.context(), prompt="Describe", images=images)

    assert harness.fake.rejections == []
    assert text == "echo: Describe (+2 images)"
    parts = harness.fake.requests[0].json["messages"][0]["content"]
    assert parts[1]["image_url"]["url"].startswith("data:image/png;base64,")
    (event,) = harness.events_of(ProviderCallRecorded)
    assert "base64" not in str(event.parameters)
