"""A fake of fal.ai's queue API: submit, status, result, cancel, and output files."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from ..media import data_uri
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

PIKA_TEXT_TO_VIDEO = "fal-ai/pika/v2.2/text-to-video"
PIKA_FIELDS = ("prompt", "seed", "negative_prompt", "aspect_ratio", "resolution", "duration")


class FakeFal(FakeProviderServer):
    provider = "fal"
    result_content_type = "image/png"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        # What generic models output when they finish: "images" (``image_count`` image
        # files), "video" (one video file), "data_uri" (one image as a data URI) or "none".
        self.output_kind = "images"
        self.image_count = 1

    def setup_routes(self) -> None:
        self.route("POST", "/{model:.+}", "submit", self.submit)
        self.route("GET", "/{owner}/{app}/requests/{id}/status", "poll", self.status)
        self.route("GET", "/{owner}/{app}/requests/{id}", "result", self.result)
        self.route("PUT", "/{owner}/{app}/requests/{id}/cancel", "cancel", self.cancel)
        self.raw_route("GET", "/files/{name}", "download", self.file)

    def check_auth(self, request: RecordedRequest) -> None:
        require_header(request, "Authorization", f"Key {self.api_key}", status=401)

    def error_body(self, status: int, message: str) -> Any:
        return {"detail": message}

    async def submit(self, request: RecordedRequest) -> web.StreamResponse:
        model = request.match["model"]
        parts = model.split("/")
        require(2 <= len(parts) and all(parts), f"model path {model!r} is invalid", 404)
        body = require_json_object(request)
        if model == PIKA_TEXT_TO_VIDEO:
            require_fields(body, required=("prompt",), allowed=PIKA_FIELDS)
            require_choice(body, "aspect_ratio", ("16:9", "9:16", "1:1", "4:5", "5:4", "3:2",
                                                  "2:3"))
            require_choice(body, "resolution", ("720p", "1080p"))
            require_choice(body, "duration", (5, 10))
        job = self.create_job(model=model, body=body)
        # Status and result URLs name owner/app only, without the subpath.
        base = f"{self.origin}/{parts[0]}/{parts[1]}/requests/{job['id']}"
        return web.json_response({
            "request_id": job["id"],
            "response_url": base,
            "status_url": f"{base}/status",
            "cancel_url": f"{base}/cancel",
        })

    def _job(self, request: RecordedRequest) -> dict[str, Any]:
        job = self.jobs.get(request.match["id"])
        require(job is not None, "Request not found", 404)
        assert job is not None
        owner, app = job["model"].split("/")[:2]
        require((request.match["owner"], request.match["app"]) == (owner, app),
                "Request not found for this app", 404)
        return job

    async def status(self, request: RecordedRequest) -> web.StreamResponse:
        job = self._job(request)
        phase = self.advance(job)
        if phase == "queued":
            return web.json_response({"status": "IN_QUEUE", "queue_position": 2,
                                      "request_id": job["id"]})
        if phase == "running":
            return web.json_response({"status": "IN_PROGRESS", "request_id": job["id"],
                                      "logs": [{"message": "working"}]})
        body: dict[str, Any] = {"status": "COMPLETED", "request_id": job["id"], "logs": [],
                                "metrics": {"inference_time": 1.2}}
        if phase == "failed":
            body.update(error=job["fail"], error_type="fake_failure")
        job["completed"] = True
        return web.json_response(body)

    async def result(self, request: RecordedRequest) -> web.StreamResponse:
        job = self._job(request)
        require(job.get("completed", False), "Request is still in progress", 400)
        if job["model"] == PIKA_TEXT_TO_VIDEO:
            return web.json_response({"video": {"url": self.file_url(f"{job['id']}.mp4"),
                                                "content_type": "video/mp4"}})
        if self.output_kind == "video":
            return web.json_response({"video": {"url": self.file_url(f"{job['id']}.mp4")},
                                      "seed": 7})
        if self.output_kind == "none":
            return web.json_response({"seed": 7, "has_nsfw_concepts": [False]})
        if self.output_kind == "data_uri":
            png = data_uri(sample_image(), "image/png")
            return web.json_response({"images": [{"url": png, "content_type": "image/png"}]})
        images = [{"url": self.file_url(f"{job['id']}-{index}.png"), "width": 16, "height": 12,
                   "content_type": "image/png"} for index in range(self.image_count)]
        return web.json_response({"images": images, "seed": 7, "has_nsfw_concepts": [False]})

    async def cancel(self, request: RecordedRequest) -> web.StreamResponse:
        job = self._job(request)
        job["cancelled"] = True
        self.cancelled_jobs.append(job["id"])
        # The cancel response body is not documented; this one is the fake's own.
        return web.json_response({"status": "CANCELLATION_REQUESTED"})

    async def file(self, request: RecordedRequest) -> web.StreamResponse:
        if request.match["name"].endswith(".mp4"):
            return web.Response(body=SAMPLE_MP4, content_type="video/mp4")
        return web.Response(body=sample_image(), content_type="image/png")
