"""Krea: Krea 2 image generation (asynchronous jobs).

API facts:

- Base URL https://api.krea.ai, ``Authorization: Bearer``.
- ``POST /generate/image/krea/krea-2/{medium,medium-turbo,large}`` takes
  ``{prompt, aspect_ratio, resolution: "1K", seed, creativity (raw, low,
  medium, high), moodboards: [{id, strength -0.5..1.5}],
  image_style_references: [{url, strength -2..2}] (at most 10)}`` and
  returns a job ``{job_id, status, created_at, completed_at, result}``.
- ``GET /jobs/{job_id}`` returns the job. Waiting statuses are backlogged,
  queued and scheduled, then processing; it ends completed (with
  ``result.urls``), failed (with ``result.error``) or cancelled. Failed and
  cancelled jobs are not billed.
- ``DELETE /jobs/{job_id}`` cancels a queued or processing job.
- ``POST /assets`` (multipart ``file``) uploads an image and returns
  ``{id, image_url, ...}``; the URL can be a style reference.
- Error bodies and rate limits were not found.

Sources: ComfyUI ``comfy_api_nodes/apis/krea.py`` and ``nodes_krea.py``
(fields, ranges, the seed bound); ``inference-sh/grid``
``api/krea/krea_helper.py`` (host, auth); docs.krea.ai/developers/job-lifecycle
(statuses, cancellation, billing).
"""

from __future__ import annotations

import re
from typing import Any

from ..engine.node import Input, Output
from .call import JobState, JobStatus
from .client import FormField, ProviderSpec, bearer_auth
from .media import decode_images, encode_image
from .nodebase import ProviderNode, secret_input, seed_input
from .settings import PollPolicy

SPEC = ProviderSpec(
    name="krea",
    display_name="Krea",
    base_url="https://api.krea.ai",
    auth=bearer_auth,
    poll=PollPolicy(initial_interval_s=2.0, max_interval_s=10.0, deadline_s=1800.0),
)

# Node choice -> path segment under /generate/image/krea/krea-2/.
MODELS = {"krea-2-medium": "medium", "krea-2-medium-turbo": "medium-turbo",
          "krea-2-large": "large"}
ASPECT_RATIOS = ("1:1", "4:3", "3:2", "16:9", "2.35:1", "4:5", "2:3", "9:16")
RESOLUTIONS = ("1K",)
CREATIVITY = ("raw", "low", "medium", "high")
MAX_SEED = 2147483647

_QUEUED = {"backlogged", "queued", "scheduled"}
_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


def parse_job(body: Any) -> JobStatus:
    """Map a Krea job to a JobStatus; ``result`` is the list of result URLs."""
    status = str(body["status"])
    result = body.get("result") or {}
    if status == "completed":
        return JobStatus(JobState.SUCCEEDED, 1.0, status, result=list(result.get("urls") or []))
    if status in ("failed", "cancelled"):
        error = result.get("error") if isinstance(result, dict) else None
        return JobStatus(JobState.FAILED, None, status, message=str(error or status))
    return JobStatus(JobState.QUEUED if status in _QUEUED else JobState.RUNNING, None, status)


class KreaImageGenerate(ProviderNode):
    class_type = "KreaImageGenerate"
    display_name = "Krea 2 Image Generation"
    category = "api node/image/Krea"
    description = ("Generate an image with Krea 2, optionally guided by a moodboard or a "
                   "style reference image.")
    spec = SPEC
    provider = SPEC.name
    inputs = (
        Input("prompt", "STRING", default="", multiline=True),
        Input("model", "COMBO", default="krea-2-medium", choices=tuple(MODELS)),
        Input("aspect_ratio", "COMBO", default="1:1", choices=ASPECT_RATIOS),
        Input("resolution", "COMBO", default="1K", choices=RESOLUTIONS),
        Input("creativity", "COMBO", default="medium", choices=CREATIVITY, optional=True,
              tooltip="raw follows the prompt most closely; high is the most creative."),
        seed_input(MAX_SEED),
        Input("moodboard_id", "STRING", default="", optional=True,
              tooltip="UUID of a Krea moodboard; empty sends none."),
        Input("moodboard_strength", "FLOAT", default=0.35, min=-0.5, max=1.5, step=0.05,
              optional=True),
        Input("style_image", "IMAGE", optional=True,
              tooltip="Style reference images, uploaded to Krea's assets first (at most 10)."),
        Input("style_strength", "FLOAT", default=1.0, min=-2.0, max=2.0, step=0.05,
              optional=True, tooltip="Strength of each style reference; negative inverts it."),
        secret_input(SPEC.name),
    )
    outputs = (Output("IMAGE"),)

    @classmethod
    def validate_provider_inputs(cls, **inputs: Any) -> bool | str:
        if not str(inputs.get("prompt", "")).strip():
            return "prompt is empty"
        moodboard_id = str(inputs.get("moodboard_id", "")).strip()
        if moodboard_id and not _UUID.match(moodboard_id):
            return f"moodboard_id {moodboard_id!r} is not a UUID; copy it from Krea"
        style_image = inputs.get("style_image")
        if style_image is not None and int(style_image.shape[0]) > 10:
            return f"style_image has {int(style_image.shape[0])} frames; Krea takes at most 10"
        return True

    async def execute(
        self, ctx: Any, *, prompt: str, model: str = "krea-2-medium", aspect_ratio: str = "1:1",
        resolution: str = "1K", creativity: str = "medium", seed: int = 0,
        moodboard_id: str = "", moodboard_strength: float = 0.35, style_image: Any = None,
        style_strength: float = 1.0, secret: str | None = None,
    ) -> tuple[Any]:
        self.check_inputs(prompt=prompt, moodboard_id=moodboard_id, style_image=style_image,
                          secret=secret)
        api = self.connect(ctx, secret)
        body: dict[str, Any] = {"prompt": prompt, "aspect_ratio": aspect_ratio,
                                "resolution": resolution, "creativity": creativity}
        if seed > 0:
            body["seed"] = seed
        if moodboard_id.strip():
            body["moodboards"] = [{"id": moodboard_id.strip(), "strength": moodboard_strength}]
        if style_image is not None:
            # NOTE: a resumed run uploads the style images again before finding its job.
            urls = [await _upload_asset(api, style_image, index)
                    for index in range(int(style_image.shape[0]))]
            body["image_style_references"] = [{"url": url, "strength": style_strength}
                                              for url in urls]

        job = await api.submit_job(
            f"/generate/image/krea/krea-2/{MODELS[model]}", json=body, model=model,
            job_id=lambda created: created["job_id"],
            poll_url=lambda created, job_id: f"/jobs/{job_id}",
        )
        status = await api.poll(job, parse_job, cancel=("DELETE", f"/jobs/{job.job_id}"))
        payloads = []
        for url in api.parse_result(lambda: [str(item) for item in status.result],
                                    "result.urls", job.poll_url):
            data, _ = await api.download(url, content_types=("image/",),
                                         max_bytes=api.hub.settings.max_image_bytes)
            payloads.append(data)
        return (await decode_images(payloads, provider=SPEC.display_name),)


async def _upload_asset(api: Any, image: Any, index: int) -> str:
    """Upload one frame as a PNG asset and return its Krea-hosted URL."""
    png = await encode_image(image, index=index)
    form = [FormField("file", png, filename=f"style-{index}.png", content_type="image/png")]
    asset = await api.request_json("POST", "/assets", form=form, submission=False)
    return str(api.parse_result(lambda: asset["image_url"], "image_url", "/assets"))


NODE_CLASSES = [KreaImageGenerate]
