"""Anthropic nodes against the fake Messages API."""

from __future__ import annotations

import pytest
import torch

from brushwork.errors import ProviderError
from brushwork.events.types import ProviderCallRecorded
from brushwork.providers.anthropic import AnthropicChat
from brushwork.providers.testing import Fault, FaultKind, secret_key
from tests.providers.support import image_tensor


@pytest.mark.asyncio
async def test_chat_request_and_text(harness_factory):
    harness = await harness_factory("anthropic")

    (text,) = await AnthropicChat().execute(
        harness.context(), prompt="Say hi", model="claude-haiku-4-5", max_tokens=50,
        system="Be brief.", temperature=0.2,
    )

    assert harness.fake.rejections == []
    assert text == "echo: Say hi"
    (request,) = harness.fake.requests
    assert request.path == "/v1/messages"
    assert request.headers["x-api-key"] == secret_key("anthropic")
    assert request.headers["anthropic-version"] == "2023-06-01"
    assert request.json == {
        "model": "claude-haiku-4-5", "max_tokens": 50, "system": "Be brief.",
        "temperature": 0.2, "messages": [{"role": "user", "content": "Say hi"}],
    }
    (event,) = harness.events_of(ProviderCallRecorded)
    assert event.endpoint == "/v1/messages"
    assert event.model == "claude-haiku-4-5"
    assert event.outcome == "ok"


@pytest.mark.asyncio
async def test_default_temperature_not_sent(harness_factory):
    harness = await harness_factory("anthropic")

    await AnthropicChat().execute(harness.context(), prompt="Say hi")

    body = harness.fake.requests[0].json
    assert "temperature" not in body
    assert "system" not in body
    assert body["model"] == "claude-sonnet-4-5"


@pytest.mark.asyncio
async def test_images_sent_as_base64_blocks(harness_factory):
    harness = await harness_factory("anthropic")
    images = torch.cat([image_tensor(), image_tensor()])

    (text,) = await AnthropicChat().execute(harness.context(), prompt="Describe", images=images)

    assert harness.fake.rejections == []
    assert text == "echo: Describe (+2 images)"
    blocks = harness.fake.requests[0].json["messages"][0]["content"]
    assert [block["type"] for block in blocks] == ["image", "image", "text"]
    assert blocks[0]["source"]["media_type"] == "image/png"
    assert blocks[0]["source"]["type"] == "base64"


@pytest.mark.asyncio
async def test_refusal_is_an_error(harness_factory):
    harness = await harness_factory("anthropic")
    harness.fake.empty_stop_reason = "refusal"

    with pytest.raises(ProviderError) as caught:
        await AnthropicChat().execute(harness.context(), prompt="Say hi")

    assert "declined the request" in caught.value.message
    assert caught.value.may_have_charged is True


@pytest.mark.asyncio
async def test_empty_answer_is_an_error(harness_factory):
    harness = await harness_factory("anthropic")
    harness.fake.empty_stop_reason = "max_tokens"

    with pytest.raises(ProviderError, match="stop_reason max_tokens"):
        await AnthropicChat().execute(harness.context(), prompt="Say hi")


@pytest.mark.asyncio
async def test_error_type_in_message(harness_factory):
    harness = await harness_factory("anthropic")
    harness.fake.api_key = "another-key-entirely-000"

    with pytest.raises(ProviderError) as caught:
        await AnthropicChat().execute(harness.context(), prompt="Say hi")

    assert caught.value.http_status == 401
    assert "authentication_error:" in caught.value.message
    assert "secret 'anthropic'" in caught.value.message


@pytest.mark.asyncio
async def test_overloaded_submission_not_retried(harness_factory):
    harness = await harness_factory("anthropic")
    harness.fake.inject(Fault(FaultKind.SERVER_ERROR, phase="submit", status=529))

    with pytest.raises(ProviderError) as caught:
        await AnthropicChat().execute(harness.context(), prompt="Say hi")

    assert caught.value.http_status == 529
    assert "overloaded_error" in caught.value.message
    assert caught.value.may_have_charged is True
    assert len(harness.fake.requests) == 1


def test_empty_prompt_rejected():
    assert AnthropicChat.validate_inputs(prompt="  ") == "prompt is empty"
