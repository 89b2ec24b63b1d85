"""A fake of xAI's image generation and asynchronous video generation endpoints."""

from __future__ import annotations

import base64
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

IMAGE_MODELS = ("grok-imagine-image", "grok-imagine-image-pro", "grok-imagine-image-quality",
                "grok-imagine-image-2.0", "grok-2-image-1212")
IMAGE_FIELDS = ("model", "prompt", "n", "response_format", "aspect_ratio", "resolution",
                "quality", "user")
ASPECT_RATIOS = ("1:1", "3:4", "4:3", "9:16", "16:9", "2:3", "3:2", "9:19.5", "19.5:9",
                 "9:20", "20:9", "1:2", "2:1", "auto")
VIDEO_FIELDS = ("model", "prompt", "image", "reference_images", "duration", "aspect_ratio",
                "resolution")
COST_TICKS = 200_000_000


class FakeXAI(FakeProviderServer):
    provider = "xai"
    base_path = "/v1"
    result_content_type = "video/mp4"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        # When set, finished videos end "expired" instead of "done".
        self.expire_jobs = False
        # When set, finished videos carry respect_moderation: false (blocked by moderation).
        self.moderate_videos = False

    def setup_routes(self) -> None:
        self.route("POST", "/images/generations", "submit", self.images_generations)
        self.route("POST", "/videos/generations", "submit", self.videos_generations)
        self.route("GET", "/videos/{id}", "poll", self.get_video)
        self.raw_route("GET", "/files/{name}", "download", self.file)

    def check_auth(self, request: RecordedRequest) -> None:
        require_header(request, "Authorization", f"Bearer {self.api_key}", status=401)

    def error_body(self, status: int, message: str) -> Any:
        return {"error": {"message": message, "type": "invalid_request_error",
                          "code": "invalid_argument" if status < 500 else "internal"}}

    async def images_generations(self, request: RecordedRequest) -> web.StreamResponse:
        body = require_json_object(request)
        require_fields(body, required=("prompt",), allowed=IMAGE_FIELDS)
        require_choice(body, "model", IMAGE_MODELS)
        require_choice(body, "response_format", ("url", "b64_json"))
        require_choice(body, "aspect_ratio", ASPECT_RATIOS)
        require_choice(body, "resolution", ("1k", "2k"))
        require_choice(body, "quality", ("low", "medium", "high"))
        if "quality" in body:
            require(body.get("model") == "grok-imagine-image-2.0",
                    "quality is supported by grok-imagine-image-2.0 only")
        count = body.get("n", 1)
        require(isinstance(count, int) and 1 <= count <= 10, "n must be 1-10")
        self.submissions += 1
        items = []
        for index in range(count):
            if body.get("response_format") == "b64_json":
                items.append({"b64_json": base64.b64encode(sample_image()).decode("ascii"),
                              "revised_prompt": body["prompt"]})
            else:
                items.append({"url": self.file_url(f"image-{index}.png"),
                              "revised_prompt": body["prompt"]})
        return web.json_response({"data": items, "usage": {"cost_in_usd_ticks": COST_TICKS}})

    async def videos_generations(self, request: RecordedRequest) -> web.StreamResponse:
        body = require_json_object(request)
        require_fields(body, required=("model", "prompt"), allowed=VIDEO_FIELDS)
        require_choice(body, "model", ("grok-imagine-video",))
        require_choice(body, "resolution", ("480p", "720p"))
        require_choice(body, "aspect_ratio", ("1:1", "16:9", "9:16", "4:3", "3:4", "3:2", "2:3"))
        if "duration" in body:
            require(isinstance(body["duration"], int) and 1 <= body["duration"] <= 15,
                    "duration must be 1-15 seconds")
        if "image" in body:
            image = body["image"]
            require(isinstance(image, dict) and isinstance(image.get("url"), str),
                    "image must be an object with a url")
            require(image["url"].startswith(("https://", "data:image/")),
                    "image.url must be an https URL or an image data URI")
        job = self.create_job(body=body)
        return web.json_response({"request_id": job["id"]})

    async def get_video(self, request: RecordedRequest) -> web.StreamResponse:
        job = self.jobs.get(request.match["id"])
        require(job is not None, "request not found", 404)
        assert job is not None
        phase = self.advance(job)
        answer: dict[str, Any] = {"model": job["body"]["model"]}
        if phase in ("queued", "running"):
            answer.update(status="pending", progress=40 if phase == "running" else 0)
        elif phase == "failed":
            answer.update(status="failed", error={"code": "internal", "message": job["fail"]})
        elif self.expire_jobs:
            answer["status"] = "expired"
        else:
            answer.update(
                status="done",
                video={"url": self.file_url(f"{job['id']}.mp4"),
                       "duration": job["body"].get("duration", 6),
                       "respect_moderation": not self.moderate_videos},
                usage={"cost_in_usd_ticks": COST_TICKS},
            )
        return web.json_response(answer)

    async def file(self, request: RecordedRequest) -> web.StreamResponse:
        if request.match["name"].endswith(".mp4"):
            return web.Response(body=SAMPLE_MP4, content_type="video/mp4")
        return web.Response(body=sample_image(), content_type="image/png")
