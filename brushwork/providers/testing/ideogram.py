"""A fake of Ideogram's v3 generate endpoint and its expiring image URLs."""

from __future__ import annotations

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
)
from .support import sample_image

FIELDS = ("prompt", "seed", "resolution", "aspect_ratio", "rendering_speed", "magic_prompt",
          "negative_prompt", "num_images", "color_palette", "style_codes", "style_type",
          "style_preset", "style_reference_images", "character_reference_images",
          "character_reference_images_mask")
ASPECT_RATIOS = ("1x3", "3x1", "1x2", "2x1", "9x16", "16x9", "10x16", "16x10", "2x3", "3x2",
                 "3x4", "4x3", "4x5", "5x4", "1x1")


class FakeIdeogram(FakeProviderServer):
    provider = "ideogram"
    result_content_type = "image/png"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        # When set, every generated image is reported unsafe and has no URL.
        self.unsafe_images = False

    def setup_routes(self) -> None:
        self.route("POST", "/v1/ideogram-v3/generate", "submit", self.generate)
        self.raw_route("GET", "/files/{name}", "download", self.file)

    def check_auth(self, request: RecordedRequest) -> None:
        require_header(request, "Api-Key", self.api_key, status=401)

    def error_body(self, status: int, message: str) -> Any:
        # The error body shape is not documented in the sources; this one is the fake's own.
        return {"detail": message}

    async def generate(self, request: RecordedRequest) -> web.StreamResponse:
        require(request.content_type == "multipart/form-data",
                f"content type is {request.content_type!r}; the API takes multipart/form-data")
        form = request.form
        require_fields(form, required=("prompt",), allowed=FIELDS)
        for name, value in form.items():
            require(isinstance(value, str), f"{name} must be a text part")
        require(str(form["prompt"]).strip() != "", "prompt must not be empty")
        require(not ("resolution" in form and "aspect_ratio" in form),
                "resolution and aspect_ratio cannot be combined")
        require_choice(form, "aspect_ratio", ASPECT_RATIOS)
        require_choice(form, "rendering_speed", ("FLASH", "TURBO", "DEFAULT", "QUALITY"))
        require_choice(form, "magic_prompt", ("AUTO", "ON", "OFF"))
        require_choice(form, "style_type", ("AUTO", "GENERAL", "REALISTIC", "DESIGN", "FICTION"))
        count = int(str(form.get("num_images", "1")))
        require(count >= 1, "num_images must be at least 1")
        seed = int(str(form.get("seed", "1234")))
        require(0 <= seed <= 2147483647, "seed out of range")

        self.submissions += 1
        data = []
        for index in range(count):
            data.append({
                "url": None if self.unsafe_images else self.file_url(f"{self.new_id()}.png"),
                "prompt": form["prompt"],
                "resolution": "1024x1024",
                "is_image_safe": not self.unsafe_images,
                "seed": seed + index,
                "style_type": form.get("style_type", "GENERAL"),
            })
        return web.json_response({"created": time.strftime("%Y-%m-%dT%H:%M:%SZ"), "data": data})

    async def file(self, request: RecordedRequest) -> web.StreamResponse:
        return web.Response(body=sample_image(), content_type="image/png")
