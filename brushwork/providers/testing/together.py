"""A fake of Together AI's image generation endpoint."""

from __future__ import annotations

import base64
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
from .support import sample_image

IMAGE_FIELDS = ("model", "prompt", "width", "height", "n", "steps", "seed", "negative_prompt",
                "response_format", "image_url", "disable_safety_checker")


class FakeTogether(FakeProviderServer):
    provider = "together"
    base_path = "/v1"
    result_content_type = "image/png"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        # When set, images come back as URLs even when base64 was requested.
        self.urls_only = False

    def setup_routes(self) -> None:
        self.route("POST", "/images/generations", "submit", self.images_generations)
        self.raw_route("GET", "/files/{name}", "download", self.file)

    def check_auth(self, request: RecordedRequest) -> None:
        require_header(request, "Authorization", f"Bearer {self.api_key}", status=401)

    def error_body(self, status: int, message: str) -> Any:
        return {"error": {"message": message, "type": "invalid_request_error"
                          if status < 500 else "server_error"}}

    async def images_generations(self, request: RecordedRequest) -> web.StreamResponse:
        body = require_json_object(request)
        require_fields(body, required=("model", "prompt"), allowed=IMAGE_FIELDS)
        require(isinstance(body["prompt"], str) and body["prompt"], "prompt must be a string")
        require_choice(body, "response_format", ("url", "base64"))
        count = body.get("n", 1)
        require(isinstance(count, int) and 1 <= count <= 4, "n must be 1-4")
        if "steps" in body:
            require(isinstance(body["steps"], int) and 1 <= body["steps"] <= 50,
                    "steps must be 1-50")
        for side in ("width", "height"):
            if side in body:
                require(isinstance(body[side], int) and body[side] > 0,
                        f"{side} must be a positive integer")
        if "disable_safety_checker" in body:
            require(isinstance(body["disable_safety_checker"], bool),
                    "disable_safety_checker must be a boolean")
        self.submissions += 1
        items: list[dict[str, Any]] = []
        for index in range(count):
            if body.get("response_format") == "base64" and not self.urls_only:
                items.append({"index": index,
                              "b64_json": base64.b64encode(sample_image()).decode("ascii")})
            else:
                items.append({"index": index, "url": self.file_url(f"image-{index}.png")})
        return web.json_response({"id": "img-" + self.new_id(), "model": body["model"],
                                  "object": "list", "data": items})

    async def file(self, request: RecordedRequest) -> web.StreamResponse:
        return web.Response(body=sample_image(), content_type="image/png")
