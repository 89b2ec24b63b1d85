"""A fake of DeepSeek's chat completions endpoint, with its keep-alive blank lines."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from .chatcompat import chat_completion, check_chat_request, echo
from .server import FakeProviderServer, RecordedRequest, require, require_choice, require_header

MODELS = ("deepseek-chat", "deepseek-reasoner")
CHAT_FIELDS = (
    "model", "messages", "stream", "stream_options", "temperature", "top_p", "max_tokens",
    "response_format", "tools", "tool_choice", "stop", "presence_penalty",
    "frequency_penalty", "logprobs", "top_logprobs",
)
MESSAGES = {400: "Invalid Format", 401: "Authentication Fails", 402: "Insufficient Balance",
            422: "Invalid Parameters", 429: "Rate Limit Reached", 500: "Server Error",
            503: "Server Overloaded"}


class FakeDeepSeek(FakeProviderServer):
    provider = "deepseek"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        # Blank lines sent before the JSON body, as DeepSeek does while a request waits.
        self.keep_alive_lines = 0
        # When set, requests fail with 402 as on an account without balance.
        self.balance_exhausted = False

    def setup_routes(self) -> None:
        self.route("POST", "/chat/completions", "submit", self.chat_completions)

    def check_auth(self, request: RecordedRequest) -> None:
        require_header(request, "Authorization", f"Bearer {self.api_key}", status=401)

    def error_body(self, status: int, message: str) -> Any:
        # The error body shape is not documented; this OpenAI-like one is the fake's own.
        title = MESSAGES.get(status, "Error")
        return {"error": {"message": f"{title}: {message}", "type": "invalid_request_error",
                          "param": None, "code": None}}

    async def chat_completions(self, request: RecordedRequest) -> web.StreamResponse:
        body = check_chat_request(request, CHAT_FIELDS)
        require(not self.balance_exhausted, "the account balance is too low", 402)
        require_choice(body, "model", MODELS)
        if "temperature" in body:
            require(isinstance(body["temperature"], int | float), "temperature must be a number",
                    422)
        self.submissions += 1
        extra = None
        if body["model"] == "deepseek-reasoner":
            extra = {"reasoning_content": "thinking about it"}
        answer = chat_completion(body, echo(body), object_id=self.new_id(),
                                 extra_message=extra)
        # Under load DeepSeek sends empty lines while the request waits, then the body.
        data = b"\n" * self.keep_alive_lines + json.dumps(answer).encode()
        return web.Response(body=data, content_type="application/json")
