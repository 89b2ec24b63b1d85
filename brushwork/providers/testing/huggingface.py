"""A fake of Hugging Face Inference's text-to-image task on the HF-hosted provider."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from .faults import Fault, FaultKind
from .server import (
    FakeProviderServer,
    RecordedRequest,
    require,
    require_fields,
    require_header,
    require_json_object,
)
from .support import sample_image

PARAMETERS = ("guidance_scale", "height", "width", "negative_prompt", "num_inference_steps",
              "scheduler", "seed")


class FakeHuggingFace(FakeProviderServer):
    provider = "huggingface"
    base_path = "/hf-inference"
    result_content_type = "image/png"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        # Model ids the fake serves; any other gets 404 like an unknown model.
        self.models = {"black-forest-labs/FLUX.1-schnell", "stabilityai/sdxl-turbo"}

    def content_type_for(self, phase: str) -> str:
        # The image is the body of the response to the request itself.
        return self.result_content_type

    def setup_routes(self) -> None:
        self.route("POST", "/models/{owner}/{name}", "submit", self.text_to_image)

    def check_auth(self, request: RecordedRequest) -> None:
        require_header(request, "Authorization", f"Bearer {self.api_key}", status=401)

    def error_body(self, status: int, message: str) -> Any:
        return {"error": message}

    async def _apply_fault(self, fault: Fault, request: web.Request,
                           phase: str) -> web.StreamResponse:
        if fault.kind is FaultKind.MALFORMED_JSON:
            # The response is an image, not JSON, so this fault sends a complete body
            # that is not an image.
            return web.Response(status=200, body=b"\x89PNG garbage",
                                content_type=self.result_content_type)
        return await super()._apply_fault(fault, request, phase)

    async def text_to_image(self, request: RecordedRequest) -> web.StreamResponse:
        model = f"{request.match['owner']}/{request.match['name']}"
        require(model in self.models, f"Model {model} does not exist", 404)
        body = require_json_object(request)
        require_fields(body, required=("inputs",), allowed=("parameters",))
        require(isinstance(body["inputs"], str) and body["inputs"], "inputs must be a prompt")
        parameters = body.get("parameters", {})
        require(isinstance(parameters, dict), "parameters must be an object")
        require_fields(parameters, required=(), allowed=PARAMETERS)
        for name in ("height", "width", "num_inference_steps", "seed"):
            if name in parameters:
                require(isinstance(parameters[name], int) and parameters[name] >= 0,
                        f"{name} must be a non-negative integer")
        self.submissions += 1
        return web.Response(body=sample_image(), content_type="image/png")
