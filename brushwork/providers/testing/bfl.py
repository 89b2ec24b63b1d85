"""A fake of Black Forest Labs' FLUX API: create, get_result polling, result download."""

from __future__ import annotations

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
from .support import sample_image

MODELS = (
    "flux-2-pro", "flux-2-max", "flux-2-flex", "flux-2-klein-4b", "flux-2-klein-9b",
    "flux-pro-1.1", "flux-pro-1.1-ultra", "flux-kontext-pro", "flux-kontext-max",
    "flux-pro-1.0-fill", "flux-pro-1.0-expand",
)
FIELDS = (
    "prompt", "width", "height", "aspect_ratio", "seed", "prompt_upsampling",
    "safety_tolerance", "output_format", "raw", "webhook_url", "webhook_secret",
    "image_prompt", "image_prompt_strength", "input_image", "image", "mask",
    *(f"input_image_{index}" for index in range(2, 10)),
)


class FakeBFL(FakeProviderServer):
    provider = "bfl"
    result_content_type = "image/jpeg"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        # When set, polling URLs name this origin instead of the fake's own.
        self.polling_origin: str | None = None

    def setup_routes(self) -> None:
        self.route("POST", "/v1/{model}", "submit", self.create)
        self.route("GET", "/v1/get_result", "poll", self.get_result)
        self.raw_route("GET", "/files/{name}", "download", self.file)

    def check_auth(self, request: RecordedRequest) -> None:
        require_header(request, "x-key", self.api_key, status=403)

    def error_body(self, status: int, message: str) -> Any:
        # The error body shape is not documented in the sources; this one is the fake's own.
        return {"detail": message}

    async def create(self, request: RecordedRequest) -> web.StreamResponse:
        model = request.match["model"]
        require(model in MODELS, f"unknown model {model}", 404)
        body = require_json_object(request)
        require_fields(body, required=("prompt",), allowed=FIELDS)
        if "safety_tolerance" in body:
            limit = 5 if model.startswith("flux-2") else 6
            require(0 <= int(body["safety_tolerance"]) <= limit, "safety_tolerance out of range",
                    422)
        if "output_format" in body:
            require(body["output_format"] in ("jpeg", "png"), "output_format must be jpeg or png",
                    422)
        if model.startswith("flux-2"):
            for name in ("width", "height"):
                if name in body:
                    require(int(body[name]) % 16 == 0, f"{name} must be a multiple of 16", 422)
        if "input_image" in body:
            require(isinstance(body["input_image"], str) and len(body["input_image"]) > 16,
                    "input_image must be base64 or a URL", 422)
        job = self.create_job(model=model, body=body)
        return web.json_response({
            "id": job["id"],
            "polling_url": f"{self.polling_origin or self.origin}/v1/get_result?id={job['id']}",
            "cost": 4.5,
        })

    async def get_result(self, request: RecordedRequest) -> web.StreamResponse:
        job = self.jobs.get(request.query.get("id", ""))
        if job is None:
            return web.json_response({"id": request.query.get("id"), "status": "Task not found"})
        phase = self.advance(job)
        if phase == "queued":
            return web.json_response({"id": job["id"], "status": "Pending", "progress": None})
        if phase == "running":
            return web.json_response({"id": job["id"], "status": "Pending", "progress": 0.5})
        if phase == "failed":
            return web.json_response({"id": job["id"], "status": job["fail"], "progress": None})
        return web.json_response({
            "id": job["id"],
            "status": "Ready",
            "progress": 1.0,
            "result": {"sample": self.file_url(f"{job['id']}.jpeg"),
                       "prompt": job["body"]["prompt"], "seed": 42},
        })

    async def file(self, request: RecordedRequest) -> web.StreamResponse:
        return web.Response(body=sample_image(image_format="JPEG"), content_type="image/jpeg")
