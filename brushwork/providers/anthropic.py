"""Anthropic: the Messages API (synchronous chat).

API facts:

- Base URL https://api.anthropic.com, ``X-Api-Key`` header and the required
  ``anthropic-version: 2023-06-01`` header.
- ``POST /v1/messages`` takes ``model``, ``max_tokens`` and ``messages``
  (required) and ``system``, ``temperature`` and others (optional). Images
  are content blocks ``{"type": "image", "source": {"type": "base64",
  "media_type", "data"}}``.
- The response holds ``content`` blocks and a ``stop_reason`` (end_turn,
  max_tokens, stop_sequence, tool_use, pause_turn, refusal,
  model_context_window_exceeded).
- Errors are ``{"type": "error", "error": {"type", "message"}, "request_id"}``;
  529 is overloaded_error.

Sources: the anthropic-sdk-python SDK (``src/anthropic/_client.py``,
``types/message_create_params.py``, ``types/message.py``,
``types/stop_reason.py``, ``types/shared/*error*.py``, ``types/model_param.py``
for the default model id); the "Create a Message" API reference (the
``temperature`` field: models released after Claude Opus 4.6 accept only 1.0).
"""

from __future__ import annotations

import base64
from typing import Any

from ..engine.node import Input, Output
from ..errors import ProviderError
from .client import ProviderSpec, default_error_message, header_auth
from .media import encode_image
from .nodebase import ProviderNode, secret_input

API_VERSION = "2023-06-01"
MESSAGES_PATH = "/v1/messages"


def anthropic_error_message(body: Any) -> str | None:
    """Read ``{"type": "error", "error": {"type", "message"}}`` as "type: message"."""
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict) and error.get("message"):
        kind = error.get("type")
        return f"{kind}: {error['message']}" if kind else str(error["message"])
    return default_error_message(body)


SPEC = ProviderSpec(
    name="anthropic",
    display_name="Anthropic",
    base_url="https://api.anthropic.com",
    auth=header_auth("X-Api-Key"),
    default_headers={"anthropic-version": API_VERSION},
    error_message=anthropic_error_message,
)

DEFAULT_MODEL = "claude-sonnet-4-5"
# The API's default temperature. The node sends temperature only when it differs,
# because newer models reject any other value.
DEFAULT_TEMPERATURE = 1.0


class AnthropicChat(ProviderNode):
    class_type = "AnthropicChat"
    display_name = "Anthropic Chat"
    category = "api node/text/Anthropic"
    description = "Answer a prompt, optionally about images, with an Anthropic Claude model."
    spec = SPEC
    provider = SPEC.name
    inputs = (
        Input("prompt", "STRING", default="", multiline=True),
        Input("model", "STRING", default=DEFAULT_MODEL,
              tooltip="Claude model id, such as claude-sonnet-4-5 or claude-haiku-4-5."),
        Input("max_tokens", "INT", default=1024, min=1, max=1_000_000,
              tooltip="Maximum number of tokens to generate; the model's own limit applies."),
        Input("system", "STRING", default="", multiline=True, optional=True,
              tooltip="System prompt; empty sends none."),
        Input("images", "IMAGE", optional=True,
              tooltip="Images sent before the prompt, one PNG content block per frame."),
        Input("temperature", "FLOAT", default=DEFAULT_TEMPERATURE, min=0.0, max=1.0, step=0.05,
              optional=True,
              tooltip="Randomness from 0 to 1; 1.0 is the API default and is not sent."),
        secret_input(SPEC.name),
    )
    outputs = (Output("STRING"),)

    @classmethod
    def validate_provider_inputs(cls, **inputs: Any) -> bool | str:
        if not str(inputs.get("prompt", "")).strip():
            return "prompt is empty"
        if not str(inputs.get("model", DEFAULT_MODEL)).strip():
            return "model is empty"
        return True

    async def execute(
        self, ctx: Any, *, prompt: str, model: str = DEFAULT_MODEL, max_tokens: int = 1024,
        system: str = "", images: Any = None, temperature: float = DEFAULT_TEMPERATURE,
        secret: str | None = None,
    ) -> tuple[str]:
        self.check_inputs(prompt=prompt, model=model, secret=secret)
        api = self.connect(ctx, secret)

        content: Any = prompt
        if images is not None:
            blocks: list[dict[str, Any]] = []
            for index in range(int(images.shape[0])):
                png = await encode_image(images, index=index)
                blocks.append({
                    "type": "image",
                    "source": {"type": "base64", "media_type": "image/png",
                               "data": base64.b64encode(png).decode("ascii")},
                })
            blocks.append({"type": "text", "text": prompt})
            content = blocks

        body: dict[str, Any] = {
            "model": model,
            "max_tokens": max_tokens,
            "messages": [{"role": "user", "content": content}],
        }
        if system.strip():
            body["system"] = system
        if temperature != DEFAULT_TEMPERATURE:
            body["temperature"] = temperature

        result = await api.request_json("POST", MESSAGES_PATH, json=body, model=model)
        blocks_out = api.parse_result(lambda: list(result["content"]), "content", MESSAGES_PATH)
        stop_reason = result.get("stop_reason")
        text = "".join(str(block.get("text", "")) for block in blocks_out
                       if isinstance(block, dict) and block.get("type") == "text")
        if stop_reason == "refusal":
            raise _no_text_error("the model declined the request (stop_reason refusal)")
        if not text:
            raise _no_text_error(f"the response has no text (stop_reason {stop_reason})")
        return (text,)


def _no_text_error(reason: str) -> ProviderError:
    return ProviderError(
        f"Anthropic POST {MESSAGES_PATH} returned no usable text: {reason}. Change the prompt "
        "or the model. The provider may already have charged for this request.",
        provider=SPEC.name, may_have_charged=True,
    )


NODE_CLASSES = [AnthropicChat]
