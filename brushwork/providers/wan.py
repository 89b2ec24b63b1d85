"""Alibaba Wan through DashScope: text-to-video and text-to-image (asynchronous tasks).

API facts:

- Base URL https://dashscope-intl.aliyuncs.com/api/v1 (international) or
  https://dashscope.aliyuncs.com/api/v1 (China), ``Authorization: Bearer``.
- Creating a task requires ``X-DashScope-Async: enable``. Without it the
  API returns the error "current user api does not support synchronous calls".
- ``POST /services/aigc/video-generation/video-synthesis`` and
  ``POST /services/aigc/text2image/image-synthesis`` take ``{model, input,
  parameters}`` and return ``{output: {task_id, task_status}, request_id}``.
- ``GET /tasks/{task_id}`` returns ``output.task_status`` (PENDING, RUNNING,
  SUCCEEDED, FAILED, CANCELED, UNKNOWN for an unknown or expired task) and
  ``output.video_url`` or ``output.results: [{url} | {code, message}]``.
- Errors are ``{request_id, code, message}``.

Sources: ComfyUI ``comfy_api_nodes/nodes_wan.py``; ``inference-sh/grid``
``api/alibaba/wan_video_helper.py`` (host and headers); the DashScope API
reference at help.aliyun.com (the async header requirement).
"""

from __future__ import annotations

import re
from typing import Any

from ..engine.node import Input, NodeOutput, Output
from ..errors import ProviderError
from .call import JobState, JobStatus
from .client import ProviderSpec, bearer_auth, default_error_message
from .media import change_extension, decode_images, extension_for, output_file
from .nodebase import ProviderNode, secret_input, seed_input
from .settings import PollPolicy


def dashscope_error_message(body: Any) -> str | None:
    """Return ``code: message`` from a DashScope error body."""
    if isinstance(body, dict) and body.get("message"):
        code = body.get("code")
        return f"{code}: {body['message']}" if code else str(body["message"])
    return default_error_message(body)


SPEC = ProviderSpec(
    name="wan",
    display_name="Alibaba DashScope",
    base_url="https://dashscope-intl.aliyuncs.com/api/v1",
    auth=bearer_auth,
    error_message=dashscope_error_message,
    poll=PollPolicy(initial_interval_s=5.0, max_interval_s=15.0, deadline_s=1800.0),
)

ASYNC_HEADERS = {"X-DashScope-Async": "enable"}
VIDEO_MODELS = ("wan2.5-t2v-preview",)
MAX_SEED = 2147483647
# NOTE: the sources give no range for n; 4 is this node's own cap.
MAX_IMAGES = 4

_SIZE = re.compile(r"^\d+\*\d+$")
_FAILED = {"FAILED", "CANCELED", "UNKNOWN"}


def parse_task(body: Any) -> JobStatus:
    """Map a ``/tasks/{id}`` body to a JobStatus; ``result`` is its ``output`` object."""
    output = body["output"]
    status = str(output["task_status"])
    if status == "SUCCEEDED":
        return JobStatus(JobState.SUCCEEDED, 1.0, status, result=output)
    if status in _FAILED:
        message = output.get("message") or body.get("message")
        code = output.get("code") or body.get("code")
        if status == "UNKNOWN" and not message:
            message = "the task is unknown or has expired"
        text = f"{code}: {message}" if code and message else (message or code or status)
        return JobStatus(JobState.FAILED, None, status, message=str(text))
    return JobStatus(JobState.RUNNING if status == "RUNNING" else JobState.QUEUED, None, status)


def _size_error(size: str) -> str | None:
    if not _SIZE.match(size):
        return f"size must look like 1280*720 (width*height), got {size!r}"
    return None


def _task_kwargs() -> dict[str, Any]:
    return {
        "job_id": lambda created: created["output"]["task_id"],
        "poll_url": lambda created, job_id: f"/tasks/{job_id}",
        "headers": ASYNC_HEADERS,
    }


class WanTextToVideo(ProviderNode):
    class_type = "WanTextToVideo"
    display_name = "Wan Text to Video"
    category = "api node/video/Wan"
    description = "Generate a video from a prompt with Alibaba Wan on DashScope."
    spec = SPEC
    provider = SPEC.name
    inputs = (
        Input("prompt", "STRING", default="", multiline=True),
        Input("model", "COMBO", default="wan2.5-t2v-preview", choices=VIDEO_MODELS),
        Input("size", "STRING", default="1280*720",
              tooltip="width*height in pixels, with an asterisk, such as 1280*720."),
        Input("duration", "INT", default=5, min=5, max=10, tooltip="Seconds, 5-10."),
        Input("negative_prompt", "STRING", default="", multiline=True, optional=True),
        Input("prompt_extend", "BOOLEAN", default=True, optional=True,
              tooltip="Let DashScope rewrite the prompt before generating."),
        seed_input(MAX_SEED),
        Input("watermark", "BOOLEAN", default=False, optional=True),
        secret_input(SPEC.name),
    )
    outputs = (Output("VIDEO"),)
    output_node = True

    @classmethod
    def validate_provider_inputs(cls, **inputs: Any) -> bool | str:
        if not str(inputs.get("prompt", "")).strip():
            return "prompt is empty"
        duration = int(inputs.get("duration", 5))
        if not 5 <= duration <= 10:
            return f"duration must be 5-10 s, got {duration}"
        return _size_error(str(inputs.get("size", "1280*720"))) or True

    async def execute(
        self, ctx: Any, *, prompt: str, model: str = "wan2.5-t2v-preview",
        size: str = "1280*720", duration: int = 5, negative_prompt: str = "",
        prompt_extend: bool = True, seed: int = 0, watermark: bool = False,
        secret: str | None = None,
    ) -> NodeOutput:
        self.check_inputs(prompt=prompt, size=size, duration=duration, secret=secret)
        api = self.connect(ctx, secret)
        task_input: dict[str, Any] = {"prompt": prompt}
        if negative_prompt.strip():
            task_input["negative_prompt"] = negative_prompt
        parameters: dict[str, Any] = {
            "size": size,
            "duration": duration,
            "prompt_extend": prompt_extend,
            "watermark": watermark,
        }
        if seed > 0:
            parameters["seed"] = seed
        body = {"model": model, "input": task_input, "parameters": parameters}

        job = await api.submit_job("/services/aigc/video-generation/video-synthesis",
                                   json=body, model=model, **_task_kwargs())
        status = await api.poll(job, parse_task)
        url = api.parse_result(lambda: str(status.result["video_url"]), "output.video_url",
                               job.poll_url)
        path, entry = output_file(ctx, SPEC.name, "mp4")
        _, media_type = await api.download(
            url, content_types=("video/", "application/octet-stream"), dest=path,
        )
        path, entry = change_extension(path, entry, extension_for(media_type, "mp4"))
        return NodeOutput((str(path),), {"videos": [entry]})


class WanTextToImage(ProviderNode):
    class_type = "WanTextToImage"
    display_name = "Wan Text to Image"
    category = "api node/image/Wan"
    description = "Generate images from a prompt with a DashScope text-to-image model."
    spec = SPEC
    provider = SPEC.name
    inputs = (
        Input("prompt", "STRING", default="", multiline=True),
        # NOTE: the sources name no text-to-image model id, so the node has no default.
        Input("model", "STRING", default="",
              tooltip="DashScope text-to-image model id, as listed in the Model Studio console."),
        Input("size", "STRING", default="1024*1024",
              tooltip="width*height in pixels, with an asterisk, such as 1024*1024."),
        Input("n", "INT", default=1, min=1, max=MAX_IMAGES, optional=True,
              tooltip="Number of images."),
        Input("negative_prompt", "STRING", default="", multiline=True, optional=True),
        Input("prompt_extend", "BOOLEAN", default=True, optional=True),
        seed_input(MAX_SEED),
        Input("watermark", "BOOLEAN", default=False, optional=True),
        secret_input(SPEC.name),
    )
    outputs = (Output("IMAGE"),)

    @classmethod
    def validate_provider_inputs(cls, **inputs: Any) -> bool | str:
        if not str(inputs.get("prompt", "")).strip():
            return "prompt is empty"
        if not str(inputs.get("model", "")).strip():
            return "model is empty; enter a DashScope text-to-image model id"
        return _size_error(str(inputs.get("size", "1024*1024"))) or True

    async def execute(
        self, ctx: Any, *, prompt: str, model: str = "", size: str = "1024*1024", n: int = 1,
        negative_prompt: str = "", prompt_extend: bool = True, seed: int = 0,
        watermark: bool = False, secret: str | None = None,
    ) -> tuple[Any]:
        self.check_inputs(prompt=prompt, model=model, size=size, secret=secret)
        api = self.connect(ctx, secret)
        task_input: dict[str, Any] = {"prompt": prompt}
        if negative_prompt.strip():
            task_input["negative_prompt"] = negative_prompt
        parameters: dict[str, Any] = {
            "size": size,
            "n": n,
            "prompt_extend": prompt_extend,
            "watermark": watermark,
        }
        if seed > 0:
            parameters["seed"] = seed
        body = {"model": model.strip(), "input": task_input, "parameters": parameters}

        job = await api.submit_job("/services/aigc/text2image/image-synthesis", json=body,
                                   model=model.strip(), **_task_kwargs())
        status = await api.poll(job, parse_task)
        results = api.parse_result(lambda: list(status.result["results"]), "output.results",
                                   job.poll_url)
        urls = [str(item["url"]) for item in results if isinstance(item, dict) and item.get("url")]
        if not urls:
            failures = [f"{item.get('code')}: {item.get('message')}" for item in results
                        if isinstance(item, dict) and item.get("code")]
            raise ProviderError(
                f"{SPEC.display_name} job {job.job_id} returned no images"
                + (f" ({'; '.join(failures)})" if failures else "")
                + ". The provider may already have charged for it.",
                provider=SPEC.name, may_have_charged=True,
            )
        payloads = []
        for url in urls:
            data, _ = await api.download(url, content_types=("image/",),
                                         max_bytes=api.hub.settings.max_image_bytes)
            payloads.append(data)
        return (await decode_images(payloads, provider=SPEC.display_name),)


NODE_CLASSES = [WanTextToVideo, WanTextToImage]
