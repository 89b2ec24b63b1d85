"""A fake of Alibaba DashScope: Wan video synthesis and text-to-image tasks."""

from __future__ import annotations

import re
from typing import Any

from aiohttp import web

from .server import (
    FakeProviderServer,
    RecordedRequest,
    RequestProblem,
    require,
    require_fields,
    require_header,
    require_json_object,
)
from .support import SAMPLE_MP4, sample_image

VIDEO_MODELS = ("wan2.5-t2v-preview", "wan2.5-i2v-preview")
VIDEO_INPUT_FIELDS = ("prompt", "negative_prompt", "img_url", "audio_url")
VIDEO_PARAMETERS = ("size", "resolution", "duration", "prompt_extend", "seed", "watermark",
                    "audio")
IMAGE_INPUT_FIELDS = ("prompt", "negative_prompt")
IMAGE_PARAMETERS = ("size", "n", "seed", "prompt_extend", "watermark")
# The text-to-image model id the tests use; the sources name none.
IMAGE_MODEL = "fake-t2i-model"


class FakeWan(FakeProviderServer):
    provider = "wan"
    base_path = "/api/v1"
    result_content_type = "video/mp4"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        # When set, image tasks succeed but every result item carries this error instead.
        self.image_item_error: str | None = None

    def setup_routes(self) -> None:
        self.route("POST", "/services/aigc/video-generation/video-synthesis", "submit",
                   self.video_synthesis)
        self.route("POST", "/services/aigc/text2image/image-synthesis", "submit",
                   self.image_synthesis)
        self.route("GET", "/tasks/{id}", "poll", self.get_task)
        self.raw_route("GET", "/files/{name}", "download", self.file)

    def check_auth(self, request: RecordedRequest) -> None:
        require_header(request, "Authorization", f"Bearer {self.api_key}", status=401)

    def error_body(self, status: int, message: str) -> Any:
        # The shape is documented; the error codes are not, so these are the fake's own.
        return {"request_id": self.new_id(), "code": f"FakeError{status}", "message": message}

    def _check_async_header(self, request: RecordedRequest) -> None:
        # The message is documented; the HTTP status of this error is not (403 is the fake's).
        if request.headers.get("x-dashscope-async") != "enable":
            raise RequestProblem(403, "current user api does not support synchronous calls")

    def _check_parameters(self, parameters: dict[str, Any]) -> None:
        if "size" in parameters:
            require(bool(re.match(r"^\d+\*\d+$", str(parameters["size"]))),
                    "size must be width*height", 400)
        if "seed" in parameters:
            require(0 <= int(parameters["seed"]) <= 2147483647, "seed out of range")
        for name in ("prompt_extend", "watermark"):
            if name in parameters:
                require(isinstance(parameters[name], bool), f"{name} must be a boolean")

    async def video_synthesis(self, request: RecordedRequest) -> web.StreamResponse:
        self._check_async_header(request)
        body = require_json_object(request)
        require_fields(body, required=("model", "input"), allowed=("model", "input",
                                                                   "parameters"))
        require(body["model"] in VIDEO_MODELS, f"Model not exist: {body['model']}", 400)
        task_input = body["input"]
        require(isinstance(task_input, dict), "input must be an object")
        require_fields(task_input, required=("prompt",), allowed=VIDEO_INPUT_FIELDS)
        parameters = body.get("parameters", {})
        require_fields(parameters, required=(), allowed=VIDEO_PARAMETERS)
        self._check_parameters(parameters)
        if "duration" in parameters:
            require(5 <= int(parameters["duration"]) <= 10, "duration must be 5-10")
        return self._created(self.create_job(kind="video", body=body))

    async def image_synthesis(self, request: RecordedRequest) -> web.StreamResponse:
        self._check_async_header(request)
        body = require_json_object(request)
        require_fields(body, required=("model", "input"), allowed=("model", "input",
                                                                   "parameters"))
        require(body["model"] == IMAGE_MODEL, f"Model not exist: {body['model']}", 400)
        task_input = body["input"]
        require(isinstance(task_input, dict), "input must be an object")
        require_fields(task_input, required=("prompt",), allowed=IMAGE_INPUT_FIELDS)
        parameters = body.get("parameters", {})
        require_fields(parameters, required=(), allowed=IMAGE_PARAMETERS)
        self._check_parameters(parameters)
        if "n" in parameters:
            require(int(parameters["n"]) >= 1, "n must be at least 1")
        return self._created(self.create_job(kind="image", body=body))

    def _created(self, job: dict[str, Any]) -> web.StreamResponse:
        return web.json_response({
            "output": {"task_id": job["id"], "task_status": "PENDING"},
            "request_id": self.new_id(),
        })

    async def get_task(self, request: RecordedRequest) -> web.StreamResponse:
        job = self.jobs.get(request.match["id"])
        if job is None:
            return web.json_response({
                "request_id": self.new_id(),
                "output": {"task_id": request.match["id"], "task_status": "UNKNOWN"},
            })
        phase = self.advance(job)
        status = {"queued": "PENDING", "running": "RUNNING", "failed": "FAILED",
                  "done": "SUCCEEDED", "cancelled": "CANCELED"}[phase]
        output: dict[str, Any] = {"task_id": job["id"], "task_status": status}
        if status == "FAILED":
            output.update(code="FakeJobFailure", message=job["fail"])
        elif status == "SUCCEEDED" and job["kind"] == "video":
            output["video_url"] = self.file_url(f"{job['id']}.mp4")
        elif status == "SUCCEEDED":
            count = int(job["body"].get("parameters", {}).get("n", 1))
            if self.image_item_error:
                output["results"] = [{"code": "FakeItemFailure",
                                      "message": self.image_item_error}] * count
            else:
                output["results"] = [{"url": self.file_url(f"{job['id']}-{index}.png")}
                                     for index in range(count)]
        return web.json_response({"request_id": self.new_id(), "output": output,
                                  "usage": {"video_count": 1}})

    async def file(self, request: RecordedRequest) -> web.StreamResponse:
        if request.match["name"].endswith(".mp4"):
            return web.Response(body=SAMPLE_MP4, content_type="video/mp4")
        return web.Response(body=sample_image(), content_type="image/png")
