"""Ideogram: v3 image generation (synchronous, results as URLs).

API facts:

- Base URL https://api.ideogram.ai, ``Api-Key`` header.
- ``POST /v1/ideogram-v3/generate`` takes ``multipart/form-data`` with
  ``prompt`` (required), ``seed``, ``aspect_ratio`` (1x3 ... 1x1),
  ``rendering_speed`` (FLASH, TURBO, DEFAULT, QUALITY), ``magic_prompt``
  (AUTO, ON, OFF), ``negative_prompt``, ``num_images`` and ``style_type``
  (AUTO, GENERAL, REALISTIC, DESIGN, FICTION).
- The response is ``{created, data: [{url, prompt, resolution, is_image_safe,
  seed, style_type}]}``; ``url`` is null or empty for an unsafe image, and
  URLs expire.
- Errors: 400 invalid input, 401, 422 (the prompt failed the safety check),
  429.

Sources: a copy of developer.ideogram.ai/api-reference/api-reference/generate-v3
(``Doomaloom/ArchiTech`` ``generate.md``); ComfyUI
``comfy_api_nodes/apis/__init__.py`` and ``nodes_ideogram.py``.
"""

from __future__ import annotations

from typing import Any

from ..engine.node import Input, Output
from ..errors import ProviderError
from .client import FormField, ProviderSpec, header_auth
from .media import decode_images
from .nodebase import ProviderNode, secret_input, seed_input

SPEC = ProviderSpec(
    name="ideogram",
    display_name="Ideogram",
    base_url="https://api.ideogram.ai",
    auth=header_auth("Api-Key"),
)

GENERATE_PATH = "/v1/ideogram-v3/generate"
ASPECT_RATIOS = ("1x1", "16x9", "9x16", "4x3", "3x4", "3x2", "2x3", "16x10", "10x16", "5x4",
                 "4x5", "2x1", "1x2", "3x1", "1x3")
RENDERING_SPEEDS = ("DEFAULT", "TURBO", "FLASH", "QUALITY")
MAGIC_PROMPT = ("AUTO", "ON", "OFF")
STYLE_TYPES = ("AUTO", "GENERAL", "REALISTIC", "DESIGN", "FICTION")
# NOTE: the v3 reference gives no range for num_images or seed; these are the
# ranges of the legacy /generate endpoint (1-8 and 0-2147483647).
MAX_IMAGES = 8
MAX_SEED = 2147483647


class IdeogramGenerate(ProviderNode):
    class_type = "IdeogramGenerate"
    display_name = "Ideogram V3"
    category = "api node/image/Ideogram"
    description = "Generate images from a prompt with Ideogram 3.0."
    spec = SPEC
    provider = SPEC.name
    inputs = (
        Input("prompt", "STRING", default="", multiline=True),
        Input("aspect_ratio", "COMBO", default="1x1", choices=ASPECT_RATIOS),
        Input("rendering_speed", "COMBO", default="DEFAULT", choices=RENDERING_SPEEDS),
        Input("magic_prompt", "COMBO", default="AUTO", choices=MAGIC_PROMPT, optional=True,
              tooltip="Whether Ideogram rewrites the prompt before generating."),
        Input("style_type", "COMBO", default="AUTO", choices=STYLE_TYPES, optional=True),
        Input("negative_prompt", "STRING", default="", multiline=True, optional=True),
        Input("num_images", "INT", default=1, min=1, max=MAX_IMAGES, optional=True),
        seed_input(MAX_SEED),
        secret_input(SPEC.name),
    )
    outputs = (Output("IMAGE"),)

    @classmethod
    def validate_provider_inputs(cls, **inputs: Any) -> bool | str:
        if not str(inputs.get("prompt", "")).strip():
            return "prompt is empty"
        return True

    async def execute(
        self, ctx: Any, *, prompt: str, aspect_ratio: str = "1x1",
        rendering_speed: str = "DEFAULT", magic_prompt: str = "AUTO", style_type: str = "AUTO",
        negative_prompt: str = "", num_images: int = 1, seed: int = 0,
        secret: str | None = None,
    ) -> tuple[Any]:
        self.check_inputs(prompt=prompt, secret=secret)
        api = self.connect(ctx, secret)
        form = [
            FormField("prompt", prompt),
            FormField("aspect_ratio", aspect_ratio),
            FormField("rendering_speed", rendering_speed),
            FormField("magic_prompt", magic_prompt),
            FormField("style_type", style_type),
            FormField("num_images", str(num_images)),
        ]
        if negative_prompt.strip():
            form.append(FormField("negative_prompt", negative_prompt))
        if seed > 0:
            form.append(FormField("seed", str(seed)))

        result = await api.request_json("POST", GENERATE_PATH, form=form, model="v3")
        items = api.parse_result(lambda: list(result["data"]), "data", GENERATE_PATH)
        urls = [str(item["url"]) for item in items if isinstance(item, dict) and item.get("url")]
        if not urls:
            unsafe = sum(1 for item in items
                         if isinstance(item, dict) and item.get("is_image_safe") is False)
            reason = (f"{unsafe} image(s) failed the safety check" if unsafe
                      else "the response has no image URL")
            raise ProviderError(
                f"Ideogram POST {GENERATE_PATH} returned no image: {reason}. Change the prompt. "
                "The provider may already have charged for this request.",
                provider=SPEC.name, may_have_charged=True,
            )
        payloads = []
        for url in urls:
            data, _ = await api.download(url, content_types=("image/",),
                                         max_bytes=api.hub.settings.max_image_bytes)
            payloads.append(data)
        return (await decode_images(payloads, provider=SPEC.display_name),)


NODE_CLASSES = [IdeogramGenerate]
