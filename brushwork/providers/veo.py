"""Google Veo through the Gemini API: video generation as a long-running operation.

API facts (Gemini API, not Vertex AI):

- Base URL https://generativelanguage.googleapis.com, API version v1beta,
  ``x-goog-api-key`` header (the same key as Gemini).
- ``POST /v1beta/models/{model}:predictLongRunning`` with ``{"instances":
  [{"prompt", "image": {"bytesBase64Encoded", "mimeType"}}], "parameters":
  {"aspectRatio", "durationSeconds", "negativePrompt", "resolution", ...}}``
  returns an operation ``{"name": "models/{model}/operations/{id}"}``.
- ``GET /v1beta/{name}`` returns ``done``, ``error{code, message}`` and, when
  done, ``response.generateVideoResponse.generatedSamples[].video.uri`` or
  ``raiMediaFilteredCount`` and ``raiMediaFilteredReasons``.
- The video is downloaded from that URI (``files/{id}:download?alt=media``)
  with the API key.
- Errors are ``{"error": {"code", "message", "status"}}``.

Sources: the python-genai SDK (``models.py`` ``_GenerateVideos*_to_mldev`` and
``_GenerateVideosOperation_from_mldev``, ``operations.py``, ``files.py``,
``_api_client.py``); ComfyUI ``comfy_api_nodes/apis/veo_api.py`` and
``nodes_veo2.py``. Model ids, aspect ratios, durations and resolutions:
ai.google.dev/gemini-api/docs/video (veo-3.1-generate-preview, 16:9 and 9:16)
and cloud.google.com/vertex-ai/generative-ai/docs/models/veo/3-0-generate-001
(4, 6 or 8 s; 720p and 1080p).
"""

from __future__ import annotations

import base64
from typing import Any

from ..engine.node import Input, NodeOutput, Output
from .call import JobState, JobStatus
from .client import ProviderSpec, header_auth
from .gemini import google_error_message
from .media import change_extension, encode_image, extension_for, output_file
from .nodebase import ProviderNode, secret_input
from .settings import PollPolicy

SPEC = ProviderSpec(
    name="veo",
    display_name="Google Veo",
    base_url="https://generativelanguage.googleapis.com/v1beta",
    auth=header_auth("x-goog-api-key"),
    error_message=google_error_message,
    poll=PollPolicy(initial_interval_s=5.0, max_interval_s=20.0, deadline_s=1800.0),
)

MODELS = ("veo-3.1-generate-preview", "veo-3.1-fast-generate-preview", "veo-3.0-generate-001",
          "veo-3.0-fast-generate-001")
ASPECT_RATIOS = ("16:9", "9:16")
DURATIONS = (4, 6, 8)
RESOLUTIONS = ("720p", "1080p")
VIDEO_TYPES = ("video/", "application/octet-stream")


def parse_operation(body: Any) -> JobStatus:
    """Map an operation to a JobStatus; ``result`` is the list of generated samples."""
    if not body.get("done"):
        return JobStatus(JobState.RUNNING, None, "running")
    error = body.get("error")
    if error:
        message = error.get("message") if isinstance(error, dict) else str(error)
        return JobStatus(JobState.FAILED, None, "error", message=str(message or error))
    video_response = (body.get("response") or {}).get("generateVideoResponse") or {}
    samples = video_response.get("generatedSamples") or []
    if samples:
        return JobStatus(JobState.SUCCEEDED, 1.0, "done", result=list(samples))
    filtered = video_response.get("raiMediaFilteredCount")
    reasons = video_response.get("raiMediaFilteredReasons") or []
    if filtered:
        return JobStatus(JobState.FAILED, None, "filtered",
                         message=f"{filtered} video(s) were filtered by safety checks: "
                                 + ("; ".join(map(str, reasons)) or "no reason given"))
    return JobStatus(JobState.FAILED, None, "done",
                     message="the operation finished without a video")


class VeoVideoGenerate(ProviderNode):
    class_type = "VeoVideoGenerate"
    display_name = "Google Veo Video"
    category = "api node/video/Google"
    description = (
        "Generate a video from a prompt, and optionally a first frame, with Google Veo "
        "through the Gemini API."
    )
    spec = SPEC
    provider = SPEC.name
    inputs = (
        Input("prompt", "STRING", default="", multiline=True),
        Input("model", "COMBO", default="veo-3.1-generate-preview", choices=MODELS),
        Input("aspect_ratio", "COMBO", default="16:9", choices=ASPECT_RATIOS),
        Input("duration_seconds", "INT", default=8, min=4, max=8, step=2,
              tooltip="Length of the video: 4, 6 or 8 seconds."),
        Input("resolution", "COMBO", default="720p", choices=RESOLUTIONS),
        Input("negative_prompt", "STRING", default="", multiline=True, optional=True),
        Input("image", "IMAGE", optional=True,
              tooltip="First frame of the video, sent as base64 PNG."),
        secret_input(SPEC.name),
    )
    outputs = (Output("VIDEO"),)
    output_node = True

    @classmethod
    def validate_provider_inputs(cls, **inputs: Any) -> bool | str:
        if not str(inputs.get("prompt", "")).strip():
            return "prompt is empty"
        duration = int(inputs.get("duration_seconds", 8))
        if duration not in DURATIONS:
            return f"duration_seconds must be 4, 6 or 8, not {duration}"
        return True

    async def execute(
        self, ctx: Any, *, prompt: str, model: str = "veo-3.1-generate-preview",
        aspect_ratio: str = "16:9", duration_seconds: int = 8, resolution: str = "720p",
        negative_prompt: str = "", image: Any = None, secret: str | None = None,
    ) -> NodeOutput:
        self.check_inputs(prompt=prompt, duration_seconds=duration_seconds, secret=secret)
        api = self.connect(ctx, secret)
        instance: dict[str, Any] = {"prompt": prompt}
        if image is not None:
            png = await encode_image(image)
            instance["image"] = {"bytesBase64Encoded": base64.b64encode(png).decode("ascii"),
                                 "mimeType": "image/png"}
        parameters: dict[str, Any] = {
            "aspectRatio": aspect_ratio,
            "durationSeconds": duration_seconds,
            "resolution": resolution,
        }
        if negative_prompt.strip():
            parameters["negativePrompt"] = negative_prompt

        job = await api.submit_job(
            f"/models/{model}:predictLongRunning",
            json={"instances": [instance], "parameters": parameters}, model=model,
            # The job id is the operation id, the last part of the operation name.
            job_id=lambda created: str(created["name"]).rsplit("/operations/", 1)[1],
            poll_url=lambda created, job_id: f"/{created['name']}",
        )
        status = await api.poll(job, parse_operation)
        uri = api.parse_result(lambda: str(status.result[0]["video"]["uri"]),
                               "generatedSamples[0].video.uri", job.poll_url)

        path, entry = output_file(ctx, SPEC.name, "mp4")
        # The Files API download needs the key; a URI on another host is fetched without it.
        # NOTE: whether this download redirects is not confirmed. Requests that carry the
        # key do not follow redirects, so a redirect fails with a clear error.
        _, media_type = await api.download(
            uri, content_types=VIDEO_TYPES, dest=path, send_key=api.client.may_send_key(uri),
        )
        path, entry = change_extension(path, entry, extension_for(media_type, "mp4"))
        return NodeOutput((str(path),), {"videos": [entry]})


NODE_CLASSES = [VeoVideoGenerate]
