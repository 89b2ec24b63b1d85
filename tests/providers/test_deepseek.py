"""DeepSeek chat node against the fake DeepSeek server."""

from __future__ import annotations

import pytest

from brushwork.errors import ProviderError
from brushwork.providers.deepseek import DeepSeekChat


@pytest.mark.asyncio
async def test_chat_request_and_text(harness_factory):
    harness = await harness_factory("deepseek")

    (text,) = await DeepSeekChat().execute(
        harness.context(), prompt="Say hi", model="deepseek-reasoner", system="Be brief.",
        max_tokens=64, temperature=0.0,
    )

    assert harness.fake.rejections == []
    assert text == "echo: Say hi"
    (request,) = harness.fake.requests
    assert request.path == "/chat/completions"
    assert request.json == {
        "model": "deepseek-reasoner",
        "messages": [{"role": "system", "content": "Be brief."},
                     {"role": "user", "content": "Say hi"}],
        "max_tokens": 64, "temperature": 0.0,
    }


@pytest.mark.asyncio
async def test_keep_alive_blank_lines_before_body(harness_factory):
    harness = await harness_factory("deepseek")
    harness.fake.keep_alive_lines = 5

    (text,) = await DeepSeekChat().execute(harness.context(), prompt="Say hi")

    assert text == "echo: Say hi"


@pytest.mark.asyncio
async def test_insufficient_balance_gives_billing_advice(harness_factory):
    harness = await harness_factory("deepseek")
    harness.fake.balance_exhausted = True

    with pytest.raises(ProviderError) as caught:
        await DeepSeekChat().execute(harness.context(), prompt="Say hi")

    error = caught.value
    assert error.http_status == 402
    assert error.retryable is False
    assert error.may_have_charged is False
    assert "Insufficient Balance" in error.message
    assert "credits or billing" in error.message
    assert len(harness.fake.requests) == 1
