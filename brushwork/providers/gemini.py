"""Google Gemini: generateContent for text and for images (synchronous).

API facts:

- Base URL https://generativelanguage.googleapis.com, API version v1beta,
  ``x-goog-api-key`` header.
- ``POST /v1beta/models/{model}:generateContent`` takes ``contents`` (parts
  of ``text`` or ``inlineData{mimeType, data}``), ``systemInstruction`` and
  ``generationConfig{maxOutputTokens, seed, responseModalities,
  imageConfig{aspectRatio, imageSize}}``.
- The response holds ``candidates[].content.parts`` (text, or images as base64
  ``inlineData``) with a ``finishReason``, and ``promptFeedback.blockReason``
  when the prompt was blocked.
- Errors are ``{"error": {"code", "message", "status", "details"}}``.

Sources: the python-genai SDK (``google/genai/_api_client.py``, ``models.py``,
``types.py``, ``errors.py``). The aspect ratios and image sizes come from the
ImageConfig field documentation as carried in Gemini SDK type definitions
(``mscraftsman/generative-ai`` ``src/Mscc.GenerativeAI/Types/ImageConfig.cs``).
"""

from __future__ import annotations

import base64
from typing import Any

from ..engine.node import Input, Output
from ..errors import ProviderError
from .client import ProviderSpec, default_error_message, header_auth
from .media import decode_base64, decode_images, encode_image
from .nodebase import ProviderNode, secret_input


def google_error_message(body: Any) -> str | None:
    """Read ``{"error": {"code", "message", "status"}}`` as "STATUS: message"."""
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict) and error.get("message"):
        status = error.get("status")
        return f"{status}: {error['message']}" if status else str(error["message"])
    return default_error_message(body)


SPEC = ProviderSpec(
    name="gemini",
    display_name="Google Gemini",
    base_url="https://generativelanguage.googleapis.com/v1beta",
    auth=header_auth("x-goog-api-key"),
    error_message=google_error_message,
)

DEFAULT_TEXT_MODEL = "gemini-2.5-flash"
DEFAULT_IMAGE_MODEL = "gemini-2.5-flash-image"
ASPECT_RATIOS = ("auto", "1:1", "2:3", "3:2", "3:4", "4:3", "9:16", "16:9", "21:9")
IMAGE_SIZES = ("auto", "1K", "2K", "4K")
# NOTE: the sources give no seed range; the node caps it at the int32 maximum.
MAX_SEED = 2**31 - 1


def generate_path(model: str) -> str:
    return f"/models/{model}:generateContent"


async def user_content(prompt: str, images: Any) -> dict[str, Any]:
    """Build one user turn: the prompt, then each image frame as PNG ``inlineData``."""
    parts: list[dict[str, Any]] = [{"text": prompt}]
    if images is not None:
        for index in range(int(images.shape[0])):
            png = await encode_image(images, index=index)
            parts.append({"inlineData": {"mimeType": "image/png",
                                         "data": base64.b64encode(png).decode("ascii")}})
    return {"role": "user", "parts": parts}


def candidate_parts(result: Any) -> list[dict[str, Any]]:
    """Return the first candidate's parts, or raise a ProviderError naming why there are none."""
    candidates = result.get("candidates") if isinstance(result, dict) else None
    if not candidates:
        feedback = result.get("promptFeedback") if isinstance(result, dict) else None
        block_reason = feedback.get("blockReason") if isinstance(feedback, dict) else None
        reason = (f"the prompt was blocked (blockReason {block_reason})" if block_reason
                  else "the response has no candidates")
        raise _no_result_error(reason)
    candidate = candidates[0]
    parts = (candidate.get("content") or {}).get("parts") or []
    if not parts:
        raise _no_result_error(f"the candidate has no parts (finishReason "
                               f"{candidate.get('finishReason')})")
    return [part for part in parts if isinstance(part, dict)]


def _no_result_error(reason: str) -> ProviderError:
    return ProviderError(
        f"Google Gemini generateContent returned no usable result: {reason}. Change the "
        "prompt or the model. The provider may already have charged for this request.",
        provider=SPEC.name, may_have_charged=True,
    )


def _finish_reason(result: Any) -> str | None:
    try:
        return result["candidates"][0].get("finishReason")
    except (KeyError, IndexError, TypeError, AttributeError):
        return None


class GeminiGenerate(ProviderNode):
    class_type = "GeminiGenerate"
    display_name = "Google Gemini"
    category = "api node/text/Google"
    description = "Answer a prompt, optionally about images, with a Google Gemini model."
    spec = SPEC
    provider = SPEC.name
    inputs = (
        Input("prompt", "STRING", default="", multiline=True),
        Input("model", "STRING", default=DEFAULT_TEXT_MODEL,
              tooltip="Gemini model id, such as gemini-2.5-flash or gemini-2.5-pro."),
        Input("system", "STRING", default="", multiline=True, optional=True,
              tooltip="System instruction; empty sends none."),
        Input("images", "IMAGE", optional=True,
              tooltip="Images sent after the prompt, one PNG part per frame."),
        Input("max_output_tokens", "INT", default=0, min=0, max=1_000_000, optional=True,
              tooltip="Maximum number of generated tokens; 0 leaves it to the model."),
        Input("seed", "INT", default=0, min=0, max=MAX_SEED, optional=True,
              tooltip="Seed sent to the model; 0 sends none."),
        secret_input(SPEC.name),
    )
    outputs = (Output("STRING"),)

    @classmethod
    def validate_provider_inputs(cls, **inputs: Any) -> bool | str:
        if not str(inputs.get("prompt", "")).strip():
            return "prompt is empty"
        if not str(inputs.get("model", DEFAULT_TEXT_MODEL)).strip():
            return "model is empty"
        return True

    async def execute(
        self, ctx: Any, *, prompt: str, model: str = DEFAULT_TEXT_MODEL, system: str = "",
        images: Any = None, max_output_tokens: int = 0, seed: int = 0,
        secret: str | None = None,
    ) -> tuple[str]:
        self.check_inputs(prompt=prompt, model=model, secret=secret)
        api = self.connect(ctx, secret)
        body: dict[str, Any] = {"contents": [await user_content(prompt, images)]}
        if system.strip():
            body["systemInstruction"] = {"parts": [{"text": system}]}
        config: dict[str, Any] = {}
        if max_output_tokens > 0:
            config["maxOutputTokens"] = max_output_tokens
        if seed > 0:
            config["seed"] = seed
        if config:
            body["generationConfig"] = config

        result = await api.request_json("POST", generate_path(model), json=body, model=model)
        parts = candidate_parts(result)
        # Parts marked "thought" contain the model's reasoning, not its reply.
        text = "".join(str(part["text"]) for part in parts
                       if part.get("text") and not part.get("thought"))
        if not text:
            raise _no_result_error(f"the response has no text (finishReason "
                                   f"{_finish_reason(result)})")
        return (text,)


class GeminiImageGenerate(ProviderNode):
    class_type = "GeminiImageGenerate"
    display_name = "Google Gemini Image"
    category = "api node/image/Google"
    description = (
        "Generate or edit images with a Gemini image model; input images are sent as "
        "references to edit or combine."
    )
    spec = SPEC
    provider = SPEC.name
    inputs = (
        Input("prompt", "STRING", default="", multiline=True),
        Input("model", "STRING", default=DEFAULT_IMAGE_MODEL,
              tooltip="Gemini image model id, such as gemini-2.5-flash-image."),
        Input("aspect_ratio", "COMBO", default="auto", choices=ASPECT_RATIOS,
              tooltip="Aspect ratio of the image; auto lets the model choose."),
        Input("image_size", "COMBO", default="auto", choices=IMAGE_SIZES, optional=True,
              tooltip="1K, 2K or 4K where the model supports it; auto sends none (1K)."),
        Input("images", "IMAGE", optional=True,
              tooltip="Reference images sent after the prompt, one PNG part per frame."),
        Input("seed", "INT", default=0, min=0, max=MAX_SEED, optional=True,
              tooltip="Seed sent to the model; 0 sends none."),
        secret_input(SPEC.name),
    )
    outputs = (Output("IMAGE"),)

    @classmethod
    def validate_provider_inputs(cls, **inputs: Any) -> bool | str:
        if not str(inputs.get("prompt", "")).strip():
            return "prompt is empty"
        if not str(inputs.get("model", DEFAULT_IMAGE_MODEL)).strip():
            return "model is empty"
        return True

    async def execute(
        self, ctx: Any, *, prompt: str, model: str = DEFAULT_IMAGE_MODEL,
        aspect_ratio: str = "auto", image_size: str = "auto", images: Any = None,
        seed: int = 0, secret: str | None = None,
    ) -> tuple[Any]:
        self.check_inputs(prompt=prompt, model=model, secret=secret)
        api = self.connect(ctx, secret)
        config: dict[str, Any] = {"responseModalities": ["TEXT", "IMAGE"]}
        image_config: dict[str, Any] = {}
        if aspect_ratio != "auto":
            image_config["aspectRatio"] = aspect_ratio
        if image_size != "auto":
            image_config["imageSize"] = image_size
        if image_config:
            config["imageConfig"] = image_config
        if seed > 0:
            config["seed"] = seed
        body = {"contents": [await user_content(prompt, images)], "generationConfig": config}

        result = await api.request_json("POST", generate_path(model), json=body, model=model)
        payloads = [
            decode_base64(str(part["inlineData"].get("data", "")),
                          provider=SPEC.display_name)
            for part in candidate_parts(result)
            if isinstance(part.get("inlineData"), dict)
            and str(part["inlineData"].get("mimeType", "")).startswith("image/")
        ]
        if not payloads:
            raise _no_result_error(f"the response has no image (finishReason "
                                   f"{_finish_reason(result)})")
        return (await decode_images(payloads, provider=SPEC.display_name),)


NODE_CLASSES = [GeminiGenerate, GeminiImageGenerate]
