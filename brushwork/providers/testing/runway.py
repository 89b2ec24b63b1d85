"""A fake of Runway's API: image_to_video and text_to_image tasks."""

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
from .support import SAMPLE_MP4, sample_image

API_VERSION = "2024-11-06"
I2V_FIELDS = ("model", "promptImage", "promptText", "ratio", "duration", "seed",
              "contentModeration")
T2I_FIELDS = ("model", "promptText", "ratio", "referenceImages", "seed")
MAX_DATA_URI = 5_000_000


class FakeRunway(FakeProviderServer):
    provider = "runway"
    result_content_type = "video/mp4"

    def setup_routes(self) -> None:
        self.route("POST", "/v1/image_to_video", "submit", self.image_to_video)
        self.route("POST", "/v1/text_to_image", "submit", self.text_to_image)
        self.route("GET", "/v1/tasks/{id}", "poll", self.get_task)
        self.route("DELETE", "/v1/tasks/{id}", "cancel", self.delete_task)
        self.raw_route("GET", "/files/{name}", "download", self.file)

    def check_auth(self, request: RecordedRequest) -> None:
        require_header(request, "Authorization", f"Bearer {self.api_key}", status=401)
        require_header(request, "X-Runway-Version", API_VERSION)

    def error_body(self, status: int, message: str) -> Any:
        # The error body shape is not documented in the sources; this one is the fake's own.
        return {"error": message}

    async def image_to_video(self, request: RecordedRequest) -> web.StreamResponse:
        body = require_json_object(request)
        require_fields(body, required=("model", "promptImage", "ratio"), allowed=I2V_FIELDS)
        require_choice(body, "model", ("gen4.5", "gen4_turbo", "gen3a_turbo", "veo3.1",
                                       "veo3.1_fast"))
        require_choice(body, "ratio", ("1280:720", "720:1280", "1104:832", "960:960",
                                       "832:1104", "1584:672"))
        image = body["promptImage"]
        require(isinstance(image, str), "promptImage must be a string here")
        if image.startswith("data:"):
            require(image.startswith(("data:image/png;base64,", "data:image/jpeg;base64,")),
                    "promptImage data URI must be a base64 PNG or JPEG")
            require(len(image) <= MAX_DATA_URI, "promptImage data URI is over 5 MB")
        else:
            require(image.startswith("https://"), "promptImage must be https or a data URI")
        if "promptText" in body:
            units = len(body["promptText"].encode("utf-16-le")) // 2
            require(units <= 1000, "promptText is over 1000 UTF-16 code units")
        if "seed" in body:
            require(0 <= int(body["seed"]) <= 4294967295, "seed out of range")
        job = self.create_job(kind="video", body=body)
        return web.json_response({"id": job["id"]})

    async def text_to_image(self, request: RecordedRequest) -> web.StreamResponse:
        body = require_json_object(request)
        require_fields(body, required=("model", "promptText", "ratio"), allowed=T2I_FIELDS)
        require_choice(body, "model", ("gen4_image", "gen4_image_turbo"))
        job = self.create_job(kind="image", body=body)
        return web.json_response({"id": job["id"]})

    async def get_task(self, request: RecordedRequest) -> web.StreamResponse:
        job = self.jobs.get(request.match["id"])
        require(job is not None, "task not found", 404)
        assert job is not None
        phase = self.advance(job)
        task: dict[str, Any] = {"id": job["id"], "createdAt": "2025-01-01T00:00:00Z"}
        if phase == "queued":
            task["status"] = "THROTTLED" if job["polls"] % 2 else "PENDING"
        elif phase == "running":
            task.update(status="RUNNING", progress=0.4)
        elif phase == "cancelled":
            task["status"] = "CANCELLED"
        elif phase == "failed":
            task.update(status="FAILED", failure=job["fail"], failureCode="INTERNAL.BAD_OUTPUT")
        else:
            name = f"{job['id']}.mp4" if job["kind"] == "video" else f"{job['id']}.png"
            task.update(status="SUCCEEDED", output=[self.file_url(name)])
        return web.json_response(task)

    async def delete_task(self, request: RecordedRequest) -> web.StreamResponse:
        job = self.jobs.get(request.match["id"])
        require(job is not None, "task not found", 404)
        assert job is not None
        job["cancelled"] = True
        self.cancelled_jobs.append(job["id"])
        return web.Response(status=204)

    async def file(self, request: RecordedRequest) -> web.StreamResponse:
        if request.match["name"].endswith(".mp4"):
            return web.Response(body=SAMPLE_MP4, content_type="video/mp4")
        return web.Response(body=sample_image(), content_type="image/png")
