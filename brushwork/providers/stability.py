"""Stability AI: Stable Image Core, Ultra and SD3 text-to-image (synchronous).

API facts:

- Base URL https://api.stability.ai, ``authorization: Bearer``.
- ``POST /v2beta/stable-image/generate/{core,ultra,sd3}`` takes a
  ``multipart/form-data`` body, even when no file is sent.
- With ``accept: application/json`` it returns ``{"image": <base64>,
  "finish_reason": "SUCCESS" | "CONTENT_FILTERED", "seed"}``.
- Errors: 400 with ``{id, name, errors}``, 403 (content moderation), 404,
  429, 500.

Sources: ComfyUI ``comfy_api_nodes/apis/stability_api.py`` and
``nodes_stability.py`` (field names, the style preset list), a copy of the
official Stable Image Core doc (``gambithunt/imagen``), and
stabilityai.apidog.io/api-6070378.
"""

from __future__ import annotations

from typing import Any

from ..engine.node import Input, Output
from ..errors import ProviderError
from .client import FormField, ProviderSpec, bearer_auth
from .media import decode_base64, decode_images, encode_image
from .nodebase import ProviderNode, secret_input, seed_input

SPEC = ProviderSpec(
    name="stability",
    display_name="Stability AI",
    base_url="https://api.stability.ai",
    auth=bearer_auth,
)

ENDPOINTS = ("core", "ultra", "sd3")
ASPECT_RATIOS = ("1:1", "16:9", "21:9", "2:3", "3:2", "4:5", "5:4", "9:16", "9:21")
STYLE_PRESETS = (
    "none", "3d-model", "analog-film", "anime", "cinematic", "comic-book", "digital-art",
    "enhance", "fantasy-art", "isometric", "line-art", "low-poly", "modeling-compound",
    "neon-punk", "origami", "photographic", "pixel-art", "tile-texture",
)
SD3_MODELS = ("sd3.5-large", "sd3.5-large-turbo", "sd3.5-medium")
OUTPUT_FORMATS = ("png", "jpeg", "webp")
MAX_SEED = 4294967294


class StabilityImageGenerate(ProviderNode):
    class_type = "StabilityImageGenerate"
    display_name = "Stability AI Image Generation"
    category = "api node/image/Stability AI"
    description = (
        "Generate an image with Stable Image Core, Ultra or SD3.5; Ultra and SD3.5 also "
        "take an input image to transform."
    )
    spec = SPEC
    provider = SPEC.name
    inputs = (
        Input("prompt", "STRING", default="", multiline=True),
        Input("endpoint", "COMBO", default="core", choices=ENDPOINTS),
        Input("aspect_ratio", "COMBO", default="1:1", choices=ASPECT_RATIOS),
        Input("negative_prompt", "STRING", default="", multiline=True, optional=True),
        Input("style_preset", "COMBO", default="none", choices=STYLE_PRESETS, optional=True),
        Input("sd3_model", "COMBO", default="sd3.5-large", choices=SD3_MODELS, optional=True,
              tooltip="Model used when endpoint is sd3."),
        Input("output_format", "COMBO", default="png", choices=OUTPUT_FORMATS, optional=True),
        seed_input(MAX_SEED),
        Input("image", "IMAGE", optional=True,
              tooltip="Input image for image-to-image (ultra and sd3 only)."),
        Input("strength", "FLOAT", default=0.5, min=0.0, max=1.0, step=0.01, optional=True,
              tooltip="How much the input image changes; used only with an image."),
        secret_input(SPEC.name),
    )
    outputs = (Output("IMAGE"),)

    @classmethod
    def validate_provider_inputs(cls, **inputs: Any) -> bool | str:
        prompt = str(inputs.get("prompt", ""))
        if not prompt.strip():
            return "prompt is empty"
        if len(prompt) > 10000:
            return f"prompt is {len(prompt)} characters; Stability AI accepts at most 10000"
        if inputs.get("image") is not None and inputs.get("endpoint", "core") == "core":
            return "the core endpoint takes no input image; choose ultra or sd3"
        return True

    async def execute(
        self, ctx: Any, *, prompt: str, endpoint: str = "core", aspect_ratio: str = "1:1",
        negative_prompt: str = "", style_preset: str = "none", sd3_model: str = "sd3.5-large",
        output_format: str = "png", seed: int = 0, image: Any = None, strength: float = 0.5,
        secret: str | None = None,
    ) -> tuple[Any]:
        self.check_inputs(prompt=prompt, endpoint=endpoint, image=image, secret=secret)
        api = self.connect(ctx, secret)

        form = [
            FormField("prompt", prompt),
            FormField("output_format", output_format),
            FormField("seed", str(seed)),
        ]
        if negative_prompt.strip():
            form.append(FormField("negative_prompt", negative_prompt))
        if style_preset != "none":
            form.append(FormField("style_preset", style_preset))
        model = None
        if endpoint == "sd3":
            model = sd3_model
            form.append(FormField("model", sd3_model))
            form.append(FormField("mode", "image-to-image" if image is not None
                                  else "text-to-image"))
        if image is not None:
            png = await encode_image(image)
            form.append(FormField("image", png, filename="image.png", content_type="image/png"))
            form.append(FormField("strength", f"{strength:g}"))
        else:
            form.append(FormField("aspect_ratio", aspect_ratio))

        path = f"/v2beta/stable-image/generate/{endpoint}"
        result = await api.request_json(
            "POST", path, form=form, model=model or endpoint,
            headers={"accept": "application/json"},
        )
        finish_reason = result.get("finish_reason") if isinstance(result, dict) else None
        if finish_reason == "CONTENT_FILTERED":
            raise ProviderError(
                f"Stability AI POST {path} filtered the result (finish_reason "
                "CONTENT_FILTERED); change the prompt or the input image. The provider may "
                "already have charged for this request.",
                provider=SPEC.name, may_have_charged=True,
            )
        encoded = api.parse_result(lambda: str(result["image"]), "image", path)
        payload = decode_base64(encoded, provider=SPEC.display_name)
        return (await decode_images([payload], provider=SPEC.display_name),)


NODE_CLASSES = [StabilityImageGenerate]
