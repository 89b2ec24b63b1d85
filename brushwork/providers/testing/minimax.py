"""A fake of MiniMax's video generation (create, query, file retrieve) and t2a_v2 speech.

MiniMax reports errors in ``base_resp`` with HTTP 200; ``reject_with`` makes the
next requests of a phase do that.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from .server import (
    FakeProviderServer,
    RecordedRequest,
    require,
    require_choice,
    require_fields,
    require_header,
    require_json_object,
)
from .support import SAMPLE_MP3, SAMPLE_MP4

VIDEO_FIELDS = ("model", "prompt", "prompt_optimizer", "first_frame_image", "subject_reference",
                "duration", "resolution", "callback_url")
VIDEO_MODELS = ("MiniMax-Hailuo-02", "T2V-01", "T2V-01-Director", "I2V-01", "I2V-01-Director",
                "I2V-01-live", "S2V-01")
SPEECH_FIELDS = ("model", "text", "stream", "voice_setting", "audio_setting", "output_format",
                 "subtitle_enable", "pronunciation_dict", "language_boost")
# status_code values the fake sends with HTTP-level errors; the sources do not describe those.
HTTP_CODES = {401: 1004, 429: 1002, 500: 1024, 503: 1033}
_OK = {"status_code": 0, "status_msg": "success"}


class FakeMiniMax(FakeProviderServer):
    provider = "minimax"
    result_content_type = "video/mp4"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        # (phase, status_code, status_msg): the next request of that phase gets this base_resp.
        self.reject_with: tuple[str, int, str] | None = None

    def setup_routes(self) -> None:
        self.route("POST", "/v1/video_generation", "submit", self.create_video)
        self.route("GET", "/v1/query/video_generation", "poll", self.query_video)
        self.route("GET", "/v1/files/retrieve", "retrieve", self.retrieve_file)
        self.route("POST", "/v1/t2a_v2", "submit", self.speech)
        self.raw_route("GET", "/files/{name}", "download", self.file)

    def check_auth(self, request: RecordedRequest) -> None:
        require_header(request, "Authorization", f"Bearer {self.api_key}", status=401)

    def error_body(self, status: int, message: str) -> Any:
        return {"base_resp": {"status_code": HTTP_CODES.get(status, 2013),
                              "status_msg": message}}

    def _rejection(self, phase: str) -> web.Response | None:
        if self.reject_with is None or self.reject_with[0] != phase:
            return None
        _, code, message = self.reject_with
        self.reject_with = None
        return web.json_response({"base_resp": {"status_code": code, "status_msg": message}})

    async def create_video(self, request: RecordedRequest) -> web.StreamResponse:
        body = require_json_object(request)
        require_fields(body, required=("model", "prompt"), allowed=VIDEO_FIELDS)
        require_choice(body, "model", VIDEO_MODELS)
        require(isinstance(body["prompt"], str) and 0 < len(body["prompt"]) < 2000,
                "prompt must be 1-1999 characters")
        if "duration" in body:
            require(isinstance(body["duration"], int), "duration must be an integer")
        if "prompt_optimizer" in body:
            require(isinstance(body["prompt_optimizer"], bool), "prompt_optimizer must be bool")
        rejection = self._rejection("submit")
        if rejection is not None:
            return rejection
        job = self.create_job(body=body)
        return web.json_response({"task_id": job["id"], "base_resp": _OK})

    async def query_video(self, request: RecordedRequest) -> web.StreamResponse:
        job = self.jobs.get(request.query.get("task_id", ""))
        require(job is not None, "task not found", 404)
        assert job is not None
        rejection = self._rejection("poll")
        if rejection is not None:
            return rejection
        phase = self.advance(job)
        status = {"queued": "Queueing", "running": "Processing", "failed": "Fail",
                  "cancelled": "Fail", "done": "Success"}[phase]
        answer: dict[str, Any] = {"task_id": job["id"], "status": status, "base_resp": _OK}
        if status == "Success":
            answer["file_id"] = "file-" + job["id"]
        return web.json_response(answer)

    async def retrieve_file(self, request: RecordedRequest) -> web.StreamResponse:
        file_id = request.query.get("file_id", "")
        require(file_id.startswith("file-") and file_id[5:] in self.jobs, "file not found", 404)
        rejection = self._rejection("retrieve")
        if rejection is not None:
            return rejection
        return web.json_response({"file": {
            "file_id": file_id, "bytes": len(SAMPLE_MP4), "created_at": 1735689600,
            "filename": "output.mp4", "purpose": "video_generation",
            "download_url": self.file_url(f"{file_id}.mp4"),
            "backup_download_url": self.file_url(f"{file_id}-backup.mp4"),
        }, "base_resp": _OK})

    async def speech(self, request: RecordedRequest) -> web.StreamResponse:
        body = require_json_object(request)
        require_fields(body, required=("model", "text"), allowed=SPEECH_FIELDS)
        require(isinstance(body["text"], str) and body["text"].strip() != "",
                "text must not be empty")
        require(body.get("stream", False) is False, "this fake does not stream")
        voice = body.get("voice_setting") or {}
        require(isinstance(voice, dict) and voice.get("voice_id"), "voice_setting.voice_id is "
                "required")
        if "speed" in voice:
            require(0.5 <= float(voice["speed"]) <= 2.0, "voice_setting.speed must be 0.5-2")
        audio_setting = body.get("audio_setting") or {}
        require_choice(audio_setting, "format", ("mp3", "wav", "pcm", "flac"))
        require_choice(body, "output_format", ("hex", "url"))
        rejection = self._rejection("submit")
        if rejection is not None:
            return rejection
        self.submissions += 1
        return web.json_response({
            "data": {"audio": SAMPLE_MP3.hex(), "status": 2},
            "extra_info": {"audio_length": 1000, "audio_sample_rate": 32000,
                           "audio_size": len(SAMPLE_MP3), "bitrate": 128000,
                           "audio_format": audio_setting.get("format", "mp3")},
            "trace_id": self.new_id(),
            "base_resp": _OK,
        })

    async def file(self, request: RecordedRequest) -> web.StreamResponse:
        return web.Response(body=SAMPLE_MP4, content_type="video/mp4")
