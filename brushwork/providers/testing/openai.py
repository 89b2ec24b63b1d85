"""A fake of OpenAI's images and chat completions endpoints."""

from __future__ import annotations

import base64
import time
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

IMAGE_FIELDS = (
    "prompt", "model", "n", "size", "quality", "background", "output_format",
    "output_compression", "moderation", "style", "partial_images", "stream", "user",
    "response_format",
)
IMAGE_SIZES = ("auto", "1024x1024", "1536x1024", "1024x1536", "256x256", "512x512",
               "1792x1024", "1024x1792")
CHAT_FIELDS = (
    "messages", "model", "audio", "frequency_penalty", "logit_bias", "logprobs",
    "max_completion_tokens", "max_tokens", "metadata", "modalities", "n",
    "parallel_tool_calls", "prediction", "presence_penalty", "reasoning_effort",
    "response_format", "seed", "service_tier", "stop", "store", "stream", "stream_options",
    "temperature", "tool_choice", "tools", "top_logprobs", "top_p", "user",
    "web_search_options",
)


class FakeOpenAI(FakeProviderServer):
    provider = "openai"
    base_path = "/v1"

    def setup_routes(self) -> None:
        self.route("POST", "/images/generations", "submit", self.images_generations)
        self.route("POST", "/chat/completions", "submit", self.chat_completions)
        self.raw_route("GET", "/files/{name}", "download", self.file)

    def check_auth(self, request: RecordedRequest) -> None:
        require_header(request, "Authorization", f"Bearer {self.api_key}", status=401)

    def error_body(self, status: int, message: str) -> Any:
        kinds = {401: "invalid_request_error", 429: "rate_limit_exceeded"}
        return {"error": {"message": message, "type": kinds.get(status, "api_error"),
                          "param": None, "code": None}}

    async def images_generations(self, request: RecordedRequest) -> web.StreamResponse:
        body = require_json_object(request)
        require_fields(body, required=("prompt",), allowed=IMAGE_FIELDS)
        require(isinstance(body["prompt"], str) and body["prompt"], "prompt must be a string")
        require_choice(body, "size", IMAGE_SIZES)
        require_choice(body, "quality", ("standard", "hd", "low", "medium", "high", "auto"))
        require_choice(body, "background", ("transparent", "opaque", "auto"))
        require_choice(body, "response_format", ("url", "b64_json"))
        model = body.get("model", "dall-e-2")
        if "response_format" in body:
            require(model.startswith("dall-e"), "response_format applies to DALL-E models only")
        count = int(body.get("n", 1))
        require(count >= 1, "n must be at least 1")
        self.submissions += 1
        png = sample_image()
        items: list[dict[str, Any]] = []
        for index in range(count):
            if body.get("response_format") == "url":
                items.append({"url": self.file_url(f"image-{index}.png")})
            else:
                items.append({"b64_json": base64.b64encode(png).decode("ascii"),
                              "revised_prompt": body["prompt"]})
        return web.json_response({
            "created": int(time.time()),
            "data": items,
            "usage": {"input_tokens": 10, "output_tokens": 100, "total_tokens": 110,
                      "input_tokens_details": {"image_tokens": 0, "text_tokens": 10}},
        })

    async def chat_completions(self, request: RecordedRequest) -> web.StreamResponse:
        body = require_json_object(request)
        require_fields(body, required=("model", "messages"), allowed=CHAT_FIELDS)
        messages = body["messages"]
        require(isinstance(messages, list) and messages, "messages must be a non-empty list")
        text = ""
        images = 0
        for message in messages:
            require(isinstance(message, dict) and message.get("role") in
                    ("system", "user", "assistant", "developer", "tool"),
                    f"invalid message {message!r:.80}")
            content = message.get("content")
            if isinstance(content, list):
                for part in content:
                    if part.get("type") == "text":
                        text = part["text"]
                    elif part.get("type") == "image_url":
                        url = part["image_url"]["url"]
                        require(url.startswith(("data:image/", "https://")),
                                "image_url.url must be a data URI or an https URL")
                        images += 1
                    else:
                        raise RequestProblem(400, f"unknown content part {part!r:.80}")
            elif message.get("role") == "user":
                require(isinstance(content, str), "content must be a string or a list of parts")
                text = content
        self.submissions += 1
        answer = f"echo: {text}" + (f" (+{images} images)" if images else "")
        return web.json_response({
            "id": "chatcmpl-" + self.new_id(),
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body["model"],
            "choices": [{"index": 0, "finish_reason": "stop",
                         "message": {"role": "assistant", "content": answer, "refusal": None}}],
            "usage": {"prompt_tokens": 12, "completion_tokens": 5, "total_tokens": 17},
        })

    async def file(self, request: RecordedRequest) -> web.StreamResponse:
        return web.Response(body=sample_image(), content_type="image/png")
