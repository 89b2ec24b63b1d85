"""A fake of Stability AI's v2beta stable-image generate endpoints."""

from __future__ import annotations

import base64
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

CORE_FIELDS = ("prompt", "aspect_ratio", "negative_prompt", "seed", "style_preset",
               "output_format")
ENDPOINT_FIELDS = {
    "core": CORE_FIELDS,
    "ultra": (*CORE_FIELDS, "image", "strength"),
    "sd3": (*CORE_FIELDS, "model", "mode", "image", "strength", "cfg_scale"),
}
ASPECT_RATIOS = ("16:9", "1:1", "21:9", "2:3", "3:2", "4:5", "5:4", "9:16", "9:21")
STYLE_PRESETS = (
    "3d-model", "analog-film", "anime", "cinematic", "comic-book", "digital-art", "enhance",
    "fantasy-art", "isometric", "line-art", "low-poly", "modeling-compound", "neon-punk",
    "origami", "photographic", "pixel-art", "tile-texture",
)


class FakeStability(FakeProviderServer):
    provider = "stability"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        # When set, results come back with finish_reason CONTENT_FILTERED.
        self.content_filtered = False

    def setup_routes(self) -> None:
        self.route("POST", "/v2beta/stable-image/generate/{endpoint}", "submit", self.generate)

    def check_auth(self, request: RecordedRequest) -> None:
        require_header(request, "authorization", f"Bearer {self.api_key}", status=401)

    def error_body(self, status: int, message: str) -> Any:
        return {"id": self.new_id(), "name": "bad_request" if status < 500 else "server_error",
                "errors": [message]}

    async def generate(self, request: RecordedRequest) -> web.StreamResponse:
        endpoint = request.match["endpoint"]
        require(endpoint in ENDPOINT_FIELDS, f"unknown endpoint {endpoint}", 404)
        require(request.content_type == "multipart/form-data",
                f"content type is {request.content_type!r}; the API takes multipart/form-data")
        form = request.form
        require_fields(form, required=("prompt",), allowed=ENDPOINT_FIELDS[endpoint])
        for name, value in form.items():
            if name == "image":
                require(isinstance(value, UploadedFile), "image must be a file part")
            else:
                require(isinstance(value, str), f"{name} must be a text part")
        prompt = str(form["prompt"])
        require(1 <= len(prompt) <= 10000, "prompt must be 1-10000 characters")
        require_choice(form, "aspect_ratio", ASPECT_RATIOS)
        require_choice(form, "style_preset", STYLE_PRESETS)
        require_choice(form, "output_format", ("png", "jpeg", "webp"))
        if "seed" in form:
            require(0 <= int(str(form["seed"])) <= 4294967294, "seed out of range")
        if "strength" in form:
            require(0.0 <= float(str(form["strength"])) <= 1.0, "strength out of range")
            require("image" in form, "strength needs an image")
        if endpoint == "sd3":
            require_choice(form, "mode", ("text-to-image", "image-to-image"))
            if form.get("mode") == "image-to-image":
                require("image" in form, "image-to-image mode needs an image")

        self.submissions += 1
        image = sample_image(image_format="PNG")
        accept = request.headers.get("accept", "image/*")
        if accept == "application/json":
            return web.json_response({
                "image": base64.b64encode(image).decode("ascii"),
                "finish_reason": "CONTENT_FILTERED" if self.content_filtered else "SUCCESS",
                "seed": int(str(form.get("seed", "0"))) or 1234,
            })
        return web.Response(body=image, content_type="image/png")
