"""The Ideogram node against the fake v3 generate endpoint."""

from __future__ import annotations

import pytest

from brushwork.errors import ProviderError
from brushwork.events.types import ProviderCallRecorded
from brushwork.providers.ideogram import IdeogramGenerate
from brushwork.providers.testing import secret_key


@pytest.mark.asyncio
async def test_generate_multipart_and_downloads(harness_factory):
    harness = await harness_factory("ideogram")

    (image,) = await IdeogramGenerate().execute(
        harness.context(), prompt="a red fox", aspect_ratio="16x9", rendering_speed="TURBO",
        magic_prompt="OFF", style_type="REALISTIC", negative_prompt="blur", num_images=2,
        seed=42,
    )

    assert harness.fake.rejections == []
    assert image.shape == (2, 12, 16, 3)
    submit = harness.fake.requests_in("submit")[0]
    assert submit.path == "/v1/ideogram-v3/generate"
    assert submit.content_type == "multipart/form-data"
    assert submit.headers["api-key"] == secret_key("ideogram")
    assert submit.form == {
        "prompt": "a red fox", "aspect_ratio": "16x9", "rendering_speed": "TURBO",
        "magic_prompt": "OFF", "style_type": "REALISTIC", "num_images": "2",
        "negative_prompt": "blur", "seed": "42",
    }
    downloads = harness.fake.requests_in("download")
    assert len(downloads) == 2
    # Result URLs are presigned: the key is not sent with them.
    assert "api-key" not in downloads[0].headers
    endpoints = [event.endpoint for event in harness.events_of(ProviderCallRecorded)]
    assert endpoints[0] == "/v1/ideogram-v3/generate"
    assert all("signature" not in endpoint for endpoint in endpoints)


@pytest.mark.asyncio
async def test_seed_zero_not_sent(harness_factory):
    harness = await harness_factory("ideogram")

    await IdeogramGenerate().execute(harness.context(), prompt="a red fox")

    assert "seed" not in harness.fake.requests_in("submit")[0].form
    assert "negative_prompt" not in harness.fake.requests_in("submit")[0].form


@pytest.mark.asyncio
async def test_unsafe_images_are_an_error(harness_factory):
    harness = await harness_factory("ideogram")
    harness.fake.unsafe_images = True

    with pytest.raises(ProviderError) as caught:
        await IdeogramGenerate().execute(harness.context(), prompt="a red fox")

    assert "failed the safety check" in caught.value.message
    assert caught.value.may_have_charged is True
    assert harness.fake.requests_in("download") == []
