"""Request and response helpers for chat APIs with the OpenAI chat-completions shape.

Mistral and DeepSeek take ``{model, messages, ...}`` and return
``{choices: [{message: {role, content}, finish_reason}], usage}``. Each
provider keeps its own module, SPEC, inputs and fake; this module only builds
the messages and reads the text of the first choice.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..errors import ProviderError

if TYPE_CHECKING:
    from .call import ProviderCall


def chat_messages(prompt: str, system: str = "") -> list[dict[str, str]]:
    """Return the message list: an optional system message, then the user prompt."""
    messages: list[dict[str, str]] = []
    if system.strip():
        messages.append({"role": "system", "content": system})
    messages.append({"role": "user", "content": prompt})
    return messages


def check_prompt(inputs: dict[str, Any], default_model: str) -> bool | str:
    """Validate the prompt and model inputs shared by the chat nodes."""
    if not str(inputs.get("prompt", "")).strip():
        return "prompt is empty"
    if not str(inputs.get("model", default_model)).strip():
        return "model is empty"
    return True


async def complete_chat(api: ProviderCall, path: str, body: dict[str, Any]) -> str:
    """Send a chat completion request and return the text of the first choice.

    Raises ProviderError, naming the finish reason, when the response has no
    text. The error says the provider may have charged, since tokens were generated.
    """
    result = await api.request_json("POST", path, json=body, model=body.get("model"))
    choice = api.parse_result(lambda: result["choices"][0], "choices[0]", path)
    message = api.parse_result(lambda: choice["message"], "choices[0].message", path)
    text = message.get("content") if isinstance(message, dict) else None
    if isinstance(text, str) and text:
        return text
    reason = choice.get("finish_reason") if isinstance(choice, dict) else None
    detail = f"finish_reason {reason}" if reason else "the message has no content"
    raise ProviderError(
        f"{api.spec.display_name} POST {path} returned no usable text ({detail}); change "
        "the prompt, the model or max_tokens. The provider may already have charged for "
        "this request.",
        provider=api.provider, may_have_charged=True,
    )
