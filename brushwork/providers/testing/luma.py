"""A fake of Luma's Dream Machine generations API."""

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
from .support import SAMPLE_MP4, sample_image

VIDEO_FIELDS = ("prompt", "model", "aspect_ratio", "duration", "resolution", "loop",
                "callback_url", "concepts", "keyframes")
IMAGE_FIELDS = ("prompt", "model", "aspect_ratio", "format", "image_ref", "style_ref",
                "character_ref", "modify_image_ref", "callback_url")
ASPECT_RATIOS = ("1:1", "16:9", "9:16", "4:3", "3:4", "21:9", "9:21")


class FakeLuma(FakeProviderServer):
    provider = "luma"
    base_path = "/dream-machine/v1"
    result_content_type = "video/mp4"

    def setup_routes(self) -> None:
        self.route("POST", "/generations", "submit", self.create_video)
        self.route("POST", "/generations/video", "submit", self.create_video)
        self.route("POST", "/generations/image", "submit", self.create_image)
        self.route("GET", "/generations/{id}", "poll", self.get_generation)
        self.raw_route("GET", "/files/{name}", "download", self.file)

    def check_auth(self, request: RecordedRequest) -> None:
        require_header(request, "Authorization", f"Bearer {self.api_key}", status=401)

    def error_body(self, status: int, message: str) -> Any:
        # The error body shape is not documented in the sources; this one is the fake's own.
        return {"detail": message}

    async def create_video(self, request: RecordedRequest) -> web.StreamResponse:
        body = require_json_object(request)
        require_fields(body, required=("prompt",), allowed=VIDEO_FIELDS)
        require_choice(body, "model", ("ray-2", "ray-flash-2", "ray-1-6"))
        require_choice(body, "aspect_ratio", ASPECT_RATIOS)
        require_choice(body, "duration", ("5s", "9s"))
        require_choice(body, "resolution", ("540p", "720p", "1080p", "4k"))
        if "loop" in body:
            require(isinstance(body["loop"], bool), "loop must be a boolean", 422)
        job = self.create_job(generation_type="video", body=body)
        return web.json_response(self._generation(job, "queued"), status=201)

    async def create_image(self, request: RecordedRequest) -> web.StreamResponse:
        body = require_json_object(request)
        require_fields(body, required=("prompt",), allowed=IMAGE_FIELDS)
        require_choice(body, "model", ("photon-1", "photon-flash-1"))
        require_choice(body, "aspect_ratio", ASPECT_RATIOS)
        job = self.create_job(generation_type="image", body=body)
        return web.json_response(self._generation(job, "queued"), status=201)

    async def get_generation(self, request: RecordedRequest) -> web.StreamResponse:
        job = self.jobs.get(request.match["id"])
        require(job is not None, "generation not found", 404)
        assert job is not None
        phase = self.advance(job)
        state = {"queued": "queued", "running": "dreaming", "failed": "failed",
                 "done": "completed"}[phase]
        return web.json_response(self._generation(job, state))

    def _generation(self, job: dict[str, Any], state: str) -> dict[str, Any]:
        assets = None
        if state == "completed":
            if job["generation_type"] == "video":
                assets = {"video": self.file_url(f"{job['id']}.mp4")}
            else:
                assets = {"image": self.file_url(f"{job['id']}.jpg")}
        return {
            "id": job["id"],
            "generation_type": job["generation_type"],
            "state": state,
            "failure_reason": job["fail"] if state == "failed" else None,
            "created_at": "2025-01-01T00:00:00Z",
            "assets": assets,
            "model": job["body"].get("model"),
            "request": job["body"],
        }

    async def file(self, request: RecordedRequest) -> web.StreamResponse:
        if request.match["name"].endswith(".mp4"):
            return web.Response(body=SAMPLE_MP4, content_type="video/mp4")
        return web.Response(body=sample_image(image_format="JPEG"), content_type="image/jpeg")
