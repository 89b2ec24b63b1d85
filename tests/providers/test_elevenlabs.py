"""ElevenLabs nodes against the fake ElevenLabs server."""

from __future__ import annotations

from pathlib import Path

import pytest

from brushwork.errors import ProviderError
from brushwork.events.types import ProviderCallRecorded
from brushwork.providers.elevenlabs import ElevenLabsSoundEffects, ElevenLabsTextToSpeech
from brushwork.providers.testing import SAMPLE_MP3


@pytest.mark.asyncio
async def test_speech_saved_as_mp3(harness_factory):
    harness = await harness_factory("elevenlabs")
    ctx = harness.context()

    output = await ElevenLabsTextToSpeech().execute(
        ctx, text="Hello there.", voice_id="abc123", model_id="eleven_flash_v2_5",
        output_format="mp3_22050_32", seed=3,
    )

    assert harness.fake.rejections == []
    path = Path(output.values[0])
    assert path.read_bytes() == SAMPLE_MP3
    assert path.suffix == ".mp3"
    assert output.ui == {"audio": [{"filename": path.name, "subfolder": "", "type": "output"}]}
    (request,) = harness.fake.requests
    assert request.path == "/v1/text-to-speech/abc123"
    assert request.query == {"output_format": "mp3_22050_32"}
    assert request.json == {"text": "Hello there.", "model_id": "eleven_flash_v2_5", "seed": 3}
    (event,) = harness.events_of(ProviderCallRecorded)
    assert event.model == "eleven_flash_v2_5"
    assert event.endpoint == "/v1/text-to-speech/abc123"


@pytest.mark.asyncio
async def test_sound_effect_request(harness_factory):
    harness = await harness_factory("elevenlabs")

    output = await ElevenLabsSoundEffects().execute(
        harness.context(), text="door creaks", duration_seconds=2.5, prompt_influence=0.6,
        loop=True,
    )

    assert harness.fake.rejections == []
    assert Path(output.values[0]).read_bytes() == SAMPLE_MP3
    assert harness.fake.requests[0].json == {"text": "door creaks", "prompt_influence": 0.6,
                                             "duration_seconds": 2.5, "loop": True}


def test_voice_id_must_be_plain():
    result = ElevenLabsTextToSpeech.validate_inputs(text="x", voice_id="../v1/voices")
    assert "not a voice id" in result


@pytest.mark.asyncio
async def test_validation_error_detail_in_message(harness_factory):
    harness = await harness_factory("elevenlabs")

    with pytest.raises(ProviderError) as caught:
        # Past the documented range the fake answers 422 with a FastAPI-style detail list.
        await ElevenLabsSoundEffects().execute(harness.context(), text="x",
                                               prompt_influence=1.5)

    assert caught.value.http_status == 422
    assert "prompt_influence must be 0-1" in caught.value.message
