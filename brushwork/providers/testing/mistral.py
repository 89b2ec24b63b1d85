"""A fake of Mistral's chat completions endpoint."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from .chatcompat import chat_completion, check_chat_request, echo
from .server import FakeProviderServer, RecordedRequest, require, require_header

CHAT_FIELDS = (
    "model", "messages", "temperature", "top_p", "max_tokens", "stream", "stop",
    "random_seed", "response_format", "tools", "tool_choice", "presence_penalty",
    "frequency_penalty", "n", "prediction", "parallel_tool_calls", "safe_prompt",
    "reasoning_effort", "prompt_mode",
)


class FakeMistral(FakeProviderServer):
    provider = "mistral"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        # When set, responses contain an empty message with this finish reason.
        self.empty_answer_reason: str | None = None

    def setup_routes(self) -> None:
        self.route("POST", "/v1/chat/completions", "submit", self.chat_completions)

    def check_auth(self, request: RecordedRequest) -> None:
        require_header(request, "Authorization", f"Bearer {self.api_key}", status=401)

    def error_body(self, status: int, message: str) -> Any:
        if status == 422:
            # HTTPValidationError, as the SDK documents for 422.
            return {"detail": [{"loc": ["body"], "msg": message, "type": "value_error"}]}
        # The body of other errors is not documented; this one is the fake's own.
        return {"object": "error", "message": message, "type": "error", "code": status}

    async def chat_completions(self, request: RecordedRequest) -> web.StreamResponse:
        body = check_chat_request(request, CHAT_FIELDS)
        if "random_seed" in body:
            require(isinstance(body["random_seed"], int) and body["random_seed"] >= 0,
                    "random_seed must be a non-negative integer", 422)
        if "safe_prompt" in body:
            require(isinstance(body["safe_prompt"], bool), "safe_prompt must be a boolean", 422)
        if "top_p" in body:
            require(0.0 <= float(body["top_p"]) <= 1.0, "top_p must be 0-1", 422)
        self.submissions += 1
        if self.empty_answer_reason:
            answer = chat_completion(body, "", object_id=self.new_id(),
                                     finish_reason=self.empty_answer_reason)
        else:
            answer = chat_completion(body, echo(body), object_id=self.new_id())
        return web.json_response(answer)
