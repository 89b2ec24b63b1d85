"""Leonardo.Ai: image generation (asynchronous).

API facts:

- Base URL https://cloud.leonardo.ai/api/rest/v1, ``Authorization: Bearer``.
- ``POST /generations`` takes ``{prompt, modelId, width, height,
  num_images, negative_prompt, seed, guidance_scale, contrast, alchemy,
  ...}`` and returns ``{"sdGenerationJob": {"generationId", "apiCreditCost"}}``.
- ``GET /generations/{generationId}`` returns ``{"generations_by_pk": {id,
  status, generated_images: [{id, url, nsfw}], ...}}`` with ``status``
  PENDING, COMPLETE or FAILED.
- Limits: width and height 32-1536; num_images 1-8, and at most 4 when width
  or height is over 768; guidance_scale 1-20. Phoenix models require
  ``contrast``, one of 3, 3.5 or 4.
- Rate limits: 100 generation requests a minute, 10 concurrent jobs and 200
  queued jobs by default; past them the API returns 429.

Sources: docs.leonardo.ai/v1.0/reference/limits,
docs.leonardo.ai/docs/guide-to-concurrency-queue-and-rate-limit,
docs.leonardo.ai/v1.0/docs/phoenix (the Phoenix 1.0 model id, ``contrast``,
``alchemy``), pypi.org/project/leonardo-api/0.0.2 (response example), the
api-evangelist leonardo-ai get-generation example, and Pipedream's
``components/leonardo_ai/actions/generate-image`` (ranges, quoting
docs.leonardo.ai/reference/creategeneration).
"""

from __future__ import annotations

import re
from typing import Any

from ..engine.node import Input, Output
from .call import JobState, JobStatus
from .client import ProviderSpec, bearer_auth
from .media import decode_images
from .nodebase import ProviderNode, secret_input, seed_input
from .settings import PollPolicy

SPEC = ProviderSpec(
    name="leonardo",
    display_name="Leonardo.Ai",
    base_url="https://cloud.leonardo.ai/api/rest/v1",
    auth=bearer_auth,
    poll=PollPolicy(initial_interval_s=3.0, max_interval_s=15.0, deadline_s=1800.0),
)

# Phoenix 1.0, the model of Leonardo's Phoenix guide.
DEFAULT_MODEL_ID = "de7d3faf-762f-48e0-b3b7-9d0ac3a3fcf3"
# "none" sends no contrast, for models other than Phoenix.
CONTRASTS = ("3", "3.5", "4", "none")
MIN_SIDE, MAX_SIDE = 32, 1536
MAX_IMAGES = 8
# Above this side length, at most MAX_LARGE_IMAGES images may be requested at once.
LARGE_SIDE = 768
MAX_LARGE_IMAGES = 4
GENERATIONS_PATH = "/generations"

_MODEL_ID = re.compile(r"^[0-9a-fA-F-]{36}$")


def parse_generation(body: Any) -> JobStatus:
    """Map ``generations_by_pk`` to a JobStatus; ``result`` is its image list."""
    generation = body["generations_by_pk"]
    status = str(generation["status"])
    if status == "COMPLETE":
        return JobStatus(JobState.SUCCEEDED, 1.0, status,
                         result=list(generation.get("generated_images") or []))
    if status == "FAILED":
        return JobStatus(JobState.FAILED, None, status, message="the generation failed")
    # NOTE: only PENDING is documented as an unfinished status; any other counts as running.
    return JobStatus(JobState.QUEUED if status == "PENDING" else JobState.RUNNING, None, status)


def _credit_cost(body: Any) -> float | None:
    return body["sdGenerationJob"]["apiCreditCost"]


class LeonardoImageGenerate(ProviderNode):
    class_type = "LeonardoImageGenerate"
    display_name = "Leonardo.Ai Image Generation"
    category = "api node/image/Leonardo.Ai"
    description = "Generate images with a Leonardo.Ai platform or custom model."
    spec = SPEC
    provider = SPEC.name
    inputs = (
        Input("prompt", "STRING", default="", multiline=True),
        Input("model_id", "STRING", default=DEFAULT_MODEL_ID,
              tooltip="Model UUID; the default is Phoenix 1.0."),
        Input("width", "INT", default=1024, min=MIN_SIDE, max=MAX_SIDE, step=8),
        Input("height", "INT", default=1024, min=MIN_SIDE, max=MAX_SIDE, step=8),
        Input("num_images", "INT", default=1, min=1, max=MAX_IMAGES,
              tooltip="1-8 images, or 1-4 when width or height is over 768."),
        Input("contrast", "COMBO", default="3.5", choices=CONTRASTS, optional=True,
              tooltip="Low (3), medium (3.5) or high (4); Phoenix models require it."),
        Input("negative_prompt", "STRING", default="", multiline=True, optional=True),
        Input("guidance_scale", "INT", default=0, min=0, max=20, optional=True,
              tooltip="How closely to follow the prompt (1-20); 0 sends none."),
        Input("alchemy", "BOOLEAN", default=False, optional=True,
              tooltip="Quality mode of Phoenix models."),
        # NOTE: the sources state no seed range; 2**31 - 1 is this node's own bound.
        seed_input(2**31 - 1),
        secret_input(SPEC.name),
    )
    outputs = (Output("IMAGE"),)

    @classmethod
    def validate_provider_inputs(cls, **inputs: Any) -> bool | str:
        if not str(inputs.get("prompt", "")).strip():
            return "prompt is empty"
        model_id = str(inputs.get("model_id", DEFAULT_MODEL_ID))
        if not _MODEL_ID.match(model_id):
            return f"model_id {model_id!r} is not a Leonardo.Ai model UUID"
        width = int(inputs.get("width", 1024))
        height = int(inputs.get("height", 1024))
        for name, side in (("width", width), ("height", height)):
            if not MIN_SIDE <= side <= MAX_SIDE:
                return f"{name} is {side}; Leonardo.Ai takes {MIN_SIDE} to {MAX_SIDE} pixels"
        count = int(inputs.get("num_images", 1))
        limit = MAX_LARGE_IMAGES if max(width, height) > LARGE_SIDE else MAX_IMAGES
        if not 1 <= count <= limit:
            return (f"num_images is {count}; Leonardo.Ai takes 1 to {limit} images at "
                    f"{width}x{height}")
        return True

    async def execute(
        self, ctx: Any, *, prompt: str, model_id: str = DEFAULT_MODEL_ID, width: int = 1024,
        height: int = 1024, num_images: int = 1, contrast: str = "3.5",
        negative_prompt: str = "", guidance_scale: int = 0, alchemy: bool = False,
        seed: int = 0, secret: str | None = None,
    ) -> tuple[Any]:
        self.check_inputs(prompt=prompt, model_id=model_id, width=width, height=height,
                          num_images=num_images, secret=secret)
        api = self.connect(ctx, secret)
        body: dict[str, Any] = {
            "prompt": prompt, "modelId": model_id, "width": width, "height": height,
            "num_images": num_images,
        }
        if contrast != "none":
            body["contrast"] = float(contrast)
        if negative_prompt.strip():
            body["negative_prompt"] = negative_prompt
        if guidance_scale > 0:
            body["guidance_scale"] = guidance_scale
        if alchemy:
            body["alchemy"] = True
        if seed > 0:
            body["seed"] = seed

        job = await api.submit_job(
            GENERATIONS_PATH, json=body, model=model_id,
            job_id=lambda created: created["sdGenerationJob"]["generationId"],
            poll_url=lambda created, job_id: f"/generations/{job_id}",
            cost=_credit_cost, cost_unit="api_credits",
        )
        status = await api.poll(job, parse_generation)
        urls = api.parse_result(lambda: [str(image["url"]) for image in status.result],
                                "generated_images[].url", job.poll_url)
        payloads = []
        for url in urls:
            data, _ = await api.download(url, content_types=("image/",),
                                         max_bytes=api.hub.settings.max_image_bytes)
            payloads.append(data)
        return (await decode_images(payloads, provider=SPEC.display_name),)


NODE_CLASSES = [LeonardoImageGenerate]
