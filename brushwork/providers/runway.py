"""Runway: image-to-video and text-to-image (asynchronous tasks).

API facts:

- Base URL https://api.dev.runwayml.com, ``Authorization: Bearer`` and the
  required ``X-Runway-Version: 2024-11-06`` header; camelCase JSON bodies.
- ``POST /v1/image_to_video`` and ``POST /v1/text_to_image`` return ``{"id"}``.
- ``GET /v1/tasks/{id}`` returns ``status`` (PENDING, THROTTLED, RUNNING,
  SUCCEEDED, FAILED, CANCELLED), ``progress`` (0..1) while running,
  ``output`` (URLs) on success, and ``failure`` and ``failureCode`` on failure.
- ``DELETE /v1/tasks/{id}`` cancels a task.

Sources: the runwayml sdk-python (``src/runwayml/_client.py``,
``types/image_to_video_create_params.py``, ``types/text_to_image_create_params.py``,
``types/task_retrieve_response.py``) and docs.dev.runwayml.com/usage/tiers/.
"""

from __future__ import annotations

from typing import Any

from ..engine.node import Input, NodeOutput, Output
from .call import JobState, JobStatus
from .client import ProviderSpec, bearer_auth
from .media import (
    change_extension,
    data_uri,
    decode_images,
    encode_image_within,
    extension_for,
    output_file,
)
from .nodebase import ProviderNode, secret_input, seed_input
from .settings import PollPolicy

SPEC = ProviderSpec(
    name="runway",
    display_name="Runway",
    base_url="https://api.dev.runwayml.com",
    auth=bearer_auth,
    default_headers={"X-Runway-Version": "2024-11-06"},
    poll=PollPolicy(initial_interval_s=3.0, max_interval_s=15.0, deadline_s=1800.0),
)

VIDEO_MODELS = ("gen4_turbo", "gen4.5", "gen3a_turbo", "veo3.1", "veo3.1_fast")
VIDEO_RATIOS = ("1280:720", "720:1280", "1104:832", "960:960", "832:1104", "1584:672")
# Durations in seconds per model, where the SDK states them.
VIDEO_DURATIONS = {
    "gen4.5": tuple(range(2, 11)),
    "gen4_turbo": (5, 10),
    "veo3.1": (4, 6, 8),
}
IMAGE_MODELS = ("gen4_image", "gen4_image_turbo")
IMAGE_RATIOS = ("1920:1080", "1080:1920", "1024:1024", "1360:768")
MAX_SEED = 4294967295
# A data URI prompt image may be at most 5 MB; base64 makes data 4/3 larger.
MAX_PROMPT_IMAGE_BYTES = (5_000_000 - 64) * 3 // 4
MAX_PROMPT_TEXT_UNITS = 1000

_QUEUED = {"PENDING", "THROTTLED"}


def parse_task(body: Any) -> JobStatus:
    """Map a task object to a JobStatus; ``result`` is its ``output`` list."""
    status = str(body["status"])
    if status == "SUCCEEDED":
        return JobStatus(JobState.SUCCEEDED, 1.0, status, result=list(body["output"]))
    if status in ("FAILED", "CANCELLED"):
        failure = body.get("failure") or status.lower()
        code = body.get("failureCode")
        return JobStatus(JobState.FAILED, None, status,
                         message=f"{failure} ({code})" if code else str(failure))
    if status in _QUEUED:
        return JobStatus(JobState.QUEUED, None, status)
    return JobStatus(JobState.RUNNING, body.get("progress"), status)


def _prompt_text_error(prompt: str) -> str | None:
    units = len(prompt.encode("utf-16-le")) // 2
    if units > MAX_PROMPT_TEXT_UNITS:
        return f"prompt is {units} UTF-16 code units long; Runway accepts at most 1000"
    return None


def _task_kwargs() -> dict[str, Any]:
    return {
        "job_id": lambda created: created["id"],
        "poll_url": lambda created, job_id: f"/v1/tasks/{job_id}",
    }


class RunwayImageToVideo(ProviderNode):
    class_type = "RunwayImageToVideo"
    display_name = "Runway Image to Video"
    category = "api node/video/Runway"
    description = "Animate an image into a video with Runway's Gen-4 and Veo models."
    spec = SPEC
    provider = SPEC.name
    inputs = (
        Input("image", "IMAGE", tooltip="First frame of the video."),
        Input("prompt", "STRING", default="", multiline=True),
        Input("model", "COMBO", default="gen4_turbo", choices=VIDEO_MODELS),
        Input("ratio", "COMBO", default="1280:720", choices=VIDEO_RATIOS),
        Input("duration", "INT", default=5, min=2, max=10,
              tooltip="Seconds: gen4.5 takes 2-10, gen4_turbo 5 or 10, veo3.1 4, 6 or 8."),
        seed_input(MAX_SEED),
        secret_input(SPEC.name),
    )
    outputs = (Output("VIDEO"),)
    output_node = True

    @classmethod
    def validate_provider_inputs(cls, **inputs: Any) -> bool | str:
        model = inputs.get("model", "gen4_turbo")
        duration = int(inputs.get("duration", 5))
        allowed = VIDEO_DURATIONS.get(model)
        if allowed is not None and duration not in allowed:
            return f"{model} takes a duration of {', '.join(map(str, allowed))} s, not {duration}"
        return _prompt_text_error(str(inputs.get("prompt", ""))) or True

    async def execute(
        self, ctx: Any, *, image: Any, prompt: str = "", model: str = "gen4_turbo",
        ratio: str = "1280:720", duration: int = 5, seed: int = 0, secret: str | None = None,
    ) -> NodeOutput:
        self.check_inputs(prompt=prompt, model=model, duration=duration, secret=secret)
        api = self.connect(ctx, secret)
        encoded, media_type = await encode_image_within(image, MAX_PROMPT_IMAGE_BYTES)
        body: dict[str, Any] = {
            "model": model,
            "promptImage": data_uri(encoded, media_type),
            "ratio": ratio,
            "duration": duration,
        }
        if prompt.strip():
            body["promptText"] = prompt
        if seed > 0:
            body["seed"] = seed

        job = await api.submit_job("/v1/image_to_video", json=body, model=model, **_task_kwargs())
        status = await api.poll(job, parse_task, cancel=("DELETE", f"/v1/tasks/{job.job_id}"))
        url = api.parse_result(lambda: str(status.result[0]), "output[0]", job.poll_url)
        path, entry = output_file(ctx, SPEC.name, "mp4")
        _, received = await api.download(
            url, content_types=("video/", "application/octet-stream"), dest=path,
        )
        path, entry = change_extension(path, entry, extension_for(received, "mp4"))
        return NodeOutput((str(path),), {"videos": [entry]})


class RunwayTextToImage(ProviderNode):
    class_type = "RunwayTextToImage"
    display_name = "Runway Text to Image"
    category = "api node/image/Runway"
    description = "Generate an image from a prompt with Runway's Gen-4 image models."
    spec = SPEC
    provider = SPEC.name
    inputs = (
        Input("prompt", "STRING", default="", multiline=True),
        Input("model", "COMBO", default="gen4_image", choices=IMAGE_MODELS),
        Input("ratio", "COMBO", default="1920:1080", choices=IMAGE_RATIOS),
        seed_input(MAX_SEED),
        secret_input(SPEC.name),
    )
    outputs = (Output("IMAGE"),)

    @classmethod
    def validate_provider_inputs(cls, **inputs: Any) -> bool | str:
        prompt = str(inputs.get("prompt", ""))
        if not prompt.strip():
            return "prompt is empty"
        return _prompt_text_error(prompt) or True

    async def execute(
        self, ctx: Any, *, prompt: str, model: str = "gen4_image", ratio: str = "1920:1080",
        seed: int = 0, secret: str | None = None,
    ) -> tuple[Any]:
        self.check_inputs(prompt=prompt, secret=secret)
        api = self.connect(ctx, secret)
        body: dict[str, Any] = {"model": model, "promptText": prompt, "ratio": ratio}
        if seed > 0:
            body["seed"] = seed
        job = await api.submit_job("/v1/text_to_image", json=body, model=model, **_task_kwargs())
        status = await api.poll(job, parse_task, cancel=("DELETE", f"/v1/tasks/{job.job_id}"))
        url = api.parse_result(lambda: str(status.result[0]), "output[0]", job.poll_url)
        data, _ = await api.download(url, content_types=("image/",),
                                     max_bytes=api.hub.settings.max_image_bytes)
        return (await decode_images([data], provider=SPEC.display_name),)


NODE_CLASSES = [RunwayImageToVideo, RunwayTextToImage]
