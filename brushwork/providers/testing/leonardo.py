"""A fake of Leonardo.Ai's generations API: create, poll by generation id, image download."""

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

PHOENIX_MODEL_IDS = ("de7d3faf-762f-48e0-b3b7-9d0ac3a3fcf3",)
GENERATION_FIELDS = (
    "prompt", "modelId", "width", "height", "num_images", "negative_prompt", "seed",
    "guidance_scale", "num_inference_steps", "presetStyle", "alchemy", "photoReal",
    "init_image_id", "init_strength", "contrast", "styleUUID", "enhancePrompt",
)
CREDIT_COST = 8


class FakeLeonardo(FakeProviderServer):
    provider = "leonardo"
    base_path = "/api/rest/v1"
    result_content_type = "image/jpeg"

    def setup_routes(self) -> None:
        self.route("POST", "/generations", "submit", self.create_generation)
        self.route("GET", "/generations/{id}", "poll", self.get_generation)
        self.raw_route("GET", "/files/{name}", "download", self.file)

    def check_auth(self, request: RecordedRequest) -> None:
        require_header(request, "Authorization", f"Bearer {self.api_key}", status=401)

    def error_body(self, status: int, message: str) -> Any:
        # The error body shape is not documented in the sources; this one is the fake's own.
        return {"error": message, "code": "bad-request" if status < 500 else "unexpected"}

    async def create_generation(self, request: RecordedRequest) -> web.StreamResponse:
        body = require_json_object(request)
        require_fields(body, required=("prompt",), allowed=GENERATION_FIELDS)
        width = body.get("width", 1024)
        height = body.get("height", 768)
        for name, side in (("width", width), ("height", height)):
            require(isinstance(side, int) and 32 <= side <= 1536, f"{name} must be 32-1536")
        count = body.get("num_images", 4)
        limit = 4 if max(width, height) > 768 else 8
        require(isinstance(count, int) and 1 <= count <= limit,
                f"num_images must be 1-{limit} at {width}x{height}")
        if "guidance_scale" in body:
            require(1 <= body["guidance_scale"] <= 20, "guidance_scale must be 1-20")
        if "contrast" in body:
            require(body["contrast"] in (3, 3.5, 4), "contrast must be 3, 3.5 or 4")
        if body.get("modelId") in PHOENIX_MODEL_IDS:
            require("contrast" in body, "Phoenix models require contrast")
        job = self.create_job(body=body, count=count)
        return web.json_response({"sdGenerationJob": {"generationId": job["id"],
                                                      "apiCreditCost": CREDIT_COST}})

    async def get_generation(self, request: RecordedRequest) -> web.StreamResponse:
        job = self.jobs.get(request.match["id"])
        require(job is not None, "generation not found", 404)
        assert job is not None
        phase = self.advance(job)
        status = {"queued": "PENDING", "running": "PENDING", "failed": "FAILED",
                  "done": "COMPLETE"}[phase]
        images = []
        if status == "COMPLETE":
            images = [{"id": f"{job['id']}-{index}",
                       "url": self.file_url(f"{job['id']}-{index}.jpg"),
                       "nsfw": False, "likeCount": 0} for index in range(job["count"])]
        body = job["body"]
        return web.json_response({"generations_by_pk": {
            "id": job["id"], "status": status, "prompt": body["prompt"],
            "negativePrompt": body.get("negative_prompt", ""), "modelId": body.get("modelId"),
            "imageWidth": body.get("width", 1024), "imageHeight": body.get("height", 768),
            "createdAt": "2025-01-01T00:00:00.000", "generated_images": images,
        }})

    async def file(self, request: RecordedRequest) -> web.StreamResponse:
        return web.Response(body=sample_image(image_format="JPEG"), content_type="image/jpeg")
