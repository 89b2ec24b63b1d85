"""A fake of Topaz Labs' image API: enhance jobs, status, result links, cancellation."""

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
)
from .support import sample_image

COMMON_FIELDS = ("image", "source_id", "source_url", "model", "output_format", "webhook_url",
                 "output_width", "output_height", "crop_to_fill", "face_enhancement",
                 "face_enhancement_strength", "face_enhancement_creativity")
ENDPOINT_FIELDS = {
    "enhance": (*COMMON_FIELDS, "subject_detection"),
    "enhance-gen": (*COMMON_FIELDS, "subject_detection", "prompt", "creativity",
                    "face_preservation", "color_preservation"),
}
ENDPOINT_MODELS = {
    "enhance": ("Standard V2", "Low Resolution V2", "CGI", "High Fidelity V2", "Text Refine"),
    "enhance-gen": ("Reimagine",),
}
BOOLEAN_FIELDS = ("crop_to_fill", "face_enhancement", "face_preservation", "color_preservation")


class FakeTopaz(FakeProviderServer):
    provider = "topaz"
    base_path = "/image/v1"
    result_content_type = "image/png"

    def setup_routes(self) -> None:
        self.route("POST", "/enhance/async", "submit", self.enhance)
        self.route("POST", "/enhance-gen/async", "submit", self.enhance_gen)
        self.route("GET", "/status/{id}", "poll", self.status)
        # The result link is fetched once the job is done; it is its own phase.
        self.route("GET", "/download/{id}", "result", self.download_link)
        self.route("DELETE", "/cancel/{id}", "cancel", self.cancel)
        self.raw_route("GET", "/files/{name}", "download", self.file)

    def check_auth(self, request: RecordedRequest) -> None:
        require_header(request, "X-API-Key", self.api_key, status=401)

    def error_body(self, status: int, message: str) -> Any:
        return {"code": status, "message": message}

    async def enhance(self, request: RecordedRequest) -> web.StreamResponse:
        return await self._create(request, "enhance")

    async def enhance_gen(self, request: RecordedRequest) -> web.StreamResponse:
        return await self._create(request, "enhance-gen")

    async def _create(self, request: RecordedRequest, endpoint: str) -> web.StreamResponse:
        require(request.content_type == "multipart/form-data",
                f"content type is {request.content_type!r}; the API takes multipart/form-data")
        form = request.form
        require_fields(form, required=(), allowed=ENDPOINT_FIELDS[endpoint])
        require(("image" in form) + ("source_url" in form) + ("source_id" in form) == 1,
                "send exactly one of image, source_url and source_id")
        for name, value in form.items():
            if name == "image":
                require(isinstance(value, UploadedFile), "image must be a file part")
                assert isinstance(value, UploadedFile)
                require(value.content_type in ("image/png", "image/jpeg", "image/tiff"),
                        f"image type {value.content_type} is not jpeg, png or tiff")
            else:
                require(isinstance(value, str), f"{name} must be a text part")
        require_choice(form, "model", ENDPOINT_MODELS[endpoint])
        require_choice(form, "output_format", ("jpeg", "jpg", "png", "tiff", "tif"))
        for name in BOOLEAN_FIELDS:
            require_choice(form, name, ("true", "false"))
        if form.get("face_enhancement") == "true":
            for name in ("face_enhancement_strength", "face_enhancement_creativity"):
                require(name in form, f"{name} is required with face_enhancement")
                require(0.0 <= float(str(form[name])) <= 1.0, f"{name} must be 0-1")
        if "creativity" in form:
            require(1 <= int(str(form["creativity"])) <= 9, "creativity must be 1-9")
        width = int(str(form.get("output_width", "0")))
        height = int(str(form.get("output_height", "0")))
        require(width * height <= 512_000_000, "the output is over 512 megapixels")
        job = self.create_job(endpoint=endpoint)
        return web.json_response({"process_id": job["id"], "eta": 1_700_000_060})

    def _lookup(self, request: RecordedRequest) -> dict[str, Any]:
        job = self.jobs.get(request.match["id"])
        require(job is not None, "process not found", 404)
        assert job is not None
        return job

    async def status(self, request: RecordedRequest) -> web.StreamResponse:
        job = self._lookup(request)
        phase = self.advance(job)
        status, progress = {"queued": ("Pending", 0), "running": ("Processing", 40),
                            "failed": ("Failed", 0), "cancelled": ("Cancelled", 0),
                            "done": ("Completed", 100)}[phase]
        job["status"] = status
        return web.json_response({"process_id": job["id"], "status": status,
                                  "progress": progress, "credits": 1})

    async def download_link(self, request: RecordedRequest) -> web.StreamResponse:
        job = self._lookup(request)
        require(job.get("status") == "Completed", "the image is not ready", 409)
        return web.json_response({"download_url": self.file_url(f"{job['id']}.png"),
                                  "head_url": self.file_url(f"{job['id']}.png"),
                                  "expiry": 1_700_003_600})

    async def cancel(self, request: RecordedRequest) -> web.StreamResponse:
        job = self._lookup(request)
        require(job.get("status") not in ("Completed", "Failed", "Cancelled"),
                "the job cannot be cancelled in its current state", 409)
        job["cancelled"] = True
        self.cancelled_jobs.append(job["id"])
        return web.Response(status=204)

    async def file(self, request: RecordedRequest) -> web.StreamResponse:
        return web.Response(body=sample_image(width=32, height=24), content_type="image/png")
