"""A fake of Tripo's OpenAPI: model tasks, image uploads, task polling, model downloads."""

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

# The 12-byte header of a binary glTF file followed by padding: enough for a content check.
SAMPLE_GLB = b"glTF\x02\x00\x00\x00\x40\x00\x00\x00" + b"\x00" * 52

TASK_TYPES = ("text_to_model", "image_to_model", "multiview_to_model", "text_to_image",
              "generate_image", "texture_model", "refine_model", "animate_prerigcheck",
              "animate_rig", "animate_retarget", "stylize_model", "convert_model")
MODEL_VERSIONS = ("v2.5-20250123", "v3.0-20250812", "v3.1-20260211", "P1-20260311",
                  "Turbo-v1.0-20250506")
MODEL_FIELDS = ("model_version", "face_limit", "texture", "pbr", "model_seed", "texture_seed",
                "texture_quality", "geometry_quality", "auto_size", "quad", "style")
TEXT_FIELDS = ("type", "prompt", "negative_prompt", "image_seed", *MODEL_FIELDS)
IMAGE_FIELDS = ("type", "file", "texture_alignment", "orientation", *MODEL_FIELDS)


class FakeTripo(FakeProviderServer):
    provider = "tripo"
    base_path = "/v2/openapi"
    result_content_type = "model/gltf-binary"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.uploads: dict[str, UploadedFile] = {}

    def setup_routes(self) -> None:
        self.route("POST", "/task", "submit", self.create_task)
        self.route("POST", "/upload", "upload", self.upload)
        self.route("GET", "/task/{id}", "poll", self.get_task)
        self.raw_route("GET", "/files/{name}", "download", self.file)

    def check_auth(self, request: RecordedRequest) -> None:
        require_header(request, "Authorization", f"Bearer {self.api_key}", status=401)

    def error_body(self, status: int, message: str) -> Any:
        # The shape is documented; the code list is not, so the codes are the fake's own.
        return {"code": 1000 + status, "message": message,
                "suggestion": "check the request against the API reference"}

    async def upload(self, request: RecordedRequest) -> web.StreamResponse:
        require(request.content_type == "multipart/form-data",
                "content type must be multipart/form-data")
        require_fields(request.form, required=("file",), allowed=("file",))
        upload = request.form["file"]
        require(isinstance(upload, UploadedFile), "file must be a file part")
        assert isinstance(upload, UploadedFile)
        require(upload.content_type in ("image/png", "image/jpeg", "image/webp"),
                "file must be a PNG, JPEG or WebP image")
        token = self.new_id()
        self.uploads[token] = upload
        return web.json_response({"code": 0, "data": {"image_token": token}})

    async def create_task(self, request: RecordedRequest) -> web.StreamResponse:
        body = require_json_object(request)
        require("type" in body, "missing required fields: type", 422)
        require_choice(body, "type", TASK_TYPES)
        if body["type"] == "text_to_model":
            require_fields(body, required=("type", "prompt"), allowed=TEXT_FIELDS)
            require(isinstance(body["prompt"], str) and body["prompt"].strip(),
                    "prompt must be a non-empty string")
        elif body["type"] == "image_to_model":
            require_fields(body, required=("type", "file"), allowed=IMAGE_FIELDS)
            file = body["file"]
            require(isinstance(file, dict) and file.get("type") in ("jpg", "png", "webp"),
                    "file.type must be jpg, png or webp")
            require(file.get("file_token") in self.uploads, "file.file_token is not an upload")
            require_choice(body, "orientation", ("default", "align_image"))
            require_choice(body, "texture_alignment", ("original_image", "geometry"))
        else:
            require(False, f"the fake does not serve task type {body['type']}")
        require_choice(body, "model_version", MODEL_VERSIONS)
        for name in ("texture_quality", "geometry_quality"):
            require_choice(body, name, ("standard", "detailed"))
        for name in ("texture", "pbr", "quad", "auto_size"):
            if name in body:
                require(isinstance(body[name], bool), f"{name} must be a boolean")
        if "face_limit" in body:
            require(isinstance(body["face_limit"], int) and body["face_limit"] > 0,
                    "face_limit must be a positive integer")
        job = self.create_job(body=body)
        return web.json_response({"code": 0, "data": {"task_id": job["id"]}})

    async def get_task(self, request: RecordedRequest) -> web.StreamResponse:
        job = self.jobs.get(request.match["id"])
        require(job is not None, "task not found", 404)
        assert job is not None
        phase = self.advance(job)
        status = {"queued": "queued", "running": "running", "failed": "failed",
                  "done": "success", "cancelled": "cancelled"}[phase]
        progress = {"queued": 0, "running": 50}.get(phase, 100)
        data: dict[str, Any] = {
            "task_id": job["id"],
            "type": job["body"]["type"],
            "status": status,
            "input": job["body"],
            "output": {},
            "progress": progress,
            "create_time": 1735689600,
        }
        if phase == "queued":
            data["queuing_num"] = 3
        if phase == "running":
            data["running_left_time"] = 20
        if status == "success":
            key = "pbr_model" if job["body"].get("pbr") else "model"
            data["output"] = {key: self.file_url(f"{job['id']}.glb"),
                              "rendered_image": self.file_url(f"{job['id']}.webp")}
        return web.json_response({"code": 0, "data": data})

    async def file(self, request: RecordedRequest) -> web.StreamResponse:
        if request.match["name"].endswith(".glb"):
            return web.Response(body=SAMPLE_GLB, content_type="model/gltf-binary")
        return web.Response(body=sample_image(image_format="WEBP"), content_type="image/webp")
