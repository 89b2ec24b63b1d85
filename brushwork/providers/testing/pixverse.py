"""A fake of PixVerse's text-to-video API: generate, result polling, result download."""

from __future__ import annotations

import uuid
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
from .support import SAMPLE_MP4

FIELDS = ("prompt", "negative_prompt", "aspect_ratio", "quality", "duration", "model",
          "motion_mode", "seed", "style", "template_id", "water_mark")
REQUIRED = ("prompt", "aspect_ratio", "quality", "duration")
STYLES = ("anime", "3d_animation", "clay", "comic", "cyberpunk")
# The ErrCode table is not documented; the fake uses the HTTP status as its code.


class FakePixVerse(FakeProviderServer):
    provider = "pixverse"
    result_content_type = "video/mp4"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        # When set, the next jobs end with this status (6 deleted, 7 moderation, 8 failed).
        self.final_status: int | None = None

    def setup_routes(self) -> None:
        self.route("POST", "/openapi/v2/video/text/generate", "submit", self.generate)
        self.route("GET", "/openapi/v2/video/result/{video_id}", "poll", self.result)
        self.raw_route("GET", "/files/{name}", "download", self.file)

    def check_auth(self, request: RecordedRequest) -> None:
        require_header(request, "API-KEY", self.api_key, status=401)
        trace_id = request.headers.get("ai-trace-id", "")
        try:
            uuid.UUID(trace_id)
        except ValueError:
            require(False, f"Ai-trace-id {trace_id!r} is not a UUID")

    def error_body(self, status: int, message: str) -> Any:
        return {"ErrCode": status, "ErrMsg": message, "Resp": None}

    def new_id(self) -> str:
        # PixVerse video ids are integers.
        return str(uuid.uuid4().int % 10**15)

    async def generate(self, request: RecordedRequest) -> web.StreamResponse:
        body = require_json_object(request)
        require_fields(body, required=REQUIRED, allowed=FIELDS)
        require(isinstance(body["prompt"], str) and body["prompt"].strip() != "",
                "prompt must not be empty")
        require_choice(body, "aspect_ratio", ("16:9", "4:3", "1:1", "3:4", "9:16"))
        require_choice(body, "quality", ("360p", "540p", "720p", "1080p"))
        require_choice(body, "duration", (5, 8))
        require_choice(body, "motion_mode", ("normal", "fast"))
        require_choice(body, "style", STYLES)
        if "seed" in body:
            require(isinstance(body["seed"], int), "seed must be an integer")
        if "water_mark" in body:
            require(isinstance(body["water_mark"], bool), "water_mark must be a boolean")
        job = self.create_job(body=body, final_status=self.final_status)
        return web.json_response({"ErrCode": 0, "ErrMsg": "success",
                                  "Resp": {"video_id": int(job["id"])}})

    async def result(self, request: RecordedRequest) -> web.StreamResponse:
        job = self.jobs.get(request.match["video_id"])
        require(job is not None, "video not found", 404)
        assert job is not None
        phase = self.advance(job)
        response: dict[str, Any] = {"id": int(job["id"]), "prompt": job["body"]["prompt"],
                                    "seed": job["body"].get("seed", 7), "outputWidth": 1280,
                                    "outputHeight": 720, "create_time": "2025-01-01 00:00:00",
                                    "modify_time": "2025-01-01 00:01:00"}
        if phase in ("queued", "running"):
            response["status"] = 5
        elif phase in ("failed", "cancelled"):
            response["status"] = 8
        elif job["final_status"]:
            response["status"] = job["final_status"]
        else:
            response.update(status=1, url=self.file_url(f"{job['id']}.mp4"),
                            size=len(SAMPLE_MP4))
        return web.json_response({"ErrCode": 0, "ErrMsg": "success", "Resp": response})

    async def file(self, request: RecordedRequest) -> web.StreamResponse:
        return web.Response(body=SAMPLE_MP4, content_type="video/mp4")
