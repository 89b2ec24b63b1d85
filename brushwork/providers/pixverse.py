"""PixVerse: text-to-video (asynchronous).

API facts:

- Base URL https://app-api.pixverse.ai, ``API-KEY`` header and an
  ``Ai-trace-id`` header holding a new UUID per request.
- Every response is ``{"ErrCode": 0, "ErrMsg": "success", "Resp": {...}}``;
  a non-zero ``ErrCode`` is an error.
- ``POST /openapi/v2/video/text/generate`` takes JSON ``prompt``,
  ``negative_prompt``, ``aspect_ratio`` (16:9, 4:3, 1:1, 3:4, 9:16),
  ``quality`` (360p, 540p, 720p, 1080p), ``duration`` (5 or 8), ``model``,
  ``motion_mode`` (normal or fast), ``seed``, ``style`` (anime, 3d_animation,
  clay, comic, cyberpunk), ``template_id`` and ``water_mark``, and returns
  ``Resp.video_id`` (an integer).
- ``GET /openapi/v2/video/result/{video_id}`` returns ``Resp.status``: 1
  success (with ``url``), 5 generating, 6 deleted, 7 moderation failed,
  8 failed.

Sources: ComfyUI ``comfy_api_nodes/apis/pixverse_api.py`` (fields, required
fields, the default model v3.5, statuses) and ``nodes_pixverse.py``;
``inference-sh/grid`` ``api/pixverse/pixverse_helper.py`` (host and headers).
"""

from __future__ import annotations

import uuid
from typing import Any

from ..engine.node import Input, NodeOutput, Output
from ..errors import ProviderError
from .call import JobState, JobStatus
from .client import ProviderSpec, default_error_message
from .media import change_extension, extension_for, output_file
from .nodebase import ProviderNode, secret_input, seed_input
from .settings import PollPolicy


def pixverse_auth(key: str) -> dict[str, str]:
    """Return the key header and a fresh trace id for one logical request.

    NOTE: a request object is reused for its retries and for every poll of a job, so
    those share one trace id. The sources do not say whether PixVerse accepts that.
    """
    return {"API-KEY": key, "Ai-trace-id": str(uuid.uuid4())}


def pixverse_error_message(body: Any) -> str | None:
    """Read ``{"ErrCode", "ErrMsg"}`` as "ErrCode 500: message"."""
    if isinstance(body, dict) and body.get("ErrCode"):
        return f"ErrCode {body['ErrCode']}: {body.get('ErrMsg') or 'no message'}"
    return default_error_message(body)


SPEC = ProviderSpec(
    name="pixverse",
    display_name="PixVerse",
    base_url="https://app-api.pixverse.ai",
    auth=pixverse_auth,
    error_message=pixverse_error_message,
    poll=PollPolicy(initial_interval_s=5.0, max_interval_s=15.0, deadline_s=1800.0),
)

GENERATE_PATH = "/openapi/v2/video/text/generate"
RESULT_PATH = "/openapi/v2/video/result"
DEFAULT_MODEL = "v3.5"
ASPECT_RATIOS = ("16:9", "4:3", "1:1", "3:4", "9:16")
QUALITIES = ("540p", "360p", "720p", "1080p")
DURATIONS = (5, 8)
MOTION_MODES = ("normal", "fast")
STYLES = ("none", "anime", "3d_animation", "clay", "comic", "cyberpunk")
# NOTE: the sources give no seed range; the node caps it at the int32 maximum.
MAX_SEED = 2147483647

_FAILED_STATUSES = {6: "the video was deleted", 7: "the video failed content moderation",
                    8: "the video generation failed"}


def check_envelope(body: Any, endpoint: str) -> None:
    """Raise a ProviderError when a 2xx response carries a non-zero ``ErrCode``."""
    code = body.get("ErrCode", 0) if isinstance(body, dict) else 0
    if code not in (0, None):
        raise ProviderError(
            f"PixVerse {endpoint} returned ErrCode {code}: {body.get('ErrMsg') or 'no message'}."
            " The provider may already have charged for this request.",
            provider=SPEC.name, may_have_charged=True,
        )


def parse_result(body: Any) -> JobStatus:
    """Map a result response to a JobStatus; ``result`` is the video URL."""
    code = body.get("ErrCode", 0)
    if code not in (0, None):
        return JobStatus(JobState.FAILED, None, f"ErrCode {code}",
                         message=f"ErrCode {code}: {body.get('ErrMsg') or 'no message'}")
    response = body["Resp"]
    status = int(response["status"])
    if status == 1:
        return JobStatus(JobState.SUCCEEDED, 1.0, "1 (success)", result=str(response["url"]))
    if status in _FAILED_STATUSES:
        return JobStatus(JobState.FAILED, None, str(status), message=_FAILED_STATUSES[status])
    # NOTE: only 5 (generating) is documented as unfinished; any other status is
    # treated as still running until the poll deadline.
    return JobStatus(JobState.RUNNING, None, str(status))


class PixVerseTextToVideo(ProviderNode):
    class_type = "PixVerseTextToVideo"
    display_name = "PixVerse Text to Video"
    category = "api node/video/PixVerse"
    description = "Generate a video from a prompt with PixVerse."
    spec = SPEC
    provider = SPEC.name
    inputs = (
        Input("prompt", "STRING", default="", multiline=True),
        Input("model", "STRING", default=DEFAULT_MODEL,
              tooltip="PixVerse model version, such as v3.5."),
        Input("aspect_ratio", "COMBO", default="16:9", choices=ASPECT_RATIOS),
        Input("quality", "COMBO", default="540p", choices=QUALITIES),
        Input("duration", "INT", default=5, min=5, max=8, step=3,
              tooltip="Seconds, 5 or 8."),
        Input("motion_mode", "COMBO", default="normal", choices=MOTION_MODES, optional=True),
        Input("style", "COMBO", default="none", choices=STYLES, optional=True),
        Input("negative_prompt", "STRING", default="", multiline=True, optional=True),
        Input("water_mark", "BOOLEAN", default=False, optional=True),
        seed_input(MAX_SEED),
        secret_input(SPEC.name),
    )
    outputs = (Output("VIDEO"),)
    output_node = True

    @classmethod
    def validate_provider_inputs(cls, **inputs: Any) -> bool | str:
        if not str(inputs.get("prompt", "")).strip():
            return "prompt is empty"
        if not str(inputs.get("model", DEFAULT_MODEL)).strip():
            return "model is empty"
        duration = int(inputs.get("duration", 5))
        if duration not in DURATIONS:
            return f"duration must be 5 or 8 seconds, not {duration}"
        return True

    async def execute(
        self, ctx: Any, *, prompt: str, model: str = DEFAULT_MODEL, aspect_ratio: str = "16:9",
        quality: str = "540p", duration: int = 5, motion_mode: str = "normal",
        style: str = "none", negative_prompt: str = "", water_mark: bool = False, seed: int = 0,
        secret: str | None = None,
    ) -> NodeOutput:
        self.check_inputs(prompt=prompt, model=model, duration=duration, secret=secret)
        api = self.connect(ctx, secret)
        body: dict[str, Any] = {
            "prompt": prompt, "model": model, "aspect_ratio": aspect_ratio, "quality": quality,
            "duration": duration, "motion_mode": motion_mode, "water_mark": water_mark,
        }
        if style != "none":
            body["style"] = style
        if negative_prompt.strip():
            body["negative_prompt"] = negative_prompt
        if seed > 0:
            body["seed"] = seed

        def video_id(created: Any) -> str:
            check_envelope(created, f"POST {GENERATE_PATH}")
            return str(created["Resp"]["video_id"])

        job = await api.submit_job(
            GENERATE_PATH, json=body, model=model, job_id=video_id,
            poll_url=lambda created, job_id: f"{RESULT_PATH}/{job_id}",
        )
        status = await api.poll(job, parse_result)
        path, entry = output_file(ctx, SPEC.name, "mp4")
        _, media_type = await api.download(
            str(status.result), content_types=("video/", "application/octet-stream"), dest=path,
        )
        path, entry = change_extension(path, entry, extension_for(media_type, "mp4"))
        return NodeOutput((str(path),), {"videos": [entry]})


NODE_CLASSES = [PixVerseTextToVideo]
