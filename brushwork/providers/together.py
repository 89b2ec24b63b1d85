"""Together AI: image generation (synchronous).

API facts:

- Base URL https://api.together.xyz/v1, ``Authorization: Bearer``.
- ``POST /images/generations`` takes ``{model, prompt, width, height, n
  (1-4), steps (1-50), seed, negative_prompt, response_format,
  disable_safety_checker, image_url}``. ``response_format`` is "url" by
  default or "base64".
- It returns ``{id, model, object: "list", data: [{index, url | b64_json}]}``.
- Errors are ``{"error": {"message", ...}}``.

Sources: the together-python SDK (``src/together/constants.py``,
``types/images.py``, ``abstract/api_requestor.py``) and
``zainhas/togetherai-skills`` ``skills/together-images/references/api-reference.md``
(field ranges, the FLUX.1-schnell model id).
"""

from __future__ import annotations

from typing import Any

from ..engine.node import Input, Output
from .client import ProviderSpec, bearer_auth
from .media import decode_base64, decode_images
from .nodebase import ProviderNode, secret_input, seed_input

SPEC = ProviderSpec(
    name="together",
    display_name="Together AI",
    base_url="https://api.together.xyz/v1",
    auth=bearer_auth,
)

DEFAULT_MODEL = "black-forest-labs/FLUX.1-schnell"
GENERATE_PATH = "/images/generations"
MAX_IMAGES = 4
MAX_STEPS = 50


class TogetherImageGenerate(ProviderNode):
    class_type = "TogetherImageGenerate"
    display_name = "Together AI Image Generation"
    category = "api node/image/Together AI"
    description = "Generate images with the image models hosted by Together AI, such as FLUX."
    spec = SPEC
    provider = SPEC.name
    inputs = (
        Input("prompt", "STRING", default="", multiline=True),
        Input("model", "STRING", default=DEFAULT_MODEL,
              tooltip="Image model id, such as black-forest-labs/FLUX.1-schnell."),
        # NOTE: the sources state no width or height range; 64-2048 is this node's own bound.
        Input("width", "INT", default=1024, min=64, max=2048, step=8),
        Input("height", "INT", default=1024, min=64, max=2048, step=8),
        Input("steps", "INT", default=0, min=0, max=MAX_STEPS, optional=True,
              tooltip="Diffusion steps (1-50); 0 leaves the model's default."),
        Input("n", "INT", default=1, min=1, max=MAX_IMAGES, optional=True,
              tooltip="Number of images (1-4)."),
        Input("negative_prompt", "STRING", default="", multiline=True, optional=True),
        # NOTE: the sources state no seed range; 2**31 - 1 is this node's own bound.
        seed_input(2**31 - 1),
        Input("disable_safety_checker", "BOOLEAN", default=False, optional=True,
              tooltip="Ask Together AI to skip its NSFW check, where the model allows it."),
        secret_input(SPEC.name),
    )
    outputs = (Output("IMAGE"),)

    @classmethod
    def validate_provider_inputs(cls, **inputs: Any) -> bool | str:
        if not str(inputs.get("prompt", "")).strip():
            return "prompt is empty"
        if not str(inputs.get("model", DEFAULT_MODEL)).strip():
            return "model is empty"
        count = int(inputs.get("n", 1))
        if not 1 <= count <= MAX_IMAGES:
            return f"n is {count}; Together AI generates 1 to {MAX_IMAGES} images"
        steps = int(inputs.get("steps", 0))
        if not 0 <= steps <= MAX_STEPS:
            return f"steps is {steps}; Together AI takes 1 to {MAX_STEPS} (0 for the default)"
        return True

    async def execute(
        self, ctx: Any, *, prompt: str, model: str = DEFAULT_MODEL, width: int = 1024,
        height: int = 1024, steps: int = 0, n: int = 1, negative_prompt: str = "",
        seed: int = 0, disable_safety_checker: bool = False, secret: str | None = None,
    ) -> tuple[Any]:
        self.check_inputs(prompt=prompt, model=model, n=n, steps=steps, secret=secret)
        api = self.connect(ctx, secret)
        body: dict[str, Any] = {
            "model": model, "prompt": prompt, "width": width, "height": height, "n": n,
            # Base64 puts the images into this response; the default is a URL to download.
            "response_format": "base64",
        }
        if steps > 0:
            body["steps"] = steps
        if negative_prompt.strip():
            body["negative_prompt"] = negative_prompt
        if seed > 0:
            body["seed"] = seed
        if disable_safety_checker:
            body["disable_safety_checker"] = True

        result = await api.request_json("POST", GENERATE_PATH, json=body, model=model)

        items = api.parse_result(lambda: list(result["data"]), "data", GENERATE_PATH)
        payloads = []
        for item in items:
            if item.get("b64_json"):
                payloads.append(decode_base64(item["b64_json"], provider=SPEC.display_name))
            elif item.get("url"):
                data, _ = await api.download(item["url"], content_types=("image/",),
                                             max_bytes=api.hub.settings.max_image_bytes)
                payloads.append(data)
        return (await decode_images(payloads, provider=SPEC.display_name),)


NODE_CLASSES = [TogetherImageGenerate]
