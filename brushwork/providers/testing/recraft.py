"""A fake of Recraft's ``POST /v1/images/generations``."""

from __future__ import annotations

import base64
import time
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

FIELDS = ("prompt", "model", "n", "size", "style", "substyle", "style_id", "negative_prompt",
          "controls", "response_format", "text_layout")
STYLES = ("realistic_image", "digital_illustration", "vector_illustration", "logo_raster")
SIZES = ("1024x1024", "1365x1024", "1024x1365", "1536x1024", "1024x1536", "1820x1024",
         "1024x1820", "1024x2048", "2048x1024", "1434x1024", "1024x1434", "1024x1280",
         "1280x1024", "1024x1707", "1707x1024")
CREDITS_PER_IMAGE = 40


class FakeRecraft(FakeProviderServer):
    provider = "recraft"
    base_path = "/v1"
    result_content_type = "image/png"

    def setup_routes(self) -> None:
        self.route("POST", "/images/generations", "submit", self.generate)
        self.raw_route("GET", "/files/{name}", "download", self.file)

    def check_auth(self, request: RecordedRequest) -> None:
        require_header(request, "Authorization", f"Bearer {self.api_key}", status=401)

    def error_body(self, status: int, message: str) -> Any:
        # The error body shape is not documented in the sources; this one is the fake's own.
        return {"code": "bad_request" if status < 500 else "internal_error", "message": message}

    async def generate(self, request: RecordedRequest) -> web.StreamResponse:
        body = require_json_object(request)
        require_fields(body, required=("prompt",), allowed=FIELDS)
        prompt = body["prompt"]
        require(isinstance(prompt, str) and prompt.strip() != "", "prompt must not be empty")
        model = body.get("model", "recraftv3")
        require_choice(body, "model", ("recraftv2", "recraftv3", "recraftv4", "recraftv4_1"))
        if model in ("recraftv2", "recraftv3"):
            require(len(prompt) <= 1000, "prompt is over 1000 characters")
        require_choice(body, "style", STYLES)
        require_choice(body, "size", SIZES)
        require_choice(body, "response_format", ("url", "b64_json"))
        count = body.get("n", 1)
        require(isinstance(count, int) and 1 <= count <= 6, "n must be 1-6")

        self.submissions += 1
        data = []
        for _ in range(count):
            item: dict[str, Any] = {"image_id": self.new_id()}
            if body.get("response_format") == "b64_json":
                item["b64_json"] = base64.b64encode(sample_image()).decode("ascii")
            else:
                item["url"] = self.file_url(f"{item['image_id']}.png")
            data.append(item)
        return web.json_response({"created": int(time.time()),
                                  "credits": CREDITS_PER_IMAGE * count, "data": data})

    async def file(self, request: RecordedRequest) -> web.StreamResponse:
        return web.Response(body=sample_image(), content_type="image/png")
