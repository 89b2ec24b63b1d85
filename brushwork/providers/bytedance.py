"""ByteDance on BytePlus ModelArk: Seedream images (synchronous), Seedance video (asynchronous).

API facts:

- Base URL https://ark.ap-southeast.bytepluses.com/api/v3,
  ``Authorization: Bearer``.
- ``POST /images/generations`` returns ``{model, created, data: [{url |
  b64_json, size}], usage, error{code, message}}``.
- ``POST /contents/generations/tasks`` takes ``model`` and a ``content``
  list whose text item carries the prompt followed by flags such as
  ``--resolution 720p --ratio 16:9 --duration 5 --seed 1 --camerafixed false
  --watermark false``; it returns ``{id}``.
- ``GET /contents/generations/tasks/{id}`` returns ``status`` (queued,
  running, cancelled, succeeded, failed), ``content.video_url`` and
  ``error{code, message}``.

Sources: ComfyUI ``comfy_api_nodes/nodes_bytedance.py``; ``inference-sh/grid``
``api/bytedance/byteplus_helper.py`` and ``SKILL.md`` (host and header);
Comfy-Org/comfy-cli ``poll.py`` (Seedance statuses).
"""

from __future__ import annotations

import re
from typing import Any

from ..engine.node import Input, NodeOutput, Output
from ..errors import ProviderError
from .call import JobState, JobStatus
from .client import ProviderSpec, bearer_auth
from .media import (
    change_extension,
    decode_base64,
    decode_images,
    extension_for,
    output_file,
)
from .nodebase import ProviderNode, secret_input, seed_input
from .settings import PollPolicy

SPEC = ProviderSpec(
    name="bytedance",
    display_name="BytePlus ModelArk",
    base_url="https://ark.ap-southeast.bytepluses.com/api/v3",
    auth=bearer_auth,
    poll=PollPolicy(initial_interval_s=5.0, max_interval_s=15.0, deadline_s=1800.0),
)

IMAGE_MODELS = ("seedream-4-0-250828", "seedream-3-0-t2i-250415")
# guidance_scale (1-10) is documented for the version 3 models only.
GUIDANCE_MODELS = ("seedream-3-0-t2i-250415",)
VIDEO_MODELS = ("seedance-1-0-pro-250528", "seedance-1-0-lite-t2v-250428",
                "seedance-1-5-pro-251215")
MAX_SEED = 2147483647

_SIZE = re.compile(r"^(\d+x\d+|adaptive)$")
_RESOLUTION = re.compile(r"^\d+p$")
_RATIO = re.compile(r"^\d+:\d+$")
# A word starting with "--" in a Seedance prompt would be read as a parameter flag.
_FLAG = re.compile(r"(^|\s)--\w")
_QUEUED = {"queued"}
_FAILED = {"failed", "cancelled"}


def _error_text(error: Any) -> str | None:
    if not isinstance(error, dict):
        return None
    code = error.get("code")
    message = error.get("message")
    if code and message:
        return f"{message} ({code})"
    return str(message or code) if (message or code) else None


def parse_task(body: Any) -> JobStatus:
    """Map a Seedance task to a JobStatus; ``result`` is its ``content``."""
    status = str(body["status"])
    if status == "succeeded":
        return JobStatus(JobState.SUCCEEDED, 1.0, status, result=body["content"])
    if status in _FAILED:
        return JobStatus(JobState.FAILED, None, status,
                         message=_error_text(body.get("error")) or status)
    return JobStatus(JobState.QUEUED if status in _QUEUED else JobState.RUNNING, None, status)


def seedance_prompt(prompt: str, *, resolution: str, ratio: str, duration: int, seed: int,
                    camera_fixed: bool, watermark: bool) -> str:
    """Return the text item of a Seedance request: the prompt followed by its parameter flags."""
    flags = [f"--resolution {resolution}", f"--ratio {ratio}", f"--duration {duration}"]
    if seed > 0:
        flags.append(f"--seed {seed}")
    flags.append(f"--camerafixed {str(camera_fixed).lower()}")
    flags.append(f"--watermark {str(watermark).lower()}")
    return f"{prompt.strip()} {' '.join(flags)}"


class ByteDanceSeedreamImage(ProviderNode):
    class_type = "ByteDanceSeedreamImage"
    display_name = "ByteDance Seedream Image"
    category = "api node/image/ByteDance"
    description = "Generate an image from a prompt with ByteDance Seedream (BytePlus ModelArk)."
    spec = SPEC
    provider = SPEC.name
    inputs = (
        Input("prompt", "STRING", default="", multiline=True),
        Input("model", "COMBO", default="seedream-4-0-250828", choices=IMAGE_MODELS),
        Input("size", "STRING", default="1024x1024",
              tooltip="WIDTHxHEIGHT in pixels, such as 1024x1024, or 'adaptive'."),
        seed_input(MAX_SEED),
        # NOTE: the API's default guidance_scale is not stated; 2.5 is this node's own.
        Input("guidance_scale", "FLOAT", default=2.5, min=1.0, max=10.0, step=0.1,
              optional=True, tooltip="Prompt adherence; sent to Seedream 3.0 only."),
        Input("watermark", "BOOLEAN", default=False, optional=True,
              tooltip="Add the provider's watermark (the API's own default is on)."),
        secret_input(SPEC.name),
    )
    outputs = (Output("IMAGE"),)

    @classmethod
    def validate_provider_inputs(cls, **inputs: Any) -> bool | str:
        if not str(inputs.get("prompt", "")).strip():
            return "prompt is empty"
        size = str(inputs.get("size", "1024x1024"))
        if not _SIZE.match(size):
            return f"size must look like 1024x1024 or be 'adaptive', got {size!r}"
        return True

    async def execute(
        self, ctx: Any, *, prompt: str, model: str = "seedream-4-0-250828",
        size: str = "1024x1024", seed: int = 0, guidance_scale: float = 2.5,
        watermark: bool = False, secret: str | None = None,
    ) -> tuple[Any]:
        self.check_inputs(prompt=prompt, size=size, secret=secret)
        api = self.connect(ctx, secret)
        body: dict[str, Any] = {
            "model": model,
            "prompt": prompt,
            "response_format": "b64_json",
            "size": size,
            "watermark": watermark,
        }
        if seed > 0:
            body["seed"] = seed
        if model in GUIDANCE_MODELS:
            body["guidance_scale"] = guidance_scale

        path = "/images/generations"
        result = await api.request_json("POST", path, json=body, model=model)
        items = result.get("data") if isinstance(result, dict) else None
        if not items:
            problem = _error_text(result.get("error")) if isinstance(result, dict) else None
            raise ProviderError(
                f"{SPEC.display_name} POST {path} returned no images"
                + (f": {problem}" if problem else "")
                + ". The provider may already have charged for this request.",
                provider=SPEC.name, may_have_charged=True,
            )
        payloads = []
        for index, item in enumerate(items):
            if item.get("b64_json"):
                payloads.append(decode_base64(item["b64_json"], provider=SPEC.display_name))
                continue
            url = api.parse_result(lambda item=item: str(item["url"]), f"data[{index}].url",
                                   path)
            data, _ = await api.download(url, content_types=("image/",),
                                         max_bytes=api.hub.settings.max_image_bytes)
            payloads.append(data)
        return (await decode_images(payloads, provider=SPEC.display_name),)


class ByteDanceSeedanceVideo(ProviderNode):
    class_type = "ByteDanceSeedanceVideo"
    display_name = "ByteDance Seedance Text to Video"
    category = "api node/video/ByteDance"
    description = "Generate a video from a prompt with ByteDance Seedance (BytePlus ModelArk)."
    spec = SPEC
    provider = SPEC.name
    inputs = (
        Input("prompt", "STRING", default="", multiline=True),
        Input("model", "COMBO", default="seedance-1-0-pro-250528", choices=VIDEO_MODELS),
        Input("resolution", "STRING", default="720p",
              tooltip="Output resolution such as 720p; the accepted values depend on the model."),
        Input("ratio", "STRING", default="16:9",
              tooltip="Aspect ratio as W:H, such as 16:9."),
        Input("duration", "INT", default=5, min=1, tooltip="Seconds."),
        # NOTE: the sources give no Seedance seed range; this is the Seedream range.
        seed_input(MAX_SEED),
        Input("camera_fixed", "BOOLEAN", default=False, optional=True,
              tooltip="Keep the camera still."),
        Input("watermark", "BOOLEAN", default=False, optional=True),
        secret_input(SPEC.name),
    )
    outputs = (Output("VIDEO"),)
    output_node = True

    @classmethod
    def validate_provider_inputs(cls, **inputs: Any) -> bool | str:
        prompt = str(inputs.get("prompt", ""))
        if not prompt.strip():
            return "prompt is empty"
        if _FLAG.search(prompt):
            return "prompt must not contain a '--name' flag; set the parameters with the inputs"
        resolution = str(inputs.get("resolution", "720p"))
        if not _RESOLUTION.match(resolution):
            return f"resolution must look like 720p, got {resolution!r}"
        ratio = str(inputs.get("ratio", "16:9"))
        if not _RATIO.match(ratio):
            return f"ratio must look like 16:9, got {ratio!r}"
        return True

    async def execute(
        self, ctx: Any, *, prompt: str, model: str = "seedance-1-0-pro-250528",
        resolution: str = "720p", ratio: str = "16:9", duration: int = 5, seed: int = 0,
        camera_fixed: bool = False, watermark: bool = False, secret: str | None = None,
    ) -> NodeOutput:
        self.check_inputs(prompt=prompt, resolution=resolution, ratio=ratio, secret=secret)
        api = self.connect(ctx, secret)
        text = seedance_prompt(prompt, resolution=resolution, ratio=ratio, duration=duration,
                               seed=seed, camera_fixed=camera_fixed, watermark=watermark)
        body = {"model": model, "content": [{"type": "text", "text": text}]}
        job = await api.submit_job(
            "/contents/generations/tasks", json=body, model=model,
            job_id=lambda created: created["id"],
            poll_url=lambda created, job_id: f"/contents/generations/tasks/{job_id}",
        )
        status = await api.poll(job, parse_task)
        url = api.parse_result(lambda: str(status.result["video_url"]), "content.video_url",
                               job.poll_url)
        path, entry = output_file(ctx, SPEC.name, "mp4")
        _, media_type = await api.download(
            url, content_types=("video/", "application/octet-stream"), dest=path,
        )
        path, entry = change_extension(path, entry, extension_for(media_type, "mp4"))
        return NodeOutput((str(path),), {"videos": [entry]})


NODE_CLASSES = [ByteDanceSeedreamImage, ByteDanceSeedanceVideo]
