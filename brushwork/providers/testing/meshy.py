"""A fake of Meshy's text-to-3D API: preview and refine tasks, polling, model downloads."""

from __future__ import annotations

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
from .tripo import SAMPLE_GLB

PREVIEW_FIELDS = ("mode", "prompt", "art_style", "ai_model", "topology", "target_polycount",
                  "should_remesh", "symmetry_mode", "pose_mode", "seed", "moderation")
REFINE_FIELDS = ("mode", "preview_task_id", "enable_pbr", "texture_prompt",
                 "texture_image_url", "ai_model", "moderation")
FORMATS = ("glb", "fbx", "obj", "usdz")


class FakeMeshy(FakeProviderServer):
    provider = "meshy"
    result_content_type = "model/gltf-binary"

    def setup_routes(self) -> None:
        self.route("POST", "/openapi/v2/text-to-3d", "submit", self.create_task)
        self.route("GET", "/openapi/v2/text-to-3d/{id}", "poll", self.get_task)
        self.raw_route("GET", "/files/{name}", "download", self.file)

    def check_auth(self, request: RecordedRequest) -> None:
        require_header(request, "Authorization", f"Bearer {self.api_key}", status=401)

    def error_body(self, status: int, message: str) -> Any:
        # The 400 and 429 pairs and the 404 code are documented; the rest is the fake's own.
        kinds = {
            400: ("invalid_input", "parameters_conflict"),
            404: ("fake_error", "route_not_found"),
            429: ("rate_limited", "rate_limit_exceeded"),
        }
        kind, code = kinds.get(status, ("fake_error", f"fake_status_{status}"))
        return {"type": kind, "code": code, "message": message,
                "doc_url": "https://docs.meshy.ai/en/api/v2/errors"}

    async def create_task(self, request: RecordedRequest) -> web.StreamResponse:
        body = require_json_object(request)
        require("mode" in body, "missing required fields: mode", 400)
        require_choice(body, "mode", ("preview", "refine"))
        if body["mode"] == "preview":
            require_fields(body, required=("mode", "prompt"), allowed=PREVIEW_FIELDS)
            prompt = body["prompt"]
            require(isinstance(prompt, str) and 0 < len(prompt) <= 600,
                    "prompt must be 1-600 characters")
            require_choice(body, "art_style", ("realistic", "sculpture"))
            require_choice(body, "topology", ("quad", "triangle"))
            require_choice(body, "symmetry_mode", ("auto", "on", "off"))
            require_choice(body, "pose_mode", ("", "a-pose", "t-pose"))
            if "target_polycount" in body:
                require(100 <= int(body["target_polycount"]) <= 300000,
                        "target_polycount must be 100-300000")
            if "should_remesh" in body:
                require(isinstance(body["should_remesh"], bool), "should_remesh must be a boolean")
        else:
            require_fields(body, required=("mode", "preview_task_id"), allowed=REFINE_FIELDS)
            preview = self.jobs.get(str(body["preview_task_id"]))
            require(preview is not None, "preview task not found", 404)
            assert preview is not None
            require(preview["body"]["mode"] == "preview" and preview.get("succeeded"),
                    "the preview task has not succeeded")
        job = self.create_job(body=body)
        return web.json_response({"result": job["id"]}, status=202)

    async def get_task(self, request: RecordedRequest) -> web.StreamResponse:
        job = self.jobs.get(request.match["id"])
        require(job is not None, "task not found", 404)
        assert job is not None
        phase = self.advance(job)
        status = {"queued": "PENDING", "running": "IN_PROGRESS", "failed": "FAILED",
                  "done": "SUCCEEDED", "cancelled": "CANCELED"}[phase]
        task: dict[str, Any] = {
            "id": job["id"],
            "type": f"text-to-3d-{job['body']['mode']}",
            "status": status,
            "progress": {"PENDING": 0, "IN_PROGRESS": 40}.get(status, 100),
            "model_urls": {},
            "task_error": {"message": ""},
        }
        if status == "SUCCEEDED":
            job["succeeded"] = True
            task["model_urls"] = {name: self.file_url(f"{job['id']}.{name}") for name in FORMATS}
            task["thumbnail_url"] = self.file_url(f"{job['id']}.png")
        if status == "FAILED":
            task["task_error"] = {"message": job["fail"]}
        return web.json_response(task)

    async def file(self, request: RecordedRequest) -> web.StreamResponse:
        return web.Response(body=SAMPLE_GLB, content_type="model/gltf-binary")
