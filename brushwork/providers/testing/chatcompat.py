"""Request checks and responses shared by fakes of OpenAI-shaped chat completion APIs."""

from __future__ import annotations

import time
from typing import Any

from .server import RecordedRequest, require, require_fields, require_json_object

ROLES = ("system", "user", "assistant", "tool")


def check_chat_request(request: RecordedRequest, allowed: tuple[str, ...]) -> dict[str, Any]:
    """Check a chat request's JSON body: fields, message roles and string contents."""
    body = require_json_object(request)
    require_fields(body, required=("model", "messages"), allowed=allowed)
    require(isinstance(body["model"], str) and body["model"], "model must be a string", 422)
    messages = body["messages"]
    require(isinstance(messages, list) and messages, "messages must be a non-empty list", 422)
    for message in messages:
        require(isinstance(message, dict) and message.get("role") in ROLES,
                f"invalid message {message!r:.80}", 422)
        require(isinstance(message.get("content"), str),
                "content must be a string in this fake", 422)
    require(messages[-1]["role"] == "user", "the last message must be from the user", 422)
    if "max_tokens" in body:
        require(isinstance(body["max_tokens"], int) and body["max_tokens"] > 0,
                "max_tokens must be a positive integer", 422)
    return body


def chat_completion(body: dict[str, Any], content: str | None, *, object_id: str,
                    finish_reason: str = "stop",
                    extra_message: dict[str, Any] | None = None) -> dict[str, Any]:
    """Return an OpenAI-shaped chat completion for ``body`` whose message is ``content``."""
    message: dict[str, Any] = {"role": "assistant", "content": content}
    message.update(extra_message or {})
    return {
        "id": object_id,
        "object": "chat.completion",
        "created": int(time.time()),
        "model": body["model"],
        "choices": [{"index": 0, "message": message, "finish_reason": finish_reason}],
        "usage": {"prompt_tokens": 12, "completion_tokens": 5, "total_tokens": 17},
    }


def echo(body: dict[str, Any]) -> str:
    """Return the fakes' reply text: the last user message, prefixed with "echo: "."""
    return f"echo: {body['messages'][-1]['content']}"
