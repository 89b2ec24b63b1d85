"""A fake of the Gemini API's ``generateContent`` endpoint (text and image output)."""

from __future__ import annotations

import base64
import binascii
from typing import Any

from aiohttp import web

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
from .support import sample_image

REQUEST_FIELDS = ("contents", "generationConfig", "safetySettings", "systemInstruction",
                  "tools", "toolConfig", "cachedContent")
CONFIG_FIELDS = ("temperature", "topP", "topK", "maxOutputTokens", "seed", "responseModalities",
                 "imageConfig", "candidateCount", "stopSequences", "responseMimeType",
                 "thinkingConfig")
ASPECT_RATIOS = ("1:1", "2:3", "3:2", "3:4", "4:3", "9:16", "16:9", "21:9")
# google.rpc status names by HTTP status, as Google APIs send them.
STATUS_NAMES = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED",
                404: "NOT_FOUND", 422: "INVALID_ARGUMENT", 429: "RESOURCE_EXHAUSTED",
                500: "INTERNAL", 503: "UNAVAILABLE"}


class FakeGemini(FakeProviderServer):
    provider = "gemini"
    base_path = "/v1beta"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        # When set, the next prompts are blocked with this promptFeedback.blockReason.
        self.block_reason: str | None = None
        # When set, responses contain text only, even when an image was requested.
        self.text_only = False

    def setup_routes(self) -> None:
        self.route("POST", "/models/{model}:generateContent", "submit", self.generate)

    def check_auth(self, request: RecordedRequest) -> None:
        require_header(request, "x-goog-api-key", self.api_key, status=401)

    def error_body(self, status: int, message: str) -> Any:
        return {"error": {"code": status, "message": message,
                          "status": STATUS_NAMES.get(status, "UNKNOWN"), "details": []}}

    async def generate(self, request: RecordedRequest) -> web.StreamResponse:
        body = require_json_object(request)
        require_fields(body, required=("contents",), allowed=REQUEST_FIELDS)
        text, images = _read_contents(body["contents"])
        config = body.get("generationConfig") or {}
        require(isinstance(config, dict), "generationConfig must be an object")
        require_fields(config, required=(), allowed=CONFIG_FIELDS)
        modalities = config.get("responseModalities") or ["TEXT"]
        require(set(modalities) <= {"TEXT", "IMAGE", "AUDIO"},
                f"invalid responseModalities {modalities}")
        image_config = config.get("imageConfig") or {}
        require_fields(image_config, required=(), allowed=("aspectRatio", "imageSize"))
        require_choice(image_config, "aspectRatio", ASPECT_RATIOS)
        require_choice(image_config, "imageSize", ("1K", "2K", "4K"))
        if "systemInstruction" in body:
            _read_contents([{"role": "user", **body["systemInstruction"]}])

        self.submissions += 1
        if self.block_reason:
            return web.json_response({"promptFeedback": {"blockReason": self.block_reason},
                                      "modelVersion": request.match["model"]})
        parts: list[dict[str, Any]] = [
            {"text": f"echo: {text}" + (f" (+{images} images)" if images else "")}
        ]
        if "IMAGE" in modalities and not self.text_only:
            parts.append({"inlineData": {
                "mimeType": "image/png",
                "data": base64.b64encode(sample_image()).decode("ascii"),
            }})
        return web.json_response({
            "candidates": [{"content": {"role": "model", "parts": parts},
                            "finishReason": "STOP", "index": 0}],
            "usageMetadata": {"promptTokenCount": 10, "candidatesTokenCount": 5,
                              "totalTokenCount": 15},
            "modelVersion": request.match["model"],
            "responseId": self.new_id(),
        })


def _read_contents(contents: Any) -> tuple[str, int]:
    """Check ``contents`` and return the last text part and the number of image parts."""
    require(isinstance(contents, list) and contents, "contents must be a non-empty list")
    text, images = "", 0
    for content in contents:
        require(isinstance(content, dict), "each content must be an object")
        require(content.get("role", "user") in ("user", "model"),
                f"invalid role {content.get('role')!r}")
        parts = content.get("parts")
        require(isinstance(parts, list) and parts, "parts must be a non-empty list")
        for part in parts:
            if isinstance(part, dict) and "text" in part:
                text = str(part["text"])
            elif isinstance(part, dict) and isinstance(part.get("inlineData"), dict):
                inline = part["inlineData"]
                require(str(inline.get("mimeType", "")).startswith("image/"),
                        "inlineData.mimeType must be an image type here")
                try:
                    base64.b64decode(str(inline.get("data", "")), validate=True)
                except (binascii.Error, ValueError):
                    raise RequestProblem(400, "inlineData.data is not valid base64") from None
                images += 1
            else:
                raise RequestProblem(400, f"unknown part {part!r:.80}")
    return text, images
