"""A fake of Replicate's predictions API: create, poll, cancel, and output files."""

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
    require_json_object,
)
from .support import SAMPLE_MP4, sample_image

CREATE_FIELDS = ("version", "input", "webhook", "webhook_completed", "webhook_events_filter",
                 "stream")
MODEL_CREATE_FIELDS = ("input", "webhook", "webhook_completed", "webhook_events_filter",
                       "stream")
_NAME = re.compile(r"^[A-Za-z0-9._-]+$")


class FakeReplicate(FakeProviderServer):
    provider = "replicate"
    result_content_type = "image/png"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        # What finished predictions output: "images" (a list of ``image_count`` PNG URLs),
        # "video" (one MP4 URL), or "none" (null).
        self.output_kind = "images"
        self.image_count = 1

    def setup_routes(self) -> None:
        self.route("POST", "/v1/predictions", "submit", self.create)
        self.route("POST", "/v1/models/{owner}/{name}/predictions", "submit", self.create_for_model)
        self.route("GET", "/v1/predictions/{id}", "poll", self.get)
        self.route("POST", "/v1/predictions/{id}/cancel", "cancel", self.cancel)
        self.raw_route("GET", "/files/{name}", "download", self.file)

    def check_auth(self, request: RecordedRequest) -> None:
        if request.headers.get("authorization") != f"Bearer {self.api_key}":
            raise RequestProblem(401, "You did not pass a valid authentication token")

    def error_body(self, status: int, message: str) -> Any:
        # The RFC 7807 shape and the 429 detail are documented; the titles are the fake's own.
        titles = {401: "Unauthenticated", 404: "Not found", 422: "Input validation failed",
                  429: "Request was throttled"}
        if status == 429:
            message = "Request was throttled. Your rate limit resets in ~30s."
        return {"type": "about:blank", "title": titles.get(status, "Request failed"),
                "status": status, "detail": message}

    async def create(self, request: RecordedRequest) -> web.StreamResponse:
        body = require_json_object(request)
        require_fields(body, required=("version", "input"), allowed=CREATE_FIELDS)
        require(isinstance(body["version"], str) and _NAME.match(body["version"]) is not None,
                "version must be a version id", 422)
        require(isinstance(body["input"], dict), "input must be an object", 422)
        return self._created(self.create_job(body=body, model=None), status=201)

    async def create_for_model(self, request: RecordedRequest) -> web.StreamResponse:
        body = require_json_object(request)
        require_fields(body, required=("input",), allowed=MODEL_CREATE_FIELDS)
        require(isinstance(body["input"], dict), "input must be an object", 422)
        model = f"{request.match['owner']}/{request.match['name']}"
        return self._created(self.create_job(body=body, model=model), status=201)

    def _prediction(self, job: dict[str, Any], status: str) -> dict[str, Any]:
        prediction: dict[str, Any] = {
            "id": job["id"],
            "model": job["model"] or "owner/model",
            "version": job["body"].get("version", "hidden"),
            "status": status,
            "input": job["body"]["input"],
            "output": None,
            "logs": "",
            "error": None,
            "metrics": {},
            "created_at": "2025-01-01T00:00:00.000Z",
            "urls": {"get": f"{self.origin}/v1/predictions/{job['id']}",
                     "cancel": f"{self.origin}/v1/predictions/{job['id']}/cancel"},
        }
        if status == "succeeded":
            prediction["output"] = self._output(job)
            prediction["metrics"] = {"predict_time": 1.5}
        if status == "failed":
            prediction["error"] = job["fail"]
        return prediction

    def _output(self, job: dict[str, Any]) -> Any:
        if self.output_kind == "video":
            return self.file_url(f"{job['id']}.mp4")
        if self.output_kind == "none":
            return None
        return [self.file_url(f"{job['id']}-{index}.png") for index in range(self.image_count)]

    def _created(self, job: dict[str, Any], status: int) -> web.StreamResponse:
        return web.json_response(self._prediction(job, "starting"), status=status)

    async def get(self, request: RecordedRequest) -> web.StreamResponse:
        job = self.jobs.get(request.match["id"])
        require(job is not None, "prediction not found", 404)
        assert job is not None
        phase = self.advance(job)
        status = {"queued": "starting", "running": "processing", "failed": "failed",
                  "done": "succeeded", "cancelled": "canceled"}[phase]
        return web.json_response(self._prediction(job, status))

    async def cancel(self, request: RecordedRequest) -> web.StreamResponse:
        job = self.jobs.get(request.match["id"])
        require(job is not None, "prediction not found", 404)
        assert job is not None
        job["cancelled"] = True
        self.cancelled_jobs.append(job["id"])
        return web.json_response(self._prediction(job, "canceled"))

    async def file(self, request: RecordedRequest) -> web.StreamResponse:
        if request.match["name"].endswith(".mp4"):
            return web.Response(body=SAMPLE_MP4, content_type="video/mp4")
        return web.Response(body=sample_image(), content_type="image/png")
