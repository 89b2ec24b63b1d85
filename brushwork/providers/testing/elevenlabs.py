"""A fake of ElevenLabs' text-to-speech and sound-generation endpoints."""

from __future__ import annotations

import re
from typing import Any

from aiohttp import web

from .server import (
    FakeProviderServer,
    RecordedRequest,
    require,
    require_fields,
    require_header,
    require_json_object,
)
from .support import SAMPLE_MP3

TTS_FIELDS = (
    "text", "model_id", "language_code", "voice_settings", "seed", "previous_text",
    "next_text", "previous_request_ids", "next_request_ids",
    "pronunciation_dictionary_locators", "apply_text_normalization",
)
SOUND_FIELDS = ("text", "duration_seconds", "prompt_influence", "loop", "model_id")
OUTPUT_FORMAT = re.compile(r"^(mp3|pcm|ulaw|alaw|opus)_\d+(_\d+)?$")


class FakeElevenLabs(FakeProviderServer):
    provider = "elevenlabs"
    result_content_type = "audio/mpeg"

    def content_type_for(self, phase: str) -> str:
        # Speech and sound effects come back as audio in the submitting request itself.
        return self.result_content_type

    def setup_routes(self) -> None:
        self.route("POST", "/v1/text-to-speech/{voice_id}", "submit", self.text_to_speech)
        self.route("POST", "/v1/sound-generation", "submit", self.sound_generation)

    def check_auth(self, request: RecordedRequest) -> None:
        require_header(request, "xi-api-key", self.api_key, status=401)

    def error_body(self, status: int, message: str) -> Any:
        if status == 429:
            return {"detail": {"status": "system_busy", "message": message}}
        if status == 422:
            return {"detail": [{"loc": ["body"], "msg": message, "type": "value_error"}]}
        return {"detail": {"status": "error", "message": message}}

    def _check_output_format(self, request: RecordedRequest) -> None:
        output_format = request.query.get("output_format")
        if output_format is not None:
            require(bool(OUTPUT_FORMAT.match(output_format)),
                    f"invalid output_format {output_format!r}", 422)

    async def text_to_speech(self, request: RecordedRequest) -> web.StreamResponse:
        self._check_output_format(request)
        body = require_json_object(request)
        require_fields(body, required=("text",), allowed=TTS_FIELDS)
        require(isinstance(body["text"], str) and body["text"], "text must not be empty", 422)
        if "seed" in body:
            require(0 <= int(body["seed"]) <= 4294967295, "seed out of range", 422)
        self.submissions += 1
        return web.Response(body=SAMPLE_MP3, content_type="audio/mpeg")

    async def sound_generation(self, request: RecordedRequest) -> web.StreamResponse:
        self._check_output_format(request)
        body = require_json_object(request)
        require_fields(body, required=("text",), allowed=SOUND_FIELDS)
        duration = body.get("duration_seconds")
        if duration is not None:
            require(0.5 <= float(duration) <= 30.0, "duration_seconds must be 0.5-30", 422)
        influence = body.get("prompt_influence")
        if influence is not None:
            require(0.0 <= float(influence) <= 1.0, "prompt_influence must be 0-1", 422)
        self.submissions += 1
        return web.Response(body=SAMPLE_MP3, content_type="audio/mpeg")
