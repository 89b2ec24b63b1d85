"""Black Forest Labs: FLUX image generation (asynchronous, polled through ``polling_url``).

API facts:

- Base URL https://api.bfl.ai (regional api.eu.bfl.ai and api.us.bfl.ai,
  legacy api.bfl.ml), ``x-key`` header.
- ``POST /v1/{model}`` with a JSON body returns ``{"id", "polling_url", "cost"}``.
- ``GET`` on the polling URL returns ``status`` (Pending, Ready, Error,
  Request Moderated, Content Moderated, Task not found) and ``progress``
  (0..1). When Ready, ``result.sample`` is an image URL that expires after
  10 minutes.

Sources: ``black-forest-labs/skills`` (``skills/bfl-api/references/endpoints.md``,
``polling-patterns.md``, ``error-handling.md``) and docs.bfl.ai/api_integration/errors.
"""

from __future__ import annotations

import base64
from typing import Any

from ..engine.node import Input, Output
from .call import JobState, JobStatus
from .client import ProviderSpec, header_auth
from .media import decode_images, encode_image
from .nodebase import ProviderNode, secret_input, seed_input
from .settings import PollPolicy

SPEC = ProviderSpec(
    name="bfl",
    display_name="Black Forest Labs",
    base_url="https://api.bfl.ai",
    auth=header_auth("x-key"),
    # The polling URL names a regional host; the key may go to any bfl.ai host.
    auth_hosts=(".bfl.ai", "api.bfl.ml"),
    poll=PollPolicy(initial_interval_s=1.0, max_interval_s=5.0, deadline_s=900.0),
)

FLUX2_MODELS = ("flux-2-pro", "flux-2-max", "flux-2-flex")
FLUX1_SIZED_MODELS = ("flux-pro-1.1",)
ASPECT_MODELS = ("flux-pro-1.1-ultra", "flux-kontext-pro", "flux-kontext-max")
MODELS = FLUX2_MODELS + FLUX1_SIZED_MODELS + ASPECT_MODELS
# Models that take ``input_image`` (editing and reference images).
INPUT_IMAGE_MODELS = (*FLUX2_MODELS, "flux-kontext-pro", "flux-kontext-max")

_FAILED = {"Error", "Request Moderated", "Content Moderated", "Task not found"}


def parse_status(body: Any) -> JobStatus:
    """Map a ``get_result`` body to a JobStatus."""
    status = str(body["status"])
    progress = body.get("progress")
    if status == "Ready":
        return JobStatus(JobState.SUCCEEDED, 1.0, status, result=body["result"])
    if status in _FAILED:
        return JobStatus(JobState.FAILED, progress, status, message=status,
                         retryable=status == "Error")
    return JobStatus(JobState.RUNNING if progress else JobState.QUEUED, progress, status)


class BFLFluxGenerate(ProviderNode):
    class_type = "BFLFluxGenerate"
    display_name = "Black Forest Labs FLUX"
    category = "api node/image/BFL"
    description = (
        "Generate an image with FLUX.2, FLUX1.1 [pro] (Ultra) or FLUX.1 Kontext; FLUX.2 and "
        "Kontext also take an input image to edit."
    )
    spec = SPEC
    provider = SPEC.name
    inputs = (
        Input("prompt", "STRING", default="", multiline=True),
        Input("model", "COMBO", default="flux-2-pro", choices=MODELS),
        Input("width", "INT", default=1024, min=64, max=4096, step=16,
              tooltip="Used by FLUX.2 (multiple of 16, at most 4 MP) and FLUX1.1 [pro] "
                      "(256-1440, multiple of 32)."),
        Input("height", "INT", default=1024, min=64, max=4096, step=16),
        Input("aspect_ratio", "STRING", default="1:1", optional=True,
              tooltip="Used instead of width and height by Ultra and Kontext, as W:H."),
        # NOTE: the API sources give no seed range; 2**32 - 1 is this node's own cap.
        seed_input(2**32 - 1),
        Input("prompt_upsampling", "BOOLEAN", default=False, optional=True),
        Input("safety_tolerance", "INT", default=2, min=0, max=6, optional=True,
              tooltip="0 is the strictest; FLUX.1 models accept up to 6, FLUX.2 up to 5."),
        Input("output_format", "COMBO", default="png", choices=("png", "jpeg"), optional=True),
        Input("input_image", "IMAGE", optional=True,
              tooltip="Image to edit (FLUX.2 and Kontext models)."),
        secret_input(SPEC.name),
    )
    outputs = (Output("IMAGE"),)

    @classmethod
    def validate_provider_inputs(cls, **inputs: Any) -> bool | str:
        model = inputs.get("model", "flux-2-pro")
        width = int(inputs.get("width", 1024))
        height = int(inputs.get("height", 1024))
        if not str(inputs.get("prompt", "")).strip():
            return "prompt is empty"
        if model in FLUX2_MODELS:
            if width % 16 or height % 16:
                return f"{model} needs width and height that are multiples of 16"
            if width * height > 4 * 1024 * 1024:
                return f"{model} accepts at most 4 megapixels, got {width}x{height}"
            if int(inputs.get("safety_tolerance", 2)) > 5:
                return f"{model} accepts safety_tolerance 0-5"
        if model in FLUX1_SIZED_MODELS and not (
            256 <= width <= 1440 and 256 <= height <= 1440 and width % 32 == 0
            and height % 32 == 0
        ):
            return f"{model} needs width and height from 256 to 1440, multiples of 32"
        if inputs.get("input_image") is not None and model not in INPUT_IMAGE_MODELS:
            return f"{model} takes no input_image here; use a FLUX.2 or Kontext model"
        aspect_ratio = str(inputs.get("aspect_ratio", "1:1"))
        if model in ASPECT_MODELS and not _is_ratio(aspect_ratio):
            return f"aspect_ratio must look like 16:9, got {aspect_ratio!r}"
        return True

    async def execute(
        self, ctx: Any, *, prompt: str, model: str = "flux-2-pro", width: int = 1024,
        height: int = 1024, aspect_ratio: str = "1:1", seed: int = 0,
        prompt_upsampling: bool = False, safety_tolerance: int = 2, output_format: str = "png",
        input_image: Any = None, secret: str | None = None,
    ) -> tuple[Any]:
        self.check_inputs(prompt=prompt, model=model, width=width, height=height,
                          aspect_ratio=aspect_ratio, safety_tolerance=safety_tolerance,
                          input_image=input_image, secret=secret)
        api = self.connect(ctx, secret)

        body: dict[str, Any] = {
            "prompt": prompt,
            "prompt_upsampling": prompt_upsampling,
            "safety_tolerance": safety_tolerance,
            "output_format": output_format,
        }
        if model in ASPECT_MODELS:
            body["aspect_ratio"] = aspect_ratio
        else:
            body["width"] = width
            body["height"] = height
        if seed > 0:
            body["seed"] = seed
        if input_image is not None:
            png = await encode_image(input_image)
            body["input_image"] = base64.b64encode(png).decode("ascii")

        job = await api.submit_job(
            f"/v1/{model}", json=body, model=model,
            job_id=lambda created: created["id"],
            poll_url=lambda created, job_id: created["polling_url"],
            cost=lambda created: created.get("cost"),
        )
        status = await api.poll(job, parse_status)
        sample = api.parse_result(lambda: str(status.result["sample"]), "result.sample",
                                  job.poll_url)
        data, _ = await api.download(sample, content_types=("image/",),
                                     max_bytes=api.hub.settings.max_image_bytes)
        return (await decode_images([data], provider=SPEC.display_name),)


def _is_ratio(value: str) -> bool:
    parts = value.split(":")
    return len(parts) == 2 and all(part.isdigit() and int(part) > 0 for part in parts)


NODE_CLASSES = [BFLFluxGenerate]
