"""ElevenLabs: text to speech and sound effects (synchronous, binary audio responses).

API facts:

- Base URL https://api.elevenlabs.io, ``xi-api-key`` header.
- ``POST /v1/text-to-speech/{voice_id}?output_format=...`` with JSON
  ``{text, model_id, seed, ...}`` returns the audio bytes.
- ``POST /v1/sound-generation?output_format=...`` with ``{text,
  duration_seconds, prompt_influence, loop}`` returns the audio bytes.
- ``output_format`` is ``codec_samplerate_bitrate``, such as mp3_44100_128.
- A 429 carries ``detail.status``: too_many_concurrent_requests or system_busy.

Sources: the elevenlabs-python SDK (``environment.py``,
``core/client_wrapper.py``, ``text_to_speech/raw_client.py``,
``text_to_sound_effects/raw_client.py``), the SDK's README on PyPI (model
ids and the example voice id), and help.elevenlabs.io article 19571824571921
(429 codes).
"""

from __future__ import annotations

import re
from typing import Any

from ..engine.node import Input, NodeOutput, Output
from .client import ProviderSpec, header_auth
from .media import write_output_file
from .nodebase import ProviderNode, secret_input, seed_input

SPEC = ProviderSpec(
    name="elevenlabs",
    display_name="ElevenLabs",
    base_url="https://api.elevenlabs.io",
    auth=header_auth("xi-api-key"),
)

TTS_MODELS = ("eleven_multilingual_v2", "eleven_flash_v2_5", "eleven_turbo_v2_5")
# Only MP3 formats: the sources do not state the PCM sample layout needed to wrap it.
OUTPUT_FORMATS = ("mp3_44100_128", "mp3_22050_32")
# The voice the SDK's README uses in its example.
DEFAULT_VOICE_ID = "JBFqnCBsd6RMkjVDRZzb"
# NOTE: the sources do not confirm the audio Content-Type, so any audio/* or a
# generic binary type is accepted. A JSON or HTML body is still rejected.
AUDIO_TYPES = ("audio/", "application/octet-stream")

_VOICE_ID = re.compile(r"^[A-Za-z0-9]{1,64}$")


async def _save_audio(ctx: Any, data: bytes) -> NodeOutput:
    path, entry = await write_output_file(ctx, SPEC.name, data, "mp3")
    return NodeOutput((str(path),), {"audio": [entry]})


class ElevenLabsTextToSpeech(ProviderNode):
    class_type = "ElevenLabsTextToSpeech"
    display_name = "ElevenLabs Text to Speech"
    category = "api node/audio/ElevenLabs"
    description = "Speak a text with an ElevenLabs voice; saves an MP3 file."
    spec = SPEC
    provider = SPEC.name
    inputs = (
        Input("text", "STRING", default="", multiline=True),
        Input("voice_id", "STRING", default=DEFAULT_VOICE_ID,
              tooltip="Id of a voice in the ElevenLabs voice library."),
        Input("model_id", "COMBO", default="eleven_multilingual_v2", choices=TTS_MODELS),
        Input("output_format", "COMBO", default="mp3_44100_128", choices=OUTPUT_FORMATS),
        seed_input(4294967295, tooltip="Seed for repeatable speech; 0 sends no seed."),
        secret_input(SPEC.name),
    )
    outputs = (Output("AUDIO"),)
    output_node = True

    @classmethod
    def validate_provider_inputs(cls, **inputs: Any) -> bool | str:
        if not str(inputs.get("text", "")).strip():
            return "text is empty"
        voice_id = str(inputs.get("voice_id", DEFAULT_VOICE_ID))
        if not _VOICE_ID.match(voice_id):
            return f"voice_id {voice_id!r} is not a voice id (letters and digits only)"
        return True

    async def execute(
        self, ctx: Any, *, text: str, voice_id: str = DEFAULT_VOICE_ID,
        model_id: str = "eleven_multilingual_v2", output_format: str = "mp3_44100_128",
        seed: int = 0, secret: str | None = None,
    ) -> NodeOutput:
        self.check_inputs(text=text, voice_id=voice_id, secret=secret)
        api = self.connect(ctx, secret)
        body: dict[str, Any] = {"text": text, "model_id": model_id}
        if seed > 0:
            body["seed"] = seed
        data, _ = await api.request_bytes(
            "POST", f"/v1/text-to-speech/{voice_id}", json=body, model=model_id,
            params={"output_format": output_format}, content_types=AUDIO_TYPES,
        )
        return await _save_audio(ctx, data)


class ElevenLabsSoundEffects(ProviderNode):
    class_type = "ElevenLabsSoundEffects"
    display_name = "ElevenLabs Sound Effects"
    category = "api node/audio/ElevenLabs"
    description = "Generate a sound effect from a description; saves an MP3 file."
    spec = SPEC
    provider = SPEC.name
    inputs = (
        Input("text", "STRING", default="", multiline=True),
        Input("duration_seconds", "FLOAT", default=0.0, min=0.0, max=30.0, step=0.1,
              tooltip="Length from 0.5 to 30 s; 0 lets the model choose."),
        Input("prompt_influence", "FLOAT", default=0.3, min=0.0, max=1.0, step=0.01),
        Input("loop", "BOOLEAN", default=False, optional=True),
        Input("output_format", "COMBO", default="mp3_44100_128", choices=OUTPUT_FORMATS),
        secret_input(SPEC.name),
    )
    outputs = (Output("AUDIO"),)
    output_node = True

    @classmethod
    def validate_provider_inputs(cls, **inputs: Any) -> bool | str:
        if not str(inputs.get("text", "")).strip():
            return "text is empty"
        duration = float(inputs.get("duration_seconds", 0.0))
        if duration and not 0.5 <= duration <= 30.0:
            return f"duration_seconds must be 0 (automatic) or 0.5-30, got {duration}"
        return True

    async def execute(
        self, ctx: Any, *, text: str, duration_seconds: float = 0.0,
        prompt_influence: float = 0.3, loop: bool = False,
        output_format: str = "mp3_44100_128", secret: str | None = None,
    ) -> NodeOutput:
        self.check_inputs(text=text, duration_seconds=duration_seconds, secret=secret)
        api = self.connect(ctx, secret)
        body: dict[str, Any] = {"text": text, "prompt_influence": prompt_influence}
        if duration_seconds:
            body["duration_seconds"] = duration_seconds
        if loop:
            body["loop"] = True
        data, _ = await api.request_bytes(
            "POST", "/v1/sound-generation", json=body,
            params={"output_format": output_format}, content_types=AUDIO_TYPES,
        )
        return await _save_audio(ctx, data)


NODE_CLASSES = [ElevenLabsTextToSpeech, ElevenLabsSoundEffects]
