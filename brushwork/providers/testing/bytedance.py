"""A fake of BytePlus ModelArk: Seedream image generation and Seedance video tasks."""

from __future__ import annotations

import base64
import re
import time
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

IMAGE_MODELS = ("seedream-3-0-t2i-250415", "seededit-3-0-i2i-250628", "seedream-4-0-250828")
IMAGE_FIELDS = ("model", "prompt", "response_format", "size", "seed", "guidance_scale",
                "watermark", "image", "sequential_image_generation",
                "sequential_image_generation_options")
VIDEO_MODELS = ("seedance-1-0-pro-250528", "seedance-1-0-lite-t2v-250428",
                "seedance-1-0-lite-i2v-250428", "seedance-1-5-pro-251215")
VIDEO_FIELDS = ("model", "content", "resolution", "ratio", "duration", "seed", "watermark",
                "generate_audio")
_FLAG = re.compile(r"--(\w+) (\S+)")


class FakeByteDance(FakeProviderServer):
    provider = "bytedance"
    base_path = "/api/v3"
    result_content_type = "video/mp4"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        # When set, image requests succeed with no data and this error (a moderation refusal).
        self.image_error: dict[str, str] | None = None

    def setup_routes(self) -> None:
        self.route("POST", "/images/generations", "submit", self.images)
        self.route("POST", "/contents/generations/tasks", "submit", self.create_task)
        self.route("GET", "/contents/generations/tasks/{id}", "poll", self.get_task)
        self.raw_route("GET", "/files/{name}", "download", self.file)

    def check_auth(self, request: RecordedRequest) -> None:
        require_header(request, "Authorization", f"Bearer {self.api_key}", status=401)

    def error_body(self, status: int, message: str) -> Any:
        # The shape is documented; the error codes are not, so this one is the fake's own.
        return {"error": {"code": f"FakeError{status}", "message": message}}

    async def images(self, request: RecordedRequest) -> web.StreamResponse:
        body = require_json_object(request)
        require_fields(body, required=("model", "prompt"), allowed=IMAGE_FIELDS)
        require_choice(body, "model", IMAGE_MODELS)
        require_choice(body, "response_format", ("url", "b64_json"))
        require(isinstance(body["prompt"], str) and body["prompt"], "prompt must be a string")
        if "seed" in body:
            require(0 <= int(body["seed"]) <= 2147483647, "seed out of range")
        if "guidance_scale" in body:
            require(1 <= float(body["guidance_scale"]) <= 10, "guidance_scale out of range")
        if "size" in body:
            require(bool(re.match(r"^(\d+x\d+|adaptive)$", str(body["size"]))),
                    "size must be WIDTHxHEIGHT or adaptive")
        if "watermark" in body:
            require(isinstance(body["watermark"], bool), "watermark must be a boolean")
        self.submissions += 1
        if self.image_error is not None:
            return web.json_response({"model": body["model"], "created": int(time.time()),
                                      "data": [], "error": self.image_error})
        png = sample_image()
        if body.get("response_format") == "b64_json":
            item = {"b64_json": base64.b64encode(png).decode("ascii"), "size": "16x12"}
        else:
            item = {"url": self.file_url("image-0.png"), "size": "16x12"}
        return web.json_response({
            "model": body["model"],
            "created": int(time.time()),
            "data": [item],
            "usage": {"generated_images": 1},
        })

    async def create_task(self, request: RecordedRequest) -> web.StreamResponse:
        body = require_json_object(request)
        require_fields(body, required=("model", "content"), allowed=VIDEO_FIELDS)
        require_choice(body, "model", VIDEO_MODELS)
        content = body["content"]
        require(isinstance(content, list) and content, "content must be a non-empty list")
        texts = [item for item in content if isinstance(item, dict) and item.get("type") == "text"]
        require(len(texts) == 1, "content must hold one text item")
        for item in content:
            require(isinstance(item, dict) and item.get("type") in ("text", "image_url"),
                    "content items must be text or image_url")
        flags = dict(_FLAG.findall(texts[0]["text"]))
        if "duration" in flags:
            require(flags["duration"].isdigit(), "--duration must be a whole number")
        for name in ("camerafixed", "watermark"):
            if name in flags:
                require(flags[name] in ("true", "false"), f"--{name} must be true or false")
        job = self.create_job(body=body, flags=flags)
        return web.json_response({"id": job["id"]})

    async def get_task(self, request: RecordedRequest) -> web.StreamResponse:
        job = self.jobs.get(request.match["id"])
        require(job is not None, "task not found", 404)
        assert job is not None
        phase = self.advance(job)
        status = {"queued": "queued", "running": "running", "failed": "failed",
                  "done": "succeeded", "cancelled": "cancelled"}[phase]
        task: dict[str, Any] = {
            "id": job["id"],
            "model": job["body"]["model"],
            "status": status,
            "created_at": 1735689600,
            "updated_at": 1735689600 + job["polls"],
        }
        if status == "succeeded":
            task["content"] = {"video_url": self.file_url(f"{job['id']}.mp4")}
            task["usage"] = {"completion_tokens": 100, "total_tokens": 100}
        if status == "failed":
            task["error"] = {"code": "FakeJobFailure", "message": job["fail"]}
        return web.json_response(task)

    async def file(self, request: RecordedRequest) -> web.StreamResponse:
        if request.match["name"].endswith(".mp4"):
            return web.Response(body=SAMPLE_MP4, content_type="video/mp4")
        return web.Response(body=sample_image(), content_type="image/png")
