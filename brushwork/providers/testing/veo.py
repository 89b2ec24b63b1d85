"""A fake of Veo on the Gemini API: predictLongRunning, operation polling, file download."""

from __future__ import annotations

import base64
import binascii
from typing import Any

from aiohttp import web

from .gemini import STATUS_NAMES
from .server import (
    FakeProviderServer,
    RecordedRequest,
    RequestProblem,
    require,
    require_choice,
    require_fields,
    require_header,
    require_json_object,
)
from .support import SAMPLE_MP4

INSTANCE_FIELDS = ("prompt", "image", "lastFrame", "referenceImages", "video")
PARAMETER_FIELDS = ("aspectRatio", "durationSeconds", "negativePrompt", "resolution",
                    "personGeneration", "enhancePrompt", "sampleCount")
# Parameters the SDK rejects in Gemini API mode (Vertex AI only).
VERTEX_ONLY_PARAMETERS = ("seed", "fps", "generateAudio", "storageUri")


class FakeVeo(FakeProviderServer):
    provider = "veo"
    base_path = "/v1beta"
    result_content_type = "video/mp4"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        # When set, finished operations report one video filtered for this reason, and no samples.
        self.filter_reason: str | None = None

    def setup_routes(self) -> None:
        self.route("POST", "/models/{model}:predictLongRunning", "submit", self.create)
        self.route("GET", "/models/{model}/operations/{operation}", "poll", self.get_operation)
        self.route("GET", "/files/{file}:download", "download", self.download)

    def check_auth(self, request: RecordedRequest) -> None:
        require_header(request, "x-goog-api-key", self.api_key, status=401)

    def error_body(self, status: int, message: str) -> Any:
        return {"error": {"code": status, "message": message,
                          "status": STATUS_NAMES.get(status, "UNKNOWN")}}

    async def create(self, request: RecordedRequest) -> web.StreamResponse:
        body = require_json_object(request)
        require_fields(body, required=("instances",), allowed=("instances", "parameters"))
        instances = body["instances"]
        require(isinstance(instances, list) and len(instances) == 1,
                "instances must hold exactly one instance")
        instance = instances[0]
        require_fields(instance, required=("prompt",), allowed=INSTANCE_FIELDS)
        if "image" in instance:
            _check_image(instance["image"])
        parameters = body.get("parameters") or {}
        for name in VERTEX_ONLY_PARAMETERS:
            require(name not in parameters, f"{name} parameter is not supported by the Gemini API")
        require_fields(parameters, required=(), allowed=PARAMETER_FIELDS)
        require_choice(parameters, "aspectRatio", ("16:9", "9:16"))
        require_choice(parameters, "resolution", ("720p", "1080p"))
        require_choice(parameters, "durationSeconds", (4, 6, 8))
        job = self.create_job(model=request.match["model"], body=body)
        return web.json_response({"name": _operation_name(job)})

    async def get_operation(self, request: RecordedRequest) -> web.StreamResponse:
        job = self.jobs.get(request.match["operation"])
        require(job is not None and job["model"] == request.match["model"],
                "operation not found", 404)
        assert job is not None
        phase = self.advance(job)
        operation: dict[str, Any] = {"name": _operation_name(job)}
        if phase in ("queued", "running"):
            return web.json_response(operation)
        operation["done"] = True
        if phase in ("failed", "cancelled"):
            operation["error"] = {"code": 13, "message": job["fail"] or "cancelled"}
        elif self.filter_reason:
            operation["response"] = {"@type": "type.googleapis.com/google.ai.generativelanguage"
                                              ".v1beta.PredictLongRunningResponse",
                                     "generateVideoResponse": {
                                         "raiMediaFilteredCount": 1,
                                         "raiMediaFilteredReasons": [self.filter_reason]}}
        else:
            uri = f"{self.base_url}/files/{job['id']}:download?alt=media"
            operation["response"] = {"@type": "type.googleapis.com/google.ai.generativelanguage"
                                              ".v1beta.PredictLongRunningResponse",
                                     "generateVideoResponse": {
                                         "generatedSamples": [{"video": {"uri": uri}}]}}
        return web.json_response(operation)

    async def download(self, request: RecordedRequest) -> web.StreamResponse:
        require(request.query.get("alt") == "media", "alt=media is required", 400)
        require(request.match["file"] in self.jobs, "file not found", 404)
        return web.Response(body=SAMPLE_MP4, content_type="video/mp4")


def _operation_name(job: dict[str, Any]) -> str:
    return f"models/{job['model']}/operations/{job['id']}"


def _check_image(image: Any) -> None:
    require(isinstance(image, dict), "image must be an object")
    require("gcsUri" not in image, "gcsUri images are not supported by the Gemini API")
    require_fields(image, required=("bytesBase64Encoded", "mimeType"),
                   allowed=("bytesBase64Encoded", "mimeType"))
    require(image["mimeType"] in ("image/png", "image/jpeg"), "image.mimeType must be PNG or JPEG")
    try:
        base64.b64decode(str(image["bytesBase64Encoded"]), validate=True)
    except (binascii.Error, ValueError):
        raise RequestProblem(400, "image.bytesBase64Encoded is not valid base64") from None
