"""Luma Dream Machine: video and image generation (asynchronous).

API facts:

- Base URL https://api.lumalabs.ai/dream-machine/v1, ``Authorization: Bearer``.
- ``POST /generations`` (video) and ``POST /generations/image`` return a
  generation object.
- ``GET /generations/{id}`` returns ``state`` (queued, dreaming, completed,
  failed), ``failure_reason`` and ``assets{video, image}`` URLs.

Sources: the lumaai-python SDK (``src/lumaai/_client.py``,
``resources/generations/*.py``, ``types/generation.py``) and ComfyUI
``comfy_api_nodes/apis/luma_api.py``.
"""

from __future__ import annotations

from typing import Any

from ..engine.node import Input, NodeOutput, Output
from .call import JobState, JobStatus
from .client import ProviderSpec, bearer_auth
from .media import change_extension, decode_images, extension_for, output_file
from .nodebase import ProviderNode, secret_input
from .settings import PollPolicy

SPEC = ProviderSpec(
    name="luma",
    display_name="Luma AI",
    base_url="https://api.lumalabs.ai/dream-machine/v1",
    auth=bearer_auth,
    poll=PollPolicy(initial_interval_s=3.0, max_interval_s=15.0, deadline_s=1800.0),
)

VIDEO_MODELS = ("ray-2", "ray-flash-2", "ray-1-6")
IMAGE_MODELS = ("photon-1", "photon-flash-1")
ASPECT_RATIOS = ("16:9", "1:1", "9:16", "4:3", "3:4", "21:9", "9:21")
DURATIONS = ("5s", "9s")
RESOLUTIONS = ("540p", "720p", "1080p", "4k")


def parse_generation(body: Any) -> JobStatus:
    """Map a generation object to a JobStatus; ``result`` is its ``assets``."""
    state = str(body["state"])
    if state == "completed":
        return JobStatus(JobState.SUCCEEDED, 1.0, state, result=body.get("assets") or {})
    if state == "failed":
        return JobStatus(JobState.FAILED, None, state,
                         message=body.get("failure_reason") or "failed")
    return JobStatus(JobState.RUNNING if state == "dreaming" else JobState.QUEUED, None, state)


def _submit_kwargs() -> dict[str, Any]:
    return {
        "job_id": lambda created: created["id"],
        "poll_url": lambda created, job_id: f"/generations/{job_id}",
    }


class LumaVideoGenerate(ProviderNode):
    class_type = "LumaVideoGenerate"
    display_name = "Luma Video Generation"
    category = "api node/video/Luma"
    description = "Generate a video from a prompt with Luma's Ray models."
    spec = SPEC
    provider = SPEC.name
    inputs = (
        Input("prompt", "STRING", default="", multiline=True),
        Input("model", "COMBO", default="ray-2", choices=VIDEO_MODELS),
        Input("aspect_ratio", "COMBO", default="16:9", choices=ASPECT_RATIOS),
        Input("duration", "COMBO", default="5s", choices=DURATIONS),
        Input("resolution", "COMBO", default="720p", choices=RESOLUTIONS),
        Input("loop", "BOOLEAN", default=False, optional=True),
        secret_input(SPEC.name),
    )
    outputs = (Output("VIDEO"),)
    output_node = True

    @classmethod
    def validate_provider_inputs(cls, **inputs: Any) -> bool | str:
        if not str(inputs.get("prompt", "")).strip():
            return "prompt is empty"
        return True

    async def execute(
        self, ctx: Any, *, prompt: str, model: str = "ray-2", aspect_ratio: str = "16:9",
        duration: str = "5s", resolution: str = "720p", loop: bool = False,
        secret: str | None = None,
    ) -> NodeOutput:
        self.check_inputs(prompt=prompt, secret=secret)
        api = self.connect(ctx, secret)
        body = {
            "prompt": prompt, "model": model, "aspect_ratio": aspect_ratio,
            "duration": duration, "resolution": resolution, "loop": loop,
        }
        job = await api.submit_job("/generations", json=body, model=model, **_submit_kwargs())
        status = await api.poll(job, parse_generation)
        url = api.parse_result(lambda: str(status.result["video"]), "assets.video",
                               job.poll_url)
        path, entry = output_file(ctx, SPEC.name, "mp4")
        _, media_type = await api.download(
            url, content_types=("video/", "application/octet-stream"), dest=path,
        )
        path, entry = change_extension(path, entry, extension_for(media_type, "mp4"))
        return NodeOutput((str(path),), {"videos": [entry]})


class LumaImageGenerate(ProviderNode):
    class_type = "LumaImageGenerate"
    display_name = "Luma Image Generation"
    category = "api node/image/Luma"
    description = "Generate an image from a prompt with Luma's Photon models."
    spec = SPEC
    provider = SPEC.name
    inputs = (
        Input("prompt", "STRING", default="", multiline=True),
        Input("model", "COMBO", default="photon-1", choices=IMAGE_MODELS),
        Input("aspect_ratio", "COMBO", default="16:9", choices=ASPECT_RATIOS),
        secret_input(SPEC.name),
    )
    outputs = (Output("IMAGE"),)

    @classmethod
    def validate_provider_inputs(cls, **inputs: Any) -> bool | str:
        if not str(inputs.get("prompt", "")).strip():
            return "prompt is empty"
        return True

    async def execute(
        self, ctx: Any, *, prompt: str, model: str = "photon-1", aspect_ratio: str = "16:9",
        secret: str | None = None,
    ) -> tuple[Any]:
        self.check_inputs(prompt=prompt, secret=secret)
        api = self.connect(ctx, secret)
        body = {"prompt": prompt, "model": model, "aspect_ratio": aspect_ratio}
        job = await api.submit_job("/generations/image", json=body, model=model,
                                   **_submit_kwargs())
        status = await api.poll(job, parse_generation)
        url = api.parse_result(lambda: str(status.result["image"]), "assets.image",
                               job.poll_url)
        data, _ = await api.download(url, content_types=("image/",),
                                     max_bytes=api.hub.settings.max_image_bytes)
        return (await decode_images([data], provider=SPEC.display_name),)


NODE_CLASSES = [LumaVideoGenerate, LumaImageGenerate]
