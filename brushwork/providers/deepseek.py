"""DeepSeek: chat completions (synchronous, OpenAI-compatible).

API facts:

- Base URL https://api.deepseek.com, ``Authorization: Bearer``.
- ``POST /chat/completions`` takes ``{model, messages, temperature,
  max_tokens, ...}`` with model deepseek-chat or deepseek-reasoner, and
  returns the OpenAI shape; the reasoner also returns ``reasoning_content``.
- Status codes: 400 invalid format, 401 authentication failed, 402
  insufficient balance, 422 invalid parameters, 429 rate limit, 500 server
  error, 503 server overloaded.
- DeepSeek does not reject requests under load. It keeps the connection
  open and sends empty lines before the JSON body of a non-streaming
  response, so the body may start with blank lines.

Sources: api-docs.deepseek.com/quick_start/error_codes and
api-docs.deepseek.com/quick_start/rate_limit.
"""

from __future__ import annotations

from typing import Any

from ..engine.node import Input, Output
from .chatcompat import chat_messages, check_prompt, complete_chat
from .client import ProviderSpec, bearer_auth
from .nodebase import ProviderNode, secret_input

SPEC = ProviderSpec(
    name="deepseek",
    display_name="DeepSeek",
    base_url="https://api.deepseek.com",
    auth=bearer_auth,
)

MODELS = ("deepseek-chat", "deepseek-reasoner")
CHAT_PATH = "/chat/completions"


class DeepSeekChat(ProviderNode):
    class_type = "DeepSeekChat"
    display_name = "DeepSeek Chat"
    category = "api node/text/DeepSeek"
    description = "Answer a prompt with DeepSeek's chat or reasoner model."
    spec = SPEC
    provider = SPEC.name
    inputs = (
        Input("prompt", "STRING", default="", multiline=True),
        Input("model", "COMBO", default="deepseek-chat", choices=MODELS),
        Input("system", "STRING", default="", multiline=True, optional=True,
              tooltip="Instructions sent as a system message; empty sends none."),
        Input("max_tokens", "INT", default=0, min=0, max=1_000_000, optional=True,
              tooltip="Upper bound on generated tokens; 0 leaves it to the model."),
        # NOTE: the sources state no temperature range; 0-2 is this node's own bound.
        Input("temperature", "FLOAT", default=-1.0, min=-1.0, max=2.0, step=0.05,
              optional=True, tooltip="Sampling temperature; a negative value sends none, "
              "so the model's default applies."),
        secret_input(SPEC.name),
    )
    outputs = (Output("STRING"),)

    @classmethod
    def validate_provider_inputs(cls, **inputs: Any) -> bool | str:
        return check_prompt(inputs, "deepseek-chat")

    async def execute(
        self, ctx: Any, *, prompt: str, model: str = "deepseek-chat", system: str = "",
        max_tokens: int = 0, temperature: float = -1.0, secret: str | None = None,
    ) -> tuple[str]:
        self.check_inputs(prompt=prompt, model=model, secret=secret)
        api = self.connect(ctx, secret)
        body: dict[str, Any] = {"model": model, "messages": chat_messages(prompt, system)}
        if max_tokens > 0:
            body["max_tokens"] = max_tokens
        if temperature >= 0:
            body["temperature"] = temperature
        return (await complete_chat(api, CHAT_PATH, body),)


NODE_CLASSES = [DeepSeekChat]
