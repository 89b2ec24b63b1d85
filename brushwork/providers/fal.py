"""fal.ai: run any model through the queue API, and Pika 2.2 text-to-video on fal (asynchronous).

API facts:

- Queue host https://queue.fal.run, ``Authorization: Key <FAL_KEY>``.
- ``POST /{owner}/{app}[/{subpath}]`` with the model's JSON input returns
  ``{request_id, response_url, status_url, cancel_url}``. Status and result
  paths drop the subpath: ``/{owner}/{app}/requests/{id}/status``.
- ``GET …/requests/{id}/status`` returns ``status``: IN_QUEUE (with
  ``queue_position``), IN_PROGRESS, or COMPLETED (with an optional
  ``error`` and ``error_type``).
- ``GET …/requests/{id}`` returns the model's output JSON, which is
  model-specific; image models return URLs.
- ``PUT …/requests/{id}/cancel`` cancels a request.
- Errors are JSON ``{"detail": ...}`` with an optional ``error_type``.

Sources: ``fal-ai/fal`` at c6f0afaa (``projects/fal_client/src/fal_client/client.py``,
``auth.py``); fal.ai/docs/model-endpoints/queue and the queue OpenAPI document
(fal.ai/docs/api-reference/inference-api/openapi/queue.json).

Pika has no API of its own, and pika.art/api sends developers to fal. The
Pika node's model path and the fields ``prompt``, ``seed``,
``negative_prompt`` and ``aspect_ratio`` (with its options) come from fal's
model page, fal.ai/models/fal-ai/pika/v2.2/text-to-video/llms.txt. The
``resolution`` and ``duration`` options and the ``video.url`` output come
from the api-evangelist/pika OpenAPI and JSON schema copies of that page.
"""

from __future__ import annotations

import json
import re
from typing import Any

from ..engine.node import Input, NodeOutput, Output
from .call import JobRef, JobState, JobStatus, ProviderCall
from .client import ProviderSpec, default_error_message, strip_query
from .media import change_extension, extension_for, output_file
from .nodebase import ProviderNode, secret_input, seed_input
from .replicate import decode_result_images, parse_json_object, save_result_file
from .settings import PollPolicy


def key_auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Key {key}"}


def fal_error_message(body: Any) -> str | None:
    """Return the ``detail`` of a fal error body, with its ``error_type`` when present."""
    message = default_error_message(body)
    if isinstance(body, dict) and body.get("error_type") and message:
        return f"{message} ({body['error_type']})"
    return message


SPEC = ProviderSpec(
    name="fal",
    display_name="fal.ai",
    base_url="https://queue.fal.run",
    auth=key_auth,
    error_message=fal_error_message,
    poll=PollPolicy(initial_interval_s=1.0, max_interval_s=10.0, deadline_s=1800.0),
)

PIKA_TEXT_TO_VIDEO = "fal-ai/pika/v2.2/text-to-video"
PIKA_ASPECT_RATIOS = ("16:9", "9:16", "1:1", "4:5", "5:4", "3:2", "2:3")
PIKA_RESOLUTIONS = ("720p", "1080p")
PIKA_DURATIONS = (5, 10)
# NOTE: fal's Pika page gives no seed range; 2**31 - 1 is this node's own cap.
MAX_SEED = 2**31 - 1

_MODEL_PATH = re.compile(r"^[A-Za-z0-9._-]+(/[A-Za-z0-9._-]+){1,4}$")
_STATUS_SUFFIX = "/status"


def parse_status(body: Any) -> JobStatus:
    """Map a queue status body to a JobStatus; a COMPLETED request with ``error`` failed."""
    status = str(body["status"])
    if status == "COMPLETED":
        if body.get("error"):
            error_type = body.get("error_type")
            message = f"{body['error']} ({error_type})" if error_type else str(body["error"])
            return JobStatus(JobState.FAILED, None, status, message=message)
        return JobStatus(JobState.SUCCEEDED, 1.0, status)
    if status == "IN_PROGRESS":
        return JobStatus(JobState.RUNNING, None, status)
    return JobStatus(JobState.QUEUED, None, status)


def result_url(job: JobRef) -> str:
    """Return the result URL of a queued request: its status URL without ``/status``."""
    url = strip_query(job.poll_url)
    if not url.endswith(_STATUS_SUFFIX):
        raise ValueError(f"the status URL {url} does not end with {_STATUS_SUFFIX}")
    return url[: -len(_STATUS_SUFFIX)]


async def run_queued(api: ProviderCall, model: str, arguments: dict[str, Any]
                     ) -> tuple[JobRef, Any]:
    """Queue a request for ``model``, wait for it, and return (job, the model's output JSON)."""
    job = await api.submit_job(
        f"/{model}", json=arguments, model=model,
        job_id=lambda created: created["request_id"],
        poll_url=lambda created, job_id: created["status_url"],
    )
    response_url = api.parse_result(lambda: result_url(job), "the result URL", job.poll_url)
    await api.poll(job, parse_status, cancel=("PUT", f"{response_url}/cancel"))
    output = await api.request_json("GET", response_url, submission=False, accepted=True,
                                    model=model)
    return job, output


def _check_model_and_arguments(inputs: dict[str, Any]) -> str | None:
    model = str(inputs.get("model", "")).strip()
    if not _MODEL_PATH.match(model):
        return f"model must be a fal model path such as fal-ai/flux/dev, got {model!r}"
    parsed = parse_json_object(str(inputs.get("arguments", "{}")), "arguments")
    return parsed if isinstance(parsed, str) else None


_MODEL_INPUT = Input(
    "model", "STRING", default="fal-ai/flux/dev",
    tooltip="The model's path on fal, owner/app[/subpath], such as fal-ai/flux/dev.",
)
_ARGUMENTS_INPUT = Input(
    "arguments", "STRING", default='{"prompt": ""}', multiline=True,
    tooltip="The model's input as a JSON object, as its fal API page lists it.",
)


class FalRunImage(ProviderNode):
    class_type = "FalRunImage"
    display_name = "fal Run (Image)"
    category = "api node/image/fal"
    description = (
        "Run a model on fal's queue with a JSON input and decode the images its output links to."
    )
    spec = SPEC
    provider = SPEC.name
    inputs = (_MODEL_INPUT, _ARGUMENTS_INPUT, secret_input(SPEC.name))
    outputs = (Output("IMAGE"),)

    @classmethod
    def validate_provider_inputs(cls, **inputs: Any) -> bool | str:
        return _check_model_and_arguments(inputs) or True

    async def execute(self, ctx: Any, *, model: str = "fal-ai/flux/dev",
                      arguments: str = '{"prompt": ""}', secret: str | None = None) -> tuple[Any]:
        self.check_inputs(model=model, arguments=arguments, secret=secret)
        api = self.connect(ctx, secret)
        job, output = await run_queued(api, model.strip(), json.loads(arguments))
        return (await decode_result_images(api, output, job.job_id),)


class FalRunFile(ProviderNode):
    class_type = "FalRunFile"
    display_name = "fal Run (File)"
    category = "api node/video/fal"
    description = (
        "Run a model on fal's queue with a JSON input and save one file its output links to "
        "(video, audio, a 3D model or an image)."
    )
    spec = SPEC
    provider = SPEC.name
    inputs = (
        _MODEL_INPUT,
        _ARGUMENTS_INPUT,
        Input("index", "INT", default=0, min=0, optional=True,
              tooltip="Which URL of the output to save, counting from 0 in output order."),
        secret_input(SPEC.name),
    )
    outputs = (Output("STRING", "path"),)
    output_node = True

    @classmethod
    def validate_provider_inputs(cls, **inputs: Any) -> bool | str:
        return _check_model_and_arguments(inputs) or True

    async def execute(self, ctx: Any, *, model: str = "fal-ai/flux/dev",
                      arguments: str = '{"prompt": ""}', index: int = 0,
                      secret: str | None = None) -> NodeOutput:
        self.check_inputs(model=model, arguments=arguments, secret=secret)
        api = self.connect(ctx, secret)
        job, output = await run_queued(api, model.strip(), json.loads(arguments))
        return await save_result_file(ctx, api, output, job.job_id, index)


class FalPikaTextToVideo(ProviderNode):
    class_type = "FalPikaTextToVideo"
    display_name = "Pika 2.2 Text to Video (fal)"
    category = "api node/video/Pika"
    description = "Generate a video from a prompt with Pika 2.2, run on fal."
    spec = SPEC
    provider = SPEC.name
    inputs = (
        Input("prompt", "STRING", default="", multiline=True),
        Input("aspect_ratio", "COMBO", default="16:9", choices=PIKA_ASPECT_RATIOS),
        Input("resolution", "COMBO", default="720p", choices=PIKA_RESOLUTIONS),
        Input("duration", "COMBO", default="5", choices=tuple(map(str, PIKA_DURATIONS)),
              tooltip="Seconds."),
        Input("negative_prompt", "STRING", default="", multiline=True, optional=True,
              tooltip="Left empty, fal uses its own default negative prompt."),
        seed_input(MAX_SEED),
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
        self, ctx: Any, *, prompt: str, aspect_ratio: str = "16:9", resolution: str = "720p",
        duration: str = "5", negative_prompt: str = "", seed: int = 0,
        secret: str | None = None,
    ) -> NodeOutput:
        self.check_inputs(prompt=prompt, secret=secret)
        api = self.connect(ctx, secret)
        arguments: dict[str, Any] = {
            "prompt": prompt,
            "aspect_ratio": aspect_ratio,
            "resolution": resolution,
            "duration": int(duration),
        }
        if negative_prompt.strip():
            arguments["negative_prompt"] = negative_prompt
        if seed > 0:
            arguments["seed"] = seed
        job, output = await run_queued(api, PIKA_TEXT_TO_VIDEO, arguments)
        url = api.parse_result(lambda: str(output["video"]["url"]), "video.url", job.poll_url)
        path, entry = output_file(ctx, SPEC.name, "mp4")
        _, media_type = await api.download(
            url, content_types=("video/", "application/octet-stream"), dest=path,
        )
        path, entry = change_extension(path, entry, extension_for(media_type, "mp4"))
        return NodeOutput((str(path),), {"videos": [entry]})


NODE_CLASSES = [FalRunImage, FalRunFile, FalPikaTextToVideo]
