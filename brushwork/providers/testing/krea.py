"""A fake of Krea's API: Krea 2 image jobs, job polling and cancellation, asset uploads."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from .server import (
    FakeProviderServer,
    RecordedRequest,
    UploadedFile,
    require,
    require_choice,
    require_fields,
    require_header,
    require_json_object,
)
from .support import sample_image

MODELS = ("medium", "medium-turbo", "large")
GENERATE_FIELDS = ("prompt", "aspect_ratio", "resolution", "seed", "creativity", "moodboards",
                   "image_style_references")
ASPECT_RATIOS = ("1:1", "4:3", "3:2", "16:9", "2.35:1", "4:5", "2:3", "9:16")


class FakeKrea(FakeProviderServer):
    provider = "krea"
    result_content_type = "image/png"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        # Image URLs of uploaded assets, which style references must use.
        self.asset_urls: set[str] = set()

    def setup_routes(self) -> None:
        self.route("POST", "/generate/image/krea/krea-2/{model}", "submit", self.generate)
        self.route("GET", "/jobs/{id}", "poll", self.get_job)
        self.route("DELETE", "/jobs/{id}", "cancel", self.cancel_job)
        self.route("POST", "/assets", "upload", self.upload_asset)
        self.raw_route("GET", "/files/{name}", "download", self.file)

    def check_auth(self, request: RecordedRequest) -> None:
        require_header(request, "Authorization", f"Bearer {self.api_key}", status=401)

    def error_body(self, status: int, message: str) -> Any:
        # The error body shape is not documented in the sources; this one is the fake's own.
        return {"error": message}

    async def generate(self, request: RecordedRequest) -> web.StreamResponse:
        require(request.match["model"] in MODELS, f"unknown model {request.match['model']}", 404)
        body = require_json_object(request)
        require_fields(body, required=("prompt", "aspect_ratio", "resolution"),
                       allowed=GENERATE_FIELDS)
        require_choice(body, "aspect_ratio", ASPECT_RATIOS)
        require_choice(body, "resolution", ("1K",))
        require_choice(body, "creativity", ("raw", "low", "medium", "high"))
        if "seed" in body:
            require(isinstance(body["seed"], int) and 0 <= body["seed"] <= 2147483647,
                    "seed must be 0-2147483647")
        for moodboard in body.get("moodboards", []):
            require(-0.5 <= moodboard["strength"] <= 1.5, "moodboard strength must be -0.5-1.5")
        references = body.get("image_style_references", [])
        require(len(references) <= 10, "at most 10 image_style_references")
        for reference in references:
            require(-2.0 <= reference["strength"] <= 2.0, "style strength must be -2-2")
            require(reference["url"] in self.asset_urls, "style reference URL is not an asset")
        job = self.create_job(body=body)
        return web.json_response(self._job(job, "queued"))

    async def get_job(self, request: RecordedRequest) -> web.StreamResponse:
        job = self.jobs.get(request.match["id"])
        require(job is not None, "job not found", 404)
        assert job is not None
        phase = self.advance(job)
        status = {"queued": "backlogged", "running": "processing", "failed": "failed",
                  "cancelled": "cancelled", "done": "completed"}[phase]
        return web.json_response(self._job(job, status))

    async def cancel_job(self, request: RecordedRequest) -> web.StreamResponse:
        job = self.jobs.get(request.match["id"])
        require(job is not None, "job not found", 404)
        assert job is not None
        job["cancelled"] = True
        self.cancelled_jobs.append(job["id"])
        return web.json_response(self._job(job, "cancelled"))

    async def upload_asset(self, request: RecordedRequest) -> web.StreamResponse:
        require(request.content_type == "multipart/form-data", "assets take multipart/form-data")
        upload = request.form.get("file")
        require(isinstance(upload, UploadedFile), "the file part is missing")
        assert isinstance(upload, UploadedFile)
        require((upload.content_type or "").startswith("image/"), "the file is not an image")
        asset_id = self.new_id()
        url = f"{self.origin}/files/asset-{asset_id}.png"
        self.asset_urls.add(url)
        return web.json_response({"id": asset_id, "image_url": url,
                                  "uploaded_at": "2025-01-01T00:00:00Z", "width": 16,
                                  "height": 12, "size_bytes": len(upload.data),
                                  "mime_type": upload.content_type})

    def _job(self, job: dict[str, Any], status: str) -> dict[str, Any]:
        result: dict[str, Any] | None = None
        if status == "completed":
            result = {"urls": [self.file_url(f"{job['id']}.png")]}
        elif status == "failed":
            result = {"error": job["fail"]}
        return {"job_id": job["id"], "status": status, "created_at": "2025-01-01T00:00:00Z",
                "completed_at": "2025-01-01T00:00:09Z" if status == "completed" else None,
                "result": result}

    async def file(self, request: RecordedRequest) -> web.StreamResponse:
        return web.Response(body=sample_image(), content_type="image/png")
