"""A fake of Vidu's API: text2video and img2video tasks, creations polling, downloads."""

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
from .support import SAMPLE_MP4

MODELS = ("viduq1", "viduq2", "vidu2.0", "vidu1.5", "viduq3-pro")
COMMON_FIELDS = ("model", "prompt", "duration", "seed", "resolution", "movement_amplitude",
                 "bgm", "payload", "callback_url")
TEXT_FIELDS = (*COMMON_FIELDS, "aspect_ratio")
IMAGE_FIELDS = (*COMMON_FIELDS, "images")


class FakeVidu(FakeProviderServer):
    provider = "vidu"
    base_path = "/ent/v2"
    result_content_type = "video/mp4"

    def setup_routes(self) -> None:
        self.route("POST", "/text2video", "submit", self.text2video)
        self.route("POST", "/img2video", "submit", self.img2video)
        self.route("GET", "/tasks/{id}/creations", "poll", self.creations)
        self.raw_route("GET", "/files/{name}", "download", self.file)

    def check_auth(self, request: RecordedRequest) -> None:
        require_header(request, "Authorization", f"Token {self.api_key}", status=401)

    def error_body(self, status: int, message: str) -> Any:
        # The error body shape is not documented in the sources; this one is the fake's own.
        return {"code": status, "reason": "fake_error", "message": message}

    def _check_common(self, body: dict[str, Any]) -> None:
        require_choice(body, "model", MODELS)
        require_choice(body, "movement_amplitude", ("auto", "small", "medium", "large"))
        if "prompt" in body:
            require(isinstance(body["prompt"], str) and len(body["prompt"]) <= 2000,
                    "prompt must be a string of at most 2000 characters")
        if body["model"] == "viduq1" and "duration" in body:
            require(body["duration"] == 5, "viduq1 takes duration 5")
        if "seed" in body:
            require(isinstance(body["seed"], int) and body["seed"] >= 0, "seed must be >= 0")
        if "bgm" in body:
            require(isinstance(body["bgm"], bool), "bgm must be a boolean")

    async def text2video(self, request: RecordedRequest) -> web.StreamResponse:
        body = require_json_object(request)
        require_fields(body, required=("model", "prompt"), allowed=TEXT_FIELDS)
        self._check_common(body)
        require_choice(body, "aspect_ratio", ("16:9", "9:16", "1:1", "3:4", "4:3"))
        return self._created(self.create_job(body=body))

    async def img2video(self, request: RecordedRequest) -> web.StreamResponse:
        body = require_json_object(request)
        require_fields(body, required=("model", "images"), allowed=IMAGE_FIELDS)
        self._check_common(body)
        images = body["images"]
        require(isinstance(images, list) and len(images) == 1, "images must hold one image")
        image = images[0]
        require(isinstance(image, str) and image.startswith(("https://", "data:image/")),
                "images[0] must be a URL or a data:image URI")
        return self._created(self.create_job(body=body))

    def _created(self, job: dict[str, Any]) -> web.StreamResponse:
        body = job["body"]
        return web.json_response({
            "task_id": job["id"],
            "state": "created",
            "model": body["model"],
            "prompt": body.get("prompt", ""),
            "created_at": "2025-01-01T00:00:00Z",
        })

    async def creations(self, request: RecordedRequest) -> web.StreamResponse:
        job = self.jobs.get(request.match["id"])
        require(job is not None, "task not found", 404)
        assert job is not None
        phase = self.advance(job)
        state = {"queued": "queueing", "running": "processing", "failed": "failed",
                 "done": "success"}[phase]
        creations = []
        if state == "success":
            creations = [{"id": f"{job['id']}-0", "url": self.file_url(f"{job['id']}.mp4"),
                          "cover_url": self.file_url(f"{job['id']}.jpg"),
                          "watermarked_url": self.file_url(f"{job['id']}-wm.mp4")}]
        return web.json_response({
            "id": job["id"],
            "state": state,
            "err_code": job["fail"] if state == "failed" else "",
            "credits": 20,
            "payload": "",
            "creations": creations,
        })

    async def file(self, request: RecordedRequest) -> web.StreamResponse:
        return web.Response(body=SAMPLE_MP4, content_type="video/mp4")
