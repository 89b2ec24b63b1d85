"""Replicate: run any model version or official model through the predictions API (asynchronous).

API facts:

- Base URL https://api.replicate.com, ``Authorization: Bearer``.
- ``POST /v1/predictions`` with ``{version, input}``, or
  ``POST /v1/models/{owner}/{name}/predictions`` with ``{input}``, returns a
  prediction: ``{id, model, version, status, input, output, logs, error,
  metrics, urls{get, cancel}, ...}``.
- ``GET /v1/predictions/{id}`` polls it; ``status`` is starting, processing,
  succeeded, failed or canceled. ``output`` is model-specific, often a URL or
  a list of URLs.
- ``POST /v1/predictions/{id}/cancel`` cancels a prediction.
- Errors are RFC 7807 bodies ``{type, title, status, detail}``. A 429
  returns ``{"detail": "Request was throttled. ..."}``.

Sources: ``replicate/replicate-python`` at 0110c2c5 (``replicate/client.py``,
``prediction.py``, ``exceptions.py``) and
replicate.com/docs/topics/predictions/rate-limits.

The helpers ``result_urls``, ``decode_result_images`` and ``save_result_file``
turn any model's output into engine values; the fal nodes use them too.
"""

from __future__ import annotations

import json
import re
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import urlsplit

from ..engine.node import Input, NodeOutput, Output
from ..errors import ProviderError
from .call import JobState, JobStatus, ProviderCall
from .client import ProviderSpec, bearer_auth, default_error_message
from .media import (
    change_extension,
    decode_base64,
    decode_images,
    extension_for,
    output_file,
    write_output_file,
)
from .nodebase import ProviderNode, secret_input
from .settings import PollPolicy


def problem_error_message(body: Any) -> str | None:
    """Return ``title: detail`` from an RFC 7807 problem body."""
    if isinstance(body, dict) and isinstance(body.get("detail"), str):
        title = body.get("title")
        return f"{title}: {body['detail']}" if title else body["detail"]
    return default_error_message(body)


SPEC = ProviderSpec(
    name="replicate",
    display_name="Replicate",
    base_url="https://api.replicate.com",
    auth=bearer_auth,
    error_message=problem_error_message,
    poll=PollPolicy(initial_interval_s=1.0, max_interval_s=10.0, deadline_s=1800.0),
)

# Media types a generic result file may have; anything else (an HTML error page) is rejected.
FILE_CONTENT_TYPES = ("image/", "video/", "audio/", "model/", "application/octet-stream",
                      "application/zip", "binary/octet-stream")
# UI keys per media type prefix, then per file extension for untyped downloads; 3D files
# go under "3d" as on the 3D provider nodes.
_UI_KEYS = (("image/", "images"), ("video/", "videos"), ("audio/", "audio"), ("model/", "3d"))
_UI_KEYS_BY_EXTENSION = {
    **dict.fromkeys(("png", "jpg", "jpeg", "webp"), "images"),
    **dict.fromkeys(("mp4", "mov", "webm"), "videos"),
    **dict.fromkeys(("mp3", "wav", "ogg", "flac"), "audio"),
    **dict.fromkeys(("glb", "gltf", "fbx", "obj", "stl", "usdz", "ply"), "3d"),
}
_MODEL_NAME = re.compile(r"^[A-Za-z0-9._-]+/[A-Za-z0-9._-]+$")
_VERSION = re.compile(r"^[A-Za-z0-9._-]+$")
_FAILED = {"failed", "canceled"}


# -- generic results, shared with fal ----------------------------------------------------


def parse_json_object(text: str, name: str) -> dict[str, Any] | str:
    """Return ``text`` parsed as a JSON object, or an error message naming the input."""
    try:
        value = json.loads(text or "{}")
    except ValueError as exc:
        return f"{name} is not valid JSON ({exc})"
    if not isinstance(value, dict):
        return f"{name} must be a JSON object, got {type(value).__name__}"
    return value


def result_urls(value: Any) -> list[str]:
    """Return every http(s) URL and data URI in a model output, in document order."""
    found: list[str] = []
    if isinstance(value, str):
        if value.startswith(("https://", "http://", "data:")):
            found.append(value)
    elif isinstance(value, dict):
        for item in value.values():
            found.extend(result_urls(item))
    elif isinstance(value, list | tuple):
        for item in value:
            found.extend(result_urls(item))
    return found


def _no_files_error(display_name: str, provider: str, job_id: str, output: Any) -> ProviderError:
    preview = json.dumps(output)[:300] if output is not None else "null"
    return ProviderError(
        f"{display_name} job {job_id} finished, but its output contains no file URL: {preview}. "
        "The provider may already have charged for it.",
        provider=provider, may_have_charged=True,
    )


async def decode_result_images(api: ProviderCall, output: Any, job_id: str) -> Any:
    """Download or decode every image URL of a model output into one IMAGE batch."""
    urls = result_urls(output)
    if not urls:
        raise _no_files_error(api.spec.display_name, api.provider, job_id, output)
    payloads = []
    for url in urls:
        if url.startswith("data:"):
            payloads.append(decode_base64(url, provider=api.spec.display_name))
            continue
        data, _ = await api.download(url, content_types=("image/",),
                                     max_bytes=api.hub.settings.max_image_bytes)
        payloads.append(data)
    return await decode_images(payloads, provider=api.spec.display_name)


def _url_extension(url: str) -> str | None:
    suffix = PurePosixPath(urlsplit(url).path).suffix.lstrip(".").lower()
    return suffix if suffix.isalnum() and 0 < len(suffix) <= 5 else None


def _ui_key(media_type: str, extension: str) -> str:
    for prefix, key in _UI_KEYS:
        if media_type.startswith(prefix):
            return key
    return _UI_KEYS_BY_EXTENSION.get(extension, "files")


async def save_result_file(ctx: Any, api: ProviderCall, output: Any, job_id: str,
                           index: int) -> NodeOutput:
    """Save the ``index``-th URL of a model output under the output folder.

    The node returns the file's path; its UI entry goes under "images",
    "videos", "audio" or "3d" by media type, and under "files" otherwise.
    """
    urls = result_urls(output)
    if not urls:
        raise _no_files_error(api.spec.display_name, api.provider, job_id, output)
    if index >= len(urls):
        raise ProviderError(
            f"{api.spec.display_name} job {job_id} returned {len(urls)} file URLs, so there is "
            f"no file at index {index}. The provider may already have charged for it.",
            provider=api.provider, may_have_charged=True,
        )
    url = urls[index]
    if url.startswith("data:"):
        media_type = url[5:].split(";", 1)[0].split(",", 1)[0].lower()
        data = decode_base64(url, provider=api.spec.display_name, what="file")
        extension = extension_for(media_type, "bin")
        path, entry = await write_output_file(ctx, api.provider, data, extension)
    else:
        path, entry = output_file(ctx, api.provider, _url_extension(url) or "bin")
        _, media_type = await api.download(url, content_types=FILE_CONTENT_TYPES, dest=path)
        extension = _url_extension(url) or extension_for(media_type, "bin")
        path, entry = change_extension(path, entry, extension)
    return NodeOutput((str(path),), {_ui_key(media_type, extension): [entry]})


# -- Replicate ----------------------------------------------------------------------------


def parse_prediction(body: Any) -> JobStatus:
    """Map a prediction to a JobStatus; ``result`` is its ``output``."""
    status = str(body["status"])
    if status == "succeeded":
        return JobStatus(JobState.SUCCEEDED, 1.0, status, result=body.get("output"))
    if status in _FAILED:
        return JobStatus(JobState.FAILED, None, status, message=str(body.get("error") or status))
    return JobStatus(JobState.RUNNING if status == "processing" else JobState.QUEUED, None,
                     status)


def _check_model_and_input(inputs: dict[str, Any]) -> str | None:
    model = str(inputs.get("model", "")).strip()
    if not model:
        return "model is empty; enter owner/name or a version id"
    if not (_MODEL_NAME.match(model) or _VERSION.match(model)):
        return f"model must be owner/name or a version id, got {model!r}"
    parsed = parse_json_object(str(inputs.get("input_json", "{}")), "input_json")
    return parsed if isinstance(parsed, str) else None


async def _run_prediction(node: ProviderNode, ctx: Any, secret: str | None, model: str,
                          input_json: str) -> tuple[ProviderCall, str, Any]:
    """Create a prediction, poll it to the end, and return (client, id, output)."""
    api = node.connect(ctx, secret)
    model = model.strip()
    prediction_input = json.loads(input_json or "{}")
    if "/" in model:
        owner, name = model.split("/")
        path = f"/v1/models/{owner}/{name}/predictions"
        body: dict[str, Any] = {"input": prediction_input}
    else:
        path = "/v1/predictions"
        body = {"version": model, "input": prediction_input}
    job = await api.submit_job(
        path, json=body, model=model,
        job_id=lambda created: created["id"],
        poll_url=lambda created, job_id: f"/v1/predictions/{job_id}",
    )
    status = await api.poll(job, parse_prediction,
                            cancel=("POST", f"/v1/predictions/{job.job_id}/cancel"))
    return api, job.job_id, status.result


_MODEL_INPUT = Input(
    "model", "STRING", default="",
    tooltip="An official model as owner/name, or a model version id.",
)
_INPUT_JSON = Input(
    "input_json", "STRING", default="{}", multiline=True,
    tooltip="The model's input as a JSON object, as its API page lists it.",
)


class ReplicateRunImage(ProviderNode):
    class_type = "ReplicateRunImage"
    display_name = "Replicate Run (Image)"
    category = "api node/image/Replicate"
    description = (
        "Run a Replicate model with a JSON input and decode the images its output links to."
    )
    spec = SPEC
    provider = SPEC.name
    inputs = (_MODEL_INPUT, _INPUT_JSON, secret_input(SPEC.name))
    outputs = (Output("IMAGE"),)

    @classmethod
    def validate_provider_inputs(cls, **inputs: Any) -> bool | str:
        return _check_model_and_input(inputs) or True

    async def execute(self, ctx: Any, *, model: str, input_json: str = "{}",
                      secret: str | None = None) -> tuple[Any]:
        self.check_inputs(model=model, input_json=input_json, secret=secret)
        api, job_id, output = await _run_prediction(self, ctx, secret, model, input_json)
        return (await decode_result_images(api, output, job_id),)


class ReplicateRunFile(ProviderNode):
    class_type = "ReplicateRunFile"
    display_name = "Replicate Run (File)"
    category = "api node/video/Replicate"
    description = (
        "Run a Replicate model with a JSON input and save one file its output links to "
        "(video, audio, a 3D model or an image)."
    )
    spec = SPEC
    provider = SPEC.name
    inputs = (
        _MODEL_INPUT,
        _INPUT_JSON,
        Input("index", "INT", default=0, min=0, optional=True,
              tooltip="Which URL of the output to save, counting from 0 in output order."),
        secret_input(SPEC.name),
    )
    outputs = (Output("STRING", "path"),)
    output_node = True

    @classmethod
    def validate_provider_inputs(cls, **inputs: Any) -> bool | str:
        return _check_model_and_input(inputs) or True

    async def execute(self, ctx: Any, *, model: str, input_json: str = "{}", index: int = 0,
                      secret: str | None = None) -> NodeOutput:
        self.check_inputs(model=model, input_json=input_json, secret=secret)
        api, job_id, output = await _run_prediction(self, ctx, secret, model, input_json)
        return await save_result_file(ctx, api, output, job_id, index)


NODE_CLASSES = [ReplicateRunImage, ReplicateRunFile]
