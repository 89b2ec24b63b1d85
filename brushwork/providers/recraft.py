"""Recraft: image generation (synchronous, OpenAI-compatible shape).

API facts:

- Base URL https://external.api.recraft.ai/v1, ``Authorization: Bearer``.
- ``POST /images/generations`` takes JSON ``prompt``, ``model``, ``n`` (1-6),
  ``size``, ``style``, ``substyle``, ``negative_prompt``, ``controls`` and
  ``response_format`` (url or b64_json).
- The response is ``{created, credits, data: [{image_id, url | b64_json}]}``.
- The prompt may hold 1000 characters with recraftv2 and recraftv3.
- A non-2xx status always carries a JSON body, whose shape is not documented.

Sources: recraft.ai/docs/api-reference (image inputs and results, appendix);
ComfyUI ``comfy_api_nodes/apis/recraft_api.py`` (the sizes and the v3 styles)
and ``nodes_recraft.py``.
"""

from __future__ import annotations

from typing import Any

from ..engine.node import Input, Output
from .client import ProviderSpec, bearer_auth
from .media import decode_base64, decode_images
from .nodebase import ProviderNode, secret_input

SPEC = ProviderSpec(
    name="recraft",
    display_name="Recraft",
    base_url="https://external.api.recraft.ai/v1",
    auth=bearer_auth,
)

GENERATE_PATH = "/images/generations"
MODELS = ("recraftv3", "recraftv2")
# vector_illustration is left out: it returns SVG, which is not an IMAGE.
STYLES = ("realistic_image", "digital_illustration", "logo_raster")
SIZES = ("1024x1024", "1365x1024", "1024x1365", "1536x1024", "1024x1536", "1820x1024",
         "1024x1820", "1024x2048", "2048x1024", "1434x1024", "1024x1434", "1024x1280",
         "1280x1024", "1024x1707", "1707x1024")
MAX_PROMPT_CHARS = 1000


class RecraftGenerate(ProviderNode):
    class_type = "RecraftGenerate"
    display_name = "Recraft Image Generation"
    category = "api node/image/Recraft"
    description = "Generate raster images from a prompt with Recraft V3 or V2."
    spec = SPEC
    provider = SPEC.name
    inputs = (
        Input("prompt", "STRING", default="", multiline=True),
        Input("model", "COMBO", default="recraftv3", choices=MODELS),
        Input("style", "COMBO", default="realistic_image", choices=STYLES),
        Input("size", "COMBO", default="1024x1024", choices=SIZES),
        Input("n", "INT", default=1, min=1, max=6, optional=True),
        Input("negative_prompt", "STRING", default="", multiline=True, optional=True),
        secret_input(SPEC.name),
    )
    outputs = (Output("IMAGE"),)

    @classmethod
    def validate_provider_inputs(cls, **inputs: Any) -> bool | str:
        prompt = str(inputs.get("prompt", ""))
        if not prompt.strip():
            return "prompt is empty"
        if len(prompt) > MAX_PROMPT_CHARS:
            return (f"prompt is {len(prompt)} characters; Recraft V2 and V3 accept at most "
                    f"{MAX_PROMPT_CHARS}")
        return True

    async def execute(
        self, ctx: Any, *, prompt: str, model: str = "recraftv3",
        style: str = "realistic_image", size: str = "1024x1024", n: int = 1,
        negative_prompt: str = "", secret: str | None = None,
    ) -> tuple[Any]:
        self.check_inputs(prompt=prompt, secret=secret)
        api = self.connect(ctx, secret)
        body: dict[str, Any] = {
            "prompt": prompt, "model": model, "style": style, "size": size, "n": n,
            "response_format": "b64_json",
        }
        if negative_prompt.strip():
            body["negative_prompt"] = negative_prompt

        result = await api.request_json(
            "POST", GENERATE_PATH, json=body, model=model,
            cost=lambda response: response.get("credits"), cost_unit="credits",
        )
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


NODE_CLASSES = [RecraftGenerate]
