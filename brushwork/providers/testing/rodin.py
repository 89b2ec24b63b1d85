"""A fake of Rodin (Hyper3D): multipart task creation, status by subscription key, downloads."""

from __future__ import annotations

import time
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
from .tripo import SAMPLE_GLB

FIELDS = ("prompt", "images", "seed", "tier", "material", "quality", "quality_override",
          "mesh_mode", "geometry_file_format", "TAPose", "condition_mode", "addons")
FILE_FORMATS = ("glb", "fbx", "obj", "stl", "usdz")
# Sub-jobs per task; the task is done when all of them are.
JOBS_PER_TASK = 2


class FakeRodin(FakeProviderServer):
    provider = "rodin"
    base_path = "/api/v2"
    result_content_type = "model/gltf-binary"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        # Every "images" part of the last multipart request, in order; the shared
        # recorder keeps one value per field name.
        self.last_images: list[UploadedFile] = []
        # When set, task creation returns 200 with this error instead of a task.
        self.create_error: str | None = None

    def setup_routes(self) -> None:
        self.route("POST", "/rodin", "submit", self.create_task)
        self.route("POST", "/status", "poll", self.status)
        self.route("POST", "/download", "result", self.download)
        self.raw_route("GET", "/files/{name}", "download", self.file)

    async def _record(self, request: web.Request, phase: str) -> RecordedRequest:
        recorded = await super()._record(request, phase)
        if recorded.content_type == "multipart/form-data":
            # aiohttp caches the parsed form, so this reads the parts the recorder saw.
            form = await request.post()
            self.last_images = []
            for item in form.getall("images", []):
                if isinstance(item, web.FileField):
                    item.file.seek(0)
                    self.last_images.append(UploadedFile(item.filename, item.content_type,
                                                         item.file.read()))
        return recorded

    def check_auth(self, request: RecordedRequest) -> None:
        require_header(request, "Authorization", f"Bearer {self.api_key}", status=401)

    def error_body(self, status: int, message: str) -> Any:
        # The sources document only the ``error`` field of an error body.
        return {"error": message}

    async def create_task(self, request: RecordedRequest) -> web.StreamResponse:
        require(request.content_type == "multipart/form-data",
                f"content type is {request.content_type!r}; the API takes multipart/form-data")
        form = request.form
        require_fields(form, required=(), allowed=FIELDS)
        for name, value in form.items():
            if name != "images":
                require(isinstance(value, str), f"{name} must be a text part")

        images = self.last_images
        require(bool(form.get("prompt")) or bool(images), "a prompt or images are required")
        require(len(images) <= 5, "at most 5 images")
        for image in images:
            require(image.content_type in ("image/png", "image/jpeg", "image/webp"),
                    "images must be PNG, JPEG or WebP files")
        require_choice(form, "tier", ("Gen-2", "Regular", "Detail", "Smooth", "Sketch"))
        require_choice(form, "material", ("PBR", "Shaded", "All"))
        require_choice(form, "quality", ("high", "medium", "low", "extra-low"))
        require_choice(form, "mesh_mode", ("Quad", "Raw"))
        require_choice(form, "geometry_file_format", FILE_FORMATS)
        require_choice(form, "condition_mode", ("fuse", "concat"))
        if "seed" in form:
            require(0 <= int(str(form["seed"])) <= 65535, "seed must be 0-65535")

        if self.create_error is not None:
            return web.json_response({"error": self.create_error})
        job = self.create_job(form={key: value for key, value in form.items()
                                    if isinstance(value, str)},
                              images=len(images), subscription_key=f"sub-{self.new_id()}")
        return web.json_response({
            "message": "Submitted.",
            "prompt": form.get("prompt", ""),
            "submit_time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "uuid": job["id"],
            "jobs": {"uuids": [f"{job['id']}-{index}" for index in range(JOBS_PER_TASK)],
                     "subscription_key": job["subscription_key"]},
        })

    async def status(self, request: RecordedRequest) -> web.StreamResponse:
        body = require_json_object(request)
        require_fields(body, required=("subscription_key",), allowed=("subscription_key",))
        job = next((job for job in self.jobs.values()
                    if job["subscription_key"] == body["subscription_key"]), None)
        require(job is not None, "subscription key not found", 404)
        assert job is not None
        phase = self.advance(job)
        # The first sub-job finishes one step before the second, as real tasks do.
        first, second = {"queued": ("Waiting", "Waiting"), "running": ("Done", "Generating"),
                         "failed": ("Done", "Failed"), "done": ("Done", "Done")}[phase]
        return web.json_response({"jobs": [{"uuid": f"{job['id']}-0", "status": first},
                                           {"uuid": f"{job['id']}-1", "status": second}]})

    async def download(self, request: RecordedRequest) -> web.StreamResponse:
        body = require_json_object(request)
        require_fields(body, required=("task_uuid",), allowed=("task_uuid",))
        job = self.jobs.get(str(body["task_uuid"]))
        require(job is not None, "task not found", 404)
        assert job is not None
        require(job["polls"] >= self.polls_until_done and not job["fail"],
                "the task is not done")
        file_format = job["form"].get("geometry_file_format", "glb")
        return web.json_response({"list": [
            {"url": self.file_url(f"{job['id']}-preview.webp"), "name": "preview.webp"},
            {"url": self.file_url(f"{job['id']}.{file_format}"),
             "name": f"base_basic_pbr.{file_format}"},
        ]})

    async def file(self, request: RecordedRequest) -> web.StreamResponse:
        if request.match["name"].endswith(".webp"):
            return web.Response(body=sample_image(image_format="WEBP"), content_type="image/webp")
        return web.Response(body=SAMPLE_GLB, content_type="model/gltf-binary")
