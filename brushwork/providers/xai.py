"""xAI Grok Imagine: image generation (synchronous) and video generation (asynchronous).

API facts:

- Base URL https://api.x.ai/v1, ``Authorization: Bearer``.
- ``POST /images/generations`` takes ``{model, prompt, n (1-10),
  response_format (url | b64_json), aspect_ratio, resolution (1k | 2k),
  quality (grok-imagine-image-2.0 only), user}``; ``size`` and ``style`` are
  not supported. It returns ``{data: [{url | b64_json, revised_prompt}],
  usage: {cost_in_usd_ticks}}``.
- ``POST /videos/generations`` takes ``{model: "grok-imagine-video", prompt,
  image: {url}, duration (1-15 s), aspect_ratio, resolution (480p | 720p)}``
  and returns ``{request_id}``. The first-frame ``image.url`` may be a data URI.
- ``GET /videos/{request_id}`` returns ``{status, video: {url, duration,
  respect_moderation}, progress, usage, error: {code, message}}``. ``status``
  is pending, done, failed or expired; ``respect_moderation: false`` on a
  finished video means moderation blocked it.
- Errors are ``{"error": {"message", "type", "param", "code"}}``, or
  ``{"code", "error"}`` with ``error`` a string.

Sources:

- ComfyUI ``comfy_api_nodes/apis/grok.py``: request and response models.
- docs.x.ai/developers/model-capabilities/video/generation and
  apidog.com/blog/grok-image-to-video-api: endpoints, the duration range.
- The Vercel AI SDK, ``packages/xai/src/xai-video-model.ts``: status values,
  the moderation flag, data URI first frames. ``xai-error.ts`` and
  ``xai-error.test.ts``: error bodies.
- OpenClaw's xAI provider docs: video aspect ratios.
"""

from __future__ import annotations

from typing import Any

from ..engine.node import Input, NodeOutput, Output
from ..errors import ProviderError
from .call import JobState, JobStatus
from .client import ProviderSpec, bearer_auth, default_error_message
from .media import (
    change_extension,
    data_uri,
    decode_base64,
    decode_images,
    encode_image,
    extension_for,
    output_file,
)
from .nodebase import ProviderNode, secret_input
from .settings import PollPolicy


def xai_error_message(body: Any) -> str | None:
    """Read both error shapes: ``{"error": {...}}`` and ``{"code", "error": "..."}``."""
    if isinstance(body, dict) and isinstance(body.get("error"), str) and body.get("code"):
        return f"{body['code']}: {body['error']}"
    return default_error_message(body)


SPEC = ProviderSpec(
    name="xai",
    display_name="xAI",
    base_url="https://api.x.ai/v1",
    auth=bearer_auth,
    error_message=xai_error_message,
    poll=PollPolicy(initial_interval_s=5.0, max_interval_s=15.0, deadline_s=1800.0),
)

IMAGE_MODELS = ("grok-imagine-image", "grok-imagine-image-pro", "grok-imagine-image-quality",
                "grok-imagine-image-2.0", "grok-2-image-1212")
IMAGE_ASPECT_RATIOS = ("auto", "1:1", "3:4", "4:3", "9:16", "16:9", "2:3", "3:2", "9:19.5",
                       "19.5:9", "9:20", "20:9", "1:2", "2:1")
IMAGE_RESOLUTIONS = ("1k", "2k")
# "auto" sends no quality; the API takes quality only with grok-imagine-image-2.0.
IMAGE_QUALITIES = ("auto", "low", "medium", "high")
QUALITY_MODEL = "grok-imagine-image-2.0"
MAX_IMAGES = 10

VIDEO_MODELS = ("grok-imagine-video",)
# "auto" sends no aspect_ratio, so the API picks it (from the first frame, if any).
VIDEO_ASPECT_RATIOS = ("auto", "16:9", "9:16", "1:1", "4:3", "3:4", "3:2", "2:3")
VIDEO_RESOLUTIONS = ("480p", "720p")

IMAGES_PATH = "/images/generations"
VIDEOS_PATH = "/videos/generations"


def _cost_in_ticks(body: Any) -> float | None:
    return body["usage"]["cost_in_usd_ticks"]


def parse_video(body: Any) -> JobStatus:
    """Map a video status body to a JobStatus; ``result`` is its ``video`` object."""
    status = body.get("status")
    video = body.get("video") or {}
    if status == "done":
        if video.get("respect_moderation") is False:
            return JobStatus(JobState.FAILED, None, status,
                             message="moderation blocked the video")
        return JobStatus(JobState.SUCCEEDED, 1.0, status, result=video)
    if status in ("failed", "expired"):
        error = body.get("error") or {}
        message = error.get("message") if isinstance(error, dict) else None
        return JobStatus(JobState.FAILED, None, status, message=message or status,
                         retryable=status == "expired")
    # NOTE: only pending is known as an unfinished status; any other is treated as running.
    return JobStatus(JobState.QUEUED if status == "pending" else JobState.RUNNING, None,
                     str(status))


class XAIImageGenerate(ProviderNode):
    class_type = "XAIImageGenerate"
    display_name = "xAI Grok Image Generation"
    category = "api node/image/xAI"
    description = "Generate images with xAI's Grok Imagine image models."
    spec = SPEC
    provider = SPEC.name
    inputs = (
        Input("prompt", "STRING", default="", multiline=True),
        Input("model", "COMBO", default="grok-imagine-image", choices=IMAGE_MODELS),
        Input("aspect_ratio", "COMBO", default="auto", choices=IMAGE_ASPECT_RATIOS),
        Input("resolution", "COMBO", default="1k", choices=IMAGE_RESOLUTIONS),
        Input("quality", "COMBO", default="auto", choices=IMAGE_QUALITIES, optional=True,
              tooltip="Only grok-imagine-image-2.0 takes a quality; auto sends none."),
        Input("n", "INT", default=1, min=1, max=MAX_IMAGES, optional=True,
              tooltip="Number of images (1-10)."),
        secret_input(SPEC.name),
    )
    outputs = (Output("IMAGE"),)

    @classmethod
    def validate_provider_inputs(cls, **inputs: Any) -> bool | str:
        if not str(inputs.get("prompt", "")).strip():
            return "prompt is empty"
        model = inputs.get("model", "grok-imagine-image")
        quality = inputs.get("quality", "auto")
        if quality != "auto" and model != QUALITY_MODEL:
            return f"quality is available only with {QUALITY_MODEL}, not {model}"
        count = int(inputs.get("n", 1))
        if not 1 <= count <= MAX_IMAGES:
            return f"n is {count}; xAI generates 1 to {MAX_IMAGES} images"
        return True

    async def execute(
        self, ctx: Any, *, prompt: str, model: str = "grok-imagine-image",
        aspect_ratio: str = "auto", resolution: str = "1k", quality: str = "auto", n: int = 1,
        secret: str | None = None,
    ) -> tuple[Any]:
        self.check_inputs(prompt=prompt, model=model, quality=quality, n=n, secret=secret)
        api = self.connect(ctx, secret)
        body: dict[str, Any] = {
            "model": model, "prompt": prompt, "n": n, "aspect_ratio": aspect_ratio,
            "resolution": resolution,
            # Base64 puts the images into this response; the default is a URL to download.
            "response_format": "b64_json",
        }
        if quality != "auto":
            body["quality"] = quality

        result = await api.request_json("POST", IMAGES_PATH, json=body, model=model,
                                         cost=_cost_in_ticks, cost_unit="usd_ticks")

        items = api.parse_result(lambda: list(result["data"]), "data", IMAGES_PATH)
        payloads = []
        for item in items:
            if item.get("b64_json"):
                payloads.append(decode_base64(item["b64_json"], provider=SPEC.display_name))
            elif item.get("url"):
                data, _ = await api.download(item["url"], content_types=("image/",),
                                             max_bytes=api.hub.settings.max_image_bytes)
                payloads.append(data)
        return (await decode_images(payloads, provider=SPEC.display_name),)


class XAIVideoGenerate(ProviderNode):
    class_type = "XAIVideoGenerate"
    display_name = "xAI Grok Video Generation"
    category = "api node/video/xAI"
    description = ("Generate a video from a prompt with xAI's Grok Imagine video model, "
                   "optionally starting from an image.")
    spec = SPEC
    provider = SPEC.name
    inputs = (
        Input("prompt", "STRING", default="", multiline=True),
        Input("model", "COMBO", default="grok-imagine-video", choices=VIDEO_MODELS),
        Input("duration", "INT", default=6, min=1, max=15, tooltip="Length in seconds (1-15)."),
        Input("aspect_ratio", "COMBO", default="auto", choices=VIDEO_ASPECT_RATIOS),
        Input("resolution", "COMBO", default="720p", choices=VIDEO_RESOLUTIONS),
        Input("image", "IMAGE", optional=True,
              tooltip="First frame of the video, sent as a PNG data URI."),
        secret_input(SPEC.name),
    )
    outputs = (Output("VIDEO"),)
    output_node = True

    @classmethod
    def validate_provider_inputs(cls, **inputs: Any) -> bool | str:
        if not str(inputs.get("prompt", "")).strip():
            return "prompt is empty"
        duration = int(inputs.get("duration", 6))
        if not 1 <= duration <= 15:
            return f"duration is {duration} s; xAI generates 1 to 15 s"
        return True

    async def execute(
        self, ctx: Any, *, prompt: str, model: str = "grok-imagine-video", duration: int = 6,
        aspect_ratio: str = "auto", resolution: str = "720p", image: Any = None,
        secret: str | None = None,
    ) -> NodeOutput:
        self.check_inputs(prompt=prompt, duration=duration, secret=secret)
        api = self.connect(ctx, secret)
        body: dict[str, Any] = {"model": model, "prompt": prompt, "duration": duration,
                                "resolution": resolution}
        if aspect_ratio != "auto":
            body["aspect_ratio"] = aspect_ratio
        if image is not None:
            png = await encode_image(image)
            body["image"] = {"url": data_uri(png, "image/png")}

        job = await api.submit_job(
            VIDEOS_PATH, json=body, model=model,
            job_id=lambda created: created["request_id"],
            poll_url=lambda created, job_id: f"/videos/{job_id}",
        )
        status = await api.poll(job, parse_video)
        url = api.parse_result(lambda: status.result.get("url"), "video.url", job.poll_url)
        if not isinstance(url, str) or not url:
            raise ProviderError(
                f"xAI job {job.job_id} finished without a video URL. The provider may "
                "already have charged for it.",
                provider=SPEC.name, may_have_charged=True,
            )
        path, entry = output_file(ctx, SPEC.name, "mp4")
        _, media_type = await api.download(
            url, content_types=("video/", "application/octet-stream"), dest=path,
        )
        path, entry = change_extension(path, entry, extension_for(media_type, "mp4"))
        return NodeOutput((str(path),), {"videos": [entry]})


NODE_CLASSES = [XAIImageGenerate, XAIVideoGenerate]
