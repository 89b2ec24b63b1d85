"""Mistral chat node against the fake Mistral server."""

from __future__ import annotations

import pytest

from brushwork.errors import ProviderError, ValidationError
from brushwork.events.types import ProviderCallRecorded
from brushwork.providers.mistral import SPEC, MistralChat


@pytest.mark.asyncio
async def test_chat_request_and_text(harness_factory):
    harness = await harness_factory("mistral")

    (text,) = await MistralChat().execute(
        harness.context(), prompt="Say hi", model="mistral-small-latest", system="Be brief.",
        max_tokens=50, temperature=0.3, top_p=0.9, seed=7, safe_prompt=True,
    )

    assert harness.fake.rejections == []
    assert text == "echo: Say hi"
    (request,) = harness.fake.requests
    assert request.path == "/v1/chat/completions"
    assert request.json == {
        "model": "mistral-small-latest",
        "messages": [{"role": "system", "content": "Be brief."},
                     {"role": "user", "content": "Say hi"}],
        "max_tokens": 50, "temperature": 0.3, "top_p": 0.9, "random_seed": 7,
        "safe_prompt": True,
    }


@pytest.mark.asyncio
async def test_defaults_send_only_model_and_messages(harness_factory):
    harness = await harness_factory("mistral")

    await MistralChat().execute(harness.context(), prompt="Say hi")

    assert harness.fake.requests[0].json == {
        "model": "mistral-large-latest", "messages": [{"role": "user", "content": "Say hi"}]}
    (event,) = harness.events_of(ProviderCallRecorded)
    assert event.model == "mistral-large-latest"
    assert event.endpoint == "/v1/chat/completions"


@pytest.mark.asyncio
async def test_empty_answer_names_finish_reason(harness_factory):
    harness = await harness_factory("mistral")
    harness.fake.empty_answer_reason = "length"

    with pytest.raises(ProviderError) as caught:
        await MistralChat().execute(harness.context(), prompt="Say hi", max_tokens=1)

    assert "finish_reason length" in caught.value.message
    assert caught.value.may_have_charged is True


@pytest.mark.asyncio
async def test_empty_prompt_rejected_before_sending(harness_factory):
    harness = await harness_factory("mistral")

    with pytest.raises(ValidationError, match="prompt is empty"):
        await MistralChat().execute(harness.context(), prompt="  ")

    assert harness.fake.requests == []


def test_validation_error_body_read():
    body = {"detail": [{"loc": ["body", "temperature"], "msg": "must be <= 1.5",
                        "type": "value_error"}]}

    assert SPEC.error_message(body) == "must be <= 1.5"
