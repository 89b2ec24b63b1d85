"""Hugging Face Inference: text to image on the HF-hosted provider (synchronous, binary response).

API facts:

- Base URL https://router.huggingface.co/hf-inference (the router's
  HF-hosted provider), ``Authorization: Bearer hf_...``.
- ``POST /models/{model_id}`` with ``{"inputs": <prompt>, "parameters":
  {guidance_scale, height, width, negative_prompt, num_inference_steps,
  scheduler, seed}}`` returns the image bytes. The Content-Type of the
  response is not confirmed.
- Errors are JSON with an ``error`` field.

Sources: the huggingface_hub client (``src/huggingface_hub/constants.py``,
``inference/_providers/hf_inference.py``, ``inference/_common.py``,
``inference/_generated/types/text_to_image.py``, ``utils/_http.py``).
"""

from __future__ import annotations

import io
import re
from typing import Any

from ..engine.node import Input, Output
from .client import ProviderSpec, bearer_auth
from .media import decode_images
from .nodebase import ProviderNode, secret_input, seed_input

SPEC = ProviderSpec(
    name="huggingface",
    display_name="Hugging Face",
    base_url="https://router.huggingface.co/hf-inference",
    auth=bearer_auth,
)

# NOTE: the response's Content-Type is not confirmed, so a generic binary type is
# accepted too; the body must still decode as an image.
IMAGE_TYPES = ("image/", "application/octet-stream")
# A model id is "owner/name" (letters, digits, "-", "_", "."); it becomes part of the URL path.
_MODEL_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*/[A-Za-z0-9][A-Za-z0-9_.-]*$")


def check_image_bytes(body: bytes, media_type: str) -> None:
    """Raise ValueError unless ``body`` starts like an image file PIL can open."""
    from PIL import Image, UnidentifiedImageError

    try:
        # Image.open reads only the header; the node decodes the pixels later in a thread.
        with Image.open(io.BytesIO(body)):
            pass
    except (UnidentifiedImageError, OSError) as exc:
        raise ValueError(f"{len(body)} bytes of {media_type or 'unknown type'} are not an "
                         f"image ({type(exc).__name__})") from None


class HuggingFaceTextToImage(ProviderNode):
    class_type = "HuggingFaceTextToImage"
    display_name = "Hugging Face Text to Image"
    category = "api node/image/Hugging Face"
    description = "Generate an image with a text-to-image model on Hugging Face Inference."
    spec = SPEC
    provider = SPEC.name
    inputs = (
        Input("prompt", "STRING", default="", multiline=True),
        Input("model", "STRING", default="",
              tooltip="Hub model id, owner/name, of a text-to-image model that HF "
                      "Inference serves."),
        Input("width", "INT", default=0, min=0, max=4096, step=8, optional=True,
              tooltip="Image width in pixels; 0 leaves it to the model."),
        Input("height", "INT", default=0, min=0, max=4096, step=8, optional=True,
              tooltip="Image height in pixels; 0 leaves it to the model."),
        Input("num_inference_steps", "INT", default=0, min=0, max=500, optional=True,
              tooltip="Denoising steps; 0 leaves it to the model."),
        Input("guidance_scale", "FLOAT", default=0.0, min=0.0, max=100.0, step=0.1,
              optional=True, tooltip="Classifier-free guidance; 0 leaves it to the model."),
        Input("negative_prompt", "STRING", default="", multiline=True, optional=True),
        Input("scheduler", "STRING", default="", optional=True,
              tooltip="Scheduler class name to override the model's; empty sends none."),
        # NOTE: the sources state no seed range; 2**31 - 1 is this node's own bound.
        seed_input(2**31 - 1),
        secret_input(SPEC.name),
    )
    outputs = (Output("IMAGE"),)

    @classmethod
    def validate_provider_inputs(cls, **inputs: Any) -> bool | str:
        if not str(inputs.get("prompt", "")).strip():
            return "prompt is empty"
        model = str(inputs.get("model", ""))
        if not _MODEL_ID.match(model):
            return (f"model {model!r} is not a Hub model id; enter it as owner/name, such "
                    "as the id shown on the model's page")
        return True

    async def execute(
        self, ctx: Any, *, prompt: str, model: str, width: int = 0, height: int = 0,
        num_inference_steps: int = 0, guidance_scale: float = 0.0, negative_prompt: str = "",
        scheduler: str = "", seed: int = 0, secret: str | None = None,
    ) -> tuple[Any]:
        self.check_inputs(prompt=prompt, model=model, secret=secret)
        api = self.connect(ctx, secret)
        parameters: dict[str, Any] = {}
        if width > 0:
            parameters["width"] = width
        if height > 0:
            parameters["height"] = height
        if num_inference_steps > 0:
            parameters["num_inference_steps"] = num_inference_steps
        if guidance_scale > 0:
            parameters["guidance_scale"] = guidance_scale
        if negative_prompt.strip():
            parameters["negative_prompt"] = negative_prompt
        if scheduler.strip():
            parameters["scheduler"] = scheduler.strip()
        if seed > 0:
            parameters["seed"] = seed
        body: dict[str, Any] = {"inputs": prompt}
        if parameters:
            body["parameters"] = parameters

        data, _ = await api.request_bytes(
            "POST", f"/models/{model}", json=body, model=model, content_types=IMAGE_TYPES,
            max_bytes=api.hub.settings.max_image_bytes, validate=check_image_bytes,
        )
        return (await decode_images([data], provider=SPEC.display_name),)


NODE_CLASSES = [HuggingFaceTextToImage]
