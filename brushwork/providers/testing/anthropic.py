"""A fake of Anthropic's Messages API (``POST /v1/messages``)."""

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
    require_fields,
    require_header,
    require_json_object,
)

API_VERSION = "2023-06-01"
MESSAGE_FIELDS = (
    "model", "max_tokens", "messages", "system", "temperature", "top_p", "top_k",
    "stop_sequences", "tools", "tool_choice", "thinking", "metadata", "service_tier", "stream",
)
IMAGE_MEDIA_TYPES = ("image/jpeg", "image/png", "image/gif", "image/webp")
# Error types by HTTP status, as the SDK's error classes name them.
ERROR_TYPES = {
    400: "invalid_request_error", 401: "authentication_error", 403: "permission_error",
    404: "not_found_error", 413: "request_too_large", 422: "invalid_request_error",
    429: "rate_limit_error", 500: "api_error", 529: "overloaded_error",
}


class FakeAnthropic(FakeProviderServer):
    provider = "anthropic"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        # When set, responses end with this stop_reason and contain no text.
        self.empty_stop_reason: str | None = None

    def setup_routes(self) -> None:
        self.route("POST", "/v1/messages", "submit", self.messages)

    def check_auth(self, request: RecordedRequest) -> None:
        require_header(request, "x-api-key", self.api_key, status=401)
        require_header(request, "anthropic-version", API_VERSION)

    def error_body(self, status: int, message: str) -> Any:
        return {"type": "error",
                "error": {"type": ERROR_TYPES.get(status, "api_error"), "message": message},
                "request_id": "req_" + self.new_id()}

    async def messages(self, request: RecordedRequest) -> web.StreamResponse:
        body = require_json_object(request)
        require_fields(body, required=("model", "max_tokens", "messages"), allowed=MESSAGE_FIELDS)
        require(isinstance(body["max_tokens"], int) and body["max_tokens"] >= 1,
                "max_tokens must be a positive integer")
        if "temperature" in body:
            require(0.0 <= float(body["temperature"]) <= 1.0, "temperature must be 0-1")
        if "system" in body:
            require(isinstance(body["system"], str | list), "system must be a string or blocks")
        messages = body["messages"]
        require(isinstance(messages, list) and messages, "messages must be a non-empty list")
        text, images = "", 0
        for message in messages:
            require(isinstance(message, dict) and message.get("role") in ("user", "assistant"),
                    f"invalid message {message!r:.80}")
            content = message.get("content")
            if isinstance(content, str):
                text = content
                continue
            require(isinstance(content, list) and content,
                    "content must be a string or a non-empty list of blocks")
            for block in content:
                kind = block.get("type") if isinstance(block, dict) else None
                if kind == "text":
                    text = str(block.get("text", ""))
                elif kind == "image":
                    _check_image_block(block)
                    images += 1
                else:
                    raise RequestProblem(400, f"unknown content block {block!r:.80}")

        self.submissions += 1
        stop_reason = self.empty_stop_reason or "end_turn"
        answer = [] if self.empty_stop_reason else [
            {"type": "text", "text": f"echo: {text}" + (f" (+{images} images)" if images else "")}
        ]
        return web.json_response({
            "id": "msg_" + self.new_id(),
            "type": "message",
            "role": "assistant",
            "content": answer,
            "model": body["model"],
            "stop_reason": stop_reason,
            "stop_sequence": None,
            "usage": {"input_tokens": 12, "output_tokens": 5,
                      "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0},
        })


def _check_image_block(block: dict[str, Any]) -> None:
    source = block.get("source")
    require(isinstance(source, dict) and source.get("type") in ("base64", "url"),
            "image source must be base64 or url")
    if source["type"] == "url":
        return
    require(source.get("media_type") in IMAGE_MEDIA_TYPES,
            f"image media_type {source.get('media_type')!r} is not supported")
    try:
        base64.b64decode(str(source.get("data", "")), validate=True)
    except (binascii.Error, ValueError):
        raise RequestProblem(400, "image data is not valid base64") from None
