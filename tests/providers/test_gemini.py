"""Gemini nodes against the fake generateContent endpoint."""

from __future__ import annotations

import pytest
import torch

from brushwork.errors import ProviderError
from brushwork.events.types import ProviderCallRecorded
from brushwork.providers.gemini import GeminiGenerate, GeminiImageGenerate
from brushwork.providers.testing import secret_key
from tests.providers.support import image_tensor


@pytest.mark.asyncio
async def test_image_generation_request_and_decode(harness_factory):
    harness = await harness_factory("gemini")

    (image,) = await GeminiImageGenerate().execute(
        harness.context(), prompt="a red fox", aspect_ratio="16:9", image_size="2K", seed=5,
    )

    assert harness.fake.rejections == []
    assert image.shape == (1, 12, 16, 3)
    assert image.dtype == torch.float32
    (request,) = harness.fake.requests
    assert request.path == "/v1beta/models/gemini-2.5-flash-image:generateContent"
    assert request.headers["x-goog-api-key"] == secret_key("gemini")
    assert request.json == {
        "contents": [{"role": "user", "parts": [{"text": "a red fox"}]}],
        "generationConfig": {"responseModalities": ["TEXT", "IMAGE"],
                             "imageConfig": {"aspectRatio": "16:9", "imageSize": "2K"},
                             "seed": 5},
    }
    (event,) = harness.events_of(ProviderCallRecorded)
    assert event.endpoint == "/models/gemini-2.5-flash-image:generateContent"
    assert event.model == "gemini-2.5-flash-image"


@pytest.mark.asyncio
async def test_image_generation_auto_sends_no_image_config(harness_factory):
    harness = await harness_factory("gemini")

    await GeminiImageGenerate().execute(harness.context(), prompt="a red fox",
                                        images=image_tensor())

    body = harness.fake.requests[0].json
    assert body["generationConfig"] == {"responseModalities": ["TEXT", "IMAGE"]}
    parts = body["contents"][0]["parts"]
    assert parts[1]["inlineData"]["mimeType"] == "image/png"


@pytest.mark.asyncio
async def test_text_generation(harness_factory):
    harness = await harness_factory("gemini")

    (text,) = await GeminiGenerate().execute(
        harness.context(), prompt="Say hi", system="Be brief.", max_output_tokens=64,
    )

    assert harness.fake.rejections == []
    assert text == "echo: Say hi"
    body = harness.fake.requests[0].json
    assert body["systemInstruction"] == {"parts": [{"text": "Be brief."}]}
    assert body["generationConfig"] == {"maxOutputTokens": 64}
    assert harness.fake.requests[0].path == "/v1beta/models/gemini-2.5-flash:generateContent"


@pytest.mark.asyncio
async def test_blocked_prompt_names_reason(harness_factory):
    harness = await harness_factory("gemini")
    harness.fake.block_reason = "SAFETY"

    with pytest.raises(ProviderError) as caught:
        await GeminiImageGenerate().execute(harness.context(), prompt="a red fox")

    assert "blockReason SAFETY" in caught.value.message
    assert caught.value.may_have_charged is True


@pytest.mark.asyncio
async def test_answer_without_image_is_an_error(harness_factory):
    harness = await harness_factory("gemini")
    harness.fake.text_only = True

    with pytest.raises(ProviderError) as caught:
        await GeminiImageGenerate().execute(harness.context(), prompt="a red fox")

    assert "no image (finishReason STOP)" in caught.value.message


@pytest.mark.asyncio
async def test_error_status_in_message(harness_factory):
    harness = await harness_factory("gemini")
    harness.fake.api_key = "another-key-entirely-000"

    with pytest.raises(ProviderError) as caught:
        await GeminiGenerate().execute(harness.context(), prompt="Say hi")

    assert caught.value.http_status == 401
    assert "UNAUTHENTICATED:" in caught.value.message
