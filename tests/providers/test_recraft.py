"""The Recraft node against the fake images/generations endpoint."""

from __future__ import annotations

import pytest

from brushwork.errors import ProviderError, ValidationError
from brushwork.events.types import ProviderCallRecorded
from brushwork.providers.recraft import RecraftGenerate


@pytest.mark.asyncio
async def test_generate_request_decode_and_credits(harness_factory):
    harness = await harness_factory("recraft")

    (image,) = await RecraftGenerate().execute(
        harness.context(), prompt="a red fox", model="recraftv2", style="digital_illustration",
        size="1365x1024", n=3, negative_prompt="text",
    )

    assert harness.fake.rejections == []
    assert image.shape == (3, 12, 16, 3)
    (request,) = harness.fake.requests
    assert request.path == "/v1/images/generations"
    assert request.json == {
        "prompt": "a red fox", "model": "recraftv2", "style": "digital_illustration",
        "size": "1365x1024", "n": 3, "response_format": "b64_json", "negative_prompt": "text",
    }
    (event,) = harness.events_of(ProviderCallRecorded)
    assert event.cost == 120
    assert event.cost_unit == "credits"


@pytest.mark.asyncio
async def test_long_prompt_rejected_before_sending(harness_factory):
    harness = await harness_factory("recraft")

    with pytest.raises(ValidationError, match="at most 1000"):
        await RecraftGenerate().execute(harness.context(), prompt="x" * 1001)

    assert harness.fake.requests == []


@pytest.mark.asyncio
async def test_error_message_from_body(harness_factory):
    harness = await harness_factory("recraft")
    harness.fake.api_key = "another-key-entirely-000"

    with pytest.raises(ProviderError) as caught:
        await RecraftGenerate().execute(harness.context(), prompt="a red fox")

    assert caught.value.http_status == 401
    assert "header Authorization" in caught.value.message
