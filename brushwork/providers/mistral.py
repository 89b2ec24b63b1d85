"""Mistral: chat completions (synchronous).

API facts:

- Base URL https://api.mistral.ai, ``Authorization: Bearer``.
- ``POST /v1/chat/completions`` takes ``{model, messages, temperature,
  top_p, max_tokens, random_seed, safe_prompt, ...}``; the seed field is
  ``random_seed``, not ``seed``. The response has the OpenAI shape
  ``{choices: [{message: {role, content}, finish_reason}], usage}``.
- A 422 response has an HTTPValidationError body (``{"detail": [...]}``).
  The body of other 4xx and 5xx responses is not specified.

Sources: the mistralai client-python SDK (``sdkconfiguration.py``,
``chat.py``, ``models/chatcompletionrequest.py``, ``models/security.py``) and
its README (the model id ``mistral-large-latest``).
"""

from __future__ import annotations

from typing import Any

from ..engine.node import Input, Output
from .chatcompat import chat_messages, check_prompt, complete_chat
from .client import ProviderSpec, bearer_auth
from .nodebase import ProviderNode, secret_input, seed_input

SPEC = ProviderSpec(
    name="mistral",
    display_name="Mistral",
    base_url="https://api.mistral.ai",
    auth=bearer_auth,
)

DEFAULT_MODEL = "mistral-large-latest"
CHAT_PATH = "/v1/chat/completions"


class MistralChat(ProviderNode):
    class_type = "MistralChat"
    display_name = "Mistral Chat"
    category = "api node/text/Mistral"
    description = "Answer a prompt with a Mistral chat model."
    spec = SPEC
    provider = SPEC.name
    inputs = (
        Input("prompt", "STRING", default="", multiline=True),
        Input("model", "STRING", default=DEFAULT_MODEL,
              tooltip="Chat model id, such as mistral-large-latest."),
        Input("system", "STRING", default="", multiline=True, optional=True,
              tooltip="Instructions sent as a system message; empty sends none."),
        Input("max_tokens", "INT", default=0, min=0, max=1_000_000, optional=True,
              tooltip="Upper bound on generated tokens; 0 leaves it to the model."),
        # NOTE: the SDK states no temperature range; 0-2 is this node's own bound.
        Input("temperature", "FLOAT", default=-1.0, min=-1.0, max=2.0, step=0.05,
              optional=True, tooltip="Sampling temperature; a negative value sends none, "
              "so the model's default applies."),
        Input("top_p", "FLOAT", default=1.0, min=0.0, max=1.0, step=0.01, optional=True,
              tooltip="Nucleus sampling mass; 1 sends none."),
        seed_input(2**31 - 1, tooltip="Sent as random_seed for repeatable answers; "
                   "0 sends none."),
        Input("safe_prompt", "BOOLEAN", default=False, optional=True,
              tooltip="Ask Mistral to prepend its safety prompt."),
        secret_input(SPEC.name),
    )
    outputs = (Output("STRING"),)

    @classmethod
    def validate_provider_inputs(cls, **inputs: Any) -> bool | str:
        return check_prompt(inputs, DEFAULT_MODEL)

    async def execute(
        self, ctx: Any, *, prompt: str, model: str = DEFAULT_MODEL, system: str = "",
        max_tokens: int = 0, temperature: float = -1.0, top_p: float = 1.0, seed: int = 0,
        safe_prompt: bool = False, secret: str | None = None,
    ) -> tuple[str]:
        self.check_inputs(prompt=prompt, model=model, secret=secret)
        api = self.connect(ctx, secret)
        body: dict[str, Any] = {"model": model, "messages": chat_messages(prompt, system)}
        if max_tokens > 0:
            body["max_tokens"] = max_tokens
        if temperature >= 0:
            body["temperature"] = temperature
        if top_p < 1.0:
            body["top_p"] = top_p
        if seed > 0:
            body["random_seed"] = seed
        if safe_prompt:
            body["safe_prompt"] = True
        return (await complete_chat(api, CHAT_PATH, body),)


NODE_CLASSES = [MistralChat]
