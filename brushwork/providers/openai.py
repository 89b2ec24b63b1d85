"""OpenAI: image generation and chat completions (both synchronous).

API facts:

- Base URL https://api.openai.com/v1, ``Authorization: Bearer``.
- ``POST /images/generations`` and ``POST /chat/completions`` take JSON bodies.
- Errors are ``{"error": {"message", "type", "param", "code"}}``.

Sources: the openai-python SDK (``resources/images.py``,
``types/image_generate_params.py``, ``types/images_response.py``,
``types/chat/completion_create_params.py``, ``types/chat/chat_completion.py``)
and developers.openai.com/api/reference/resources/images/methods/generate.
"""

from __future__ import annotations

from typing import Any

from ..engine.node import Input, Output
from ..errors import ProviderError
from .client import ProviderSpec, bearer_auth
from .media import data_uri, decode_base64, decode_images, encode_image
from .nodebase import ProviderNode, secret_input

SPEC = ProviderSpec(
    name="openai",
    display_name="OpenAI",
    base_url="https://api.openai.com/v1",
    auth=bearer_auth,
)

IMAGE_MODELS = ("gpt-image-1", "gpt-image-1-mini", "gpt-image-1.5", "gpt-image-2",
                "dall-e-3", "dall-e-2")
IMAGE_SIZES = ("auto", "1024x1024", "1536x1024", "1024x1536", "256x256", "512x512",
               "1792x1024", "1024x1792")
_DALLE2_ONLY_SIZES = {"256x256", "512x512"}
_DALLE3_ONLY_SIZES = {"1792x1024", "1024x1792"}
IMAGE_QUALITIES = ("auto", "low", "medium", "high", "standard", "hd")
BACKGROUNDS = ("auto", "opaque", "transparent")


class OpenAIImageGenerate(ProviderNode):
    class_type = "OpenAIImageGenerate"
    display_name = "OpenAI Image Generation"
    category = "api node/image/OpenAI"
    description = "Generate images with OpenAI's GPT image and DALL-E models."
    spec = SPEC
    provider = SPEC.name
    inputs = (
        Input("prompt", "STRING", default="", multiline=True),
        Input("model", "COMBO", default="gpt-image-1", choices=IMAGE_MODELS),
        Input("size", "COMBO", default="auto", choices=IMAGE_SIZES),
        Input("quality", "COMBO", default="auto", choices=IMAGE_QUALITIES, optional=True),
        Input("background", "COMBO", default="auto", choices=BACKGROUNDS, optional=True),
        # NOTE: the API reference gives no range for n; 10 is this node's own cap.
        Input("n", "INT", default=1, min=1, max=10, optional=True),
        secret_input(SPEC.name),
    )
    outputs = (Output("IMAGE"),)

    @classmethod
    def validate_provider_inputs(cls, **inputs: Any) -> bool | str:
        model = inputs.get("model", "gpt-image-1")
        size = inputs.get("size", "auto")
        if size in _DALLE2_ONLY_SIZES and model != "dall-e-2":
            return f"size {size} is available only with dall-e-2, not {model}"
        if size in _DALLE3_ONLY_SIZES and model != "dall-e-3":
            return f"size {size} is available only with dall-e-3, not {model}"
        if not str(inputs.get("prompt", "")).strip():
            return "prompt is empty"
        return True

    async def execute(
        self, ctx: Any, *, prompt: str, model: str = "gpt-image-1", size: str = "auto",
        quality: str = "auto", background: str = "auto", n: int = 1, secret: str | None = None,
    ) -> tuple[Any]:
        self.check_inputs(prompt=prompt, model=model, size=size, secret=secret)
        api = self.connect(ctx, secret)
        body: dict[str, Any] = {"model": model, "prompt": prompt, "n": n}
        # "auto" is the API's default; leaving it out keeps the request valid for every model.
        if size != "auto":
            body["size"] = size
        if quality != "auto":
            body["quality"] = quality
        if background != "auto":
            body["background"] = background
        if model.startswith("dall-e"):
            # GPT image models always return base64; DALL-E returns URLs unless requested.
            body["response_format"] = "b64_json"

        result = await api.request_json("POST", "/images/generations", json=body, model=model)

        payloads = []
        for item in api.parse_result(lambda: list(result["data"]), "data", "/images/generations"):
            if item.get("b64_json"):
                payloads.append(decode_base64(item["b64_json"], provider=SPEC.display_name))
            elif item.get("url"):
                data, _ = await api.download(
                    item["url"], content_types=("image/",),
                    max_bytes=api.hub.settings.max_image_bytes,
                )
                payloads.append(data)
        return (await decode_images(payloads, provider=SPEC.display_name),)


class OpenAIChat(ProviderNode):
    class_type = "OpenAIChat"
    display_name = "OpenAI Chat"
    category = "api node/text/OpenAI"
    description = "Answer a prompt, optionally about images, with an OpenAI chat model."
    spec = SPEC
    provider = SPEC.name
    inputs = (
        Input("prompt", "STRING", default="", multiline=True),
        Input("model", "STRING", default="gpt-4o",
              tooltip="Chat model id, such as gpt-4o or o3."),
        Input("system", "STRING", default="", multiline=True, optional=True,
              tooltip="Instructions sent as a system message; empty sends none."),
        Input("images", "IMAGE", optional=True,
              tooltip="Images sent with the prompt, one content part per frame."),
        Input("max_completion_tokens", "INT", default=0, min=0, max=1_000_000, optional=True,
              tooltip="Upper bound on generated tokens; 0 leaves it to the model."),
        Input("temperature", "FLOAT", default=1.0, min=0.0, max=2.0, step=0.05, optional=True),
        Input("seed", "INT", default=0, min=0, max=2**63 - 1, optional=True,
              tooltip="Best-effort determinism (a beta feature of the API); 0 sends no seed."),
        secret_input(SPEC.name),
    )
    outputs = (Output("STRING"),)

    @classmethod
    def validate_provider_inputs(cls, **inputs: Any) -> bool | str:
        if not str(inputs.get("prompt", "")).strip():
            return "prompt is empty"
        if not str(inputs.get("model", "gpt-4o")).strip():
            return "model is empty"
        return True

    async def execute(
        self, ctx: Any, *, prompt: str, model: str = "gpt-4o", system: str = "",
        images: Any = None, max_completion_tokens: int = 0, temperature: float = 1.0,
        seed: int = 0, secret: str | None = None,
    ) -> tuple[str]:
        self.check_inputs(prompt=prompt, model=model, secret=secret)
        api = self.connect(ctx, secret)

        content: Any = prompt
        if images is not None:
            parts: list[dict[str, Any]] = [{"type": "text", "text": prompt}]
            for index in range(int(images.shape[0])):
                png = await encode_image(images, index=index)
                parts.append({"type": "image_url",
                              "image_url": {"url": data_uri(png, "image/png")}})
            content = parts
        messages: list[dict[str, Any]] = []
        if system.strip():
            messages.append({"role": "system", "content": system})
        messages.append({"role": "user", "content": content})

        body: dict[str, Any] = {"model": model, "messages": messages,
                                "temperature": temperature}
        if max_completion_tokens > 0:
            body["max_completion_tokens"] = max_completion_tokens
        if seed > 0:
            body["seed"] = seed

        result = await api.request_json("POST", "/chat/completions", json=body, model=model)
        message = api.parse_result(lambda: result["choices"][0]["message"], "choices[0].message",
                                   "/chat/completions")
        text = message.get("content")
        if not text:
            refusal = message.get("refusal")
            reason = f"the model refused: {refusal}" if refusal else "the response has no text"
            raise _no_text_error(reason)
        return (text,)


def _no_text_error(reason: str) -> ProviderError:
    return ProviderError(
        f"OpenAI POST /chat/completions returned no usable text ({reason}); change the "
        "prompt or the model. The provider may already have charged for this request.",
        provider=SPEC.name, may_have_charged=True,
    )


NODE_CLASSES = [OpenAIImageGenerate, OpenAIChat]
