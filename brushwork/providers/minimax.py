"""MiniMax: Hailuo text-to-video (asynchronous) and text to speech (synchronous).

API facts:

- Base URL https://api.minimax.io (China: api.minimaxi.com), ``Authorization: Bearer``.
- Errors come in the body, usually with HTTP 200: ``base_resp.status_code``
  is not 0 and ``base_resp.status_msg`` gives the reason. Codes: 1000 unknown,
  1001 timeout, 1002 rate limit, 1004 authentication, 1008 insufficient
  balance, 1024 internal, 1026 and 1027 sensitive input and output, 1033
  system, 1039 token limit, 1041 connection limit, 2013 invalid parameters.
- Video: ``POST /v1/video_generation`` with ``model``, ``prompt`` (under 2000
  characters), ``prompt_optimizer``, ``duration`` and ``resolution`` returns
  ``{task_id, base_resp}``. ``GET /v1/query/video_generation?task_id=`` returns
  ``status`` (Queueing, Preparing, Processing, Success, Fail) and ``file_id``;
  ``GET /v1/files/retrieve?file_id=`` returns ``file.download_url``.
- Speech: ``POST /v1/t2a_v2`` with ``model``, ``text``, ``stream: false``,
  ``voice_setting{voice_id, speed}``, ``audio_setting{format}`` and
  ``output_format`` (hex by default) returns ``data.audio`` as hex.

Sources: ComfyUI ``comfy_api_nodes/apis/minimax_api.py`` and ``nodes_minimax.py``;
platform.minimax.io/docs/api-reference/speech-t2a-http and
platform.minimax.io/docs/api-reference/errorcode; the ComfyUI node docs for
MinimaxHailuoVideoNode (``Comfy-Org/embedded-docs``: Hailuo-02 takes 6 or
10 s at 768P or 1080P); docs.jambonz.org/guides/features/tts-vendor-settings/mini-max
(the voice id English_expressive_narrator) and docs.livekit.io agents-js
MiniMax TTSOptions (speed 0.5-2.0).
"""

from __future__ import annotations

from typing import Any

from ..engine.node import Input, NodeOutput, Output
from ..errors import ProviderError
from .call import JobState, JobStatus
from .client import ProviderSpec, bearer_auth, default_error_message
from .media import change_extension, extension_for, output_file, write_output_file
from .nodebase import ProviderNode, secret_input
from .settings import PollPolicy


def minimax_error_message(body: Any) -> str | None:
    """Read ``base_resp{status_code, status_msg}`` as "status_code 1002: message"."""
    base = body.get("base_resp") if isinstance(body, dict) else None
    if isinstance(base, dict) and base.get("status_code"):
        return f"status_code {base['status_code']}: {base.get('status_msg') or 'no message'}"
    return default_error_message(body)


SPEC = ProviderSpec(
    name="minimax",
    display_name="MiniMax",
    base_url="https://api.minimax.io",
    auth=bearer_auth,
    error_message=minimax_error_message,
    poll=PollPolicy(initial_interval_s=5.0, max_interval_s=20.0, deadline_s=1800.0),
)

VIDEO_PATH = "/v1/video_generation"
QUERY_PATH = "/v1/query/video_generation"
RETRIEVE_PATH = "/v1/files/retrieve"
SPEECH_PATH = "/v1/t2a_v2"
VIDEO_MODELS = ("MiniMax-Hailuo-02", "T2V-01-Director", "T2V-01")
# Only Hailuo-02's durations and resolutions are stated; the other models get neither field.
HAILUO_02 = "MiniMax-Hailuo-02"
DURATIONS = (6, 10)
RESOLUTIONS = ("768P", "1080P")
MAX_PROMPT_CHARS = 1999
SPEECH_MODELS = ("speech-2.8-hd", "speech-2.6-hd", "speech-02-hd")
DEFAULT_VOICE_ID = "English_expressive_narrator"

# Codes that mean the request was rejected before any work started. Other codes may
# come after paid work.
# NOTE: this split and RETRYABLE_CODES follow the code names; MiniMax documents neither.
REJECTED_CODES = frozenset({1002, 1004, 1008, 1026, 1039, 1041, 2013})
RETRYABLE_CODES = frozenset({1000, 1001, 1002, 1024, 1033, 1041})
_QUEUED = {"Queueing", "Preparing"}


def base_status(body: Any) -> tuple[int, str]:
    """Return ``base_resp``'s (status_code, status_msg); a missing base_resp counts as 0."""
    base = body.get("base_resp") if isinstance(body, dict) else None
    if not isinstance(base, dict):
        return 0, ""
    return int(base.get("status_code") or 0), str(base.get("status_msg") or "")


def check_base_resp(body: Any, endpoint: str) -> None:
    """Raise a ProviderError when ``base_resp.status_code`` is not 0."""
    code, message = base_status(body)
    if code == 0:
        return
    charged = code not in REJECTED_CODES
    raise ProviderError(
        f"MiniMax {endpoint} failed with status_code {code}: {message or 'no message'}."
        + (" The provider may already have charged for this request." if charged else ""),
        provider=SPEC.name, retryable=code in RETRYABLE_CODES, may_have_charged=charged,
        details={"status_code": code},
    )


def parse_video_task(body: Any) -> JobStatus:
    """Map a video query to a JobStatus; ``result`` is the ``file_id``."""
    code, message = base_status(body)
    if code != 0:
        return JobStatus(JobState.FAILED, None, f"status_code {code}",
                         message=f"status_code {code}: {message or 'no message'}",
                         retryable=code in RETRYABLE_CODES)
    status = str(body["status"])
    if status == "Success":
        return JobStatus(JobState.SUCCEEDED, 1.0, status, result=str(body["file_id"]))
    if status == "Fail":
        return JobStatus(JobState.FAILED, None, status, message="the video task failed")
    if status in _QUEUED:
        return JobStatus(JobState.QUEUED, None, status)
    return JobStatus(JobState.RUNNING, None, status)


class MiniMaxTextToVideo(ProviderNode):
    class_type = "MiniMaxTextToVideo"
    display_name = "MiniMax Hailuo Text to Video"
    category = "api node/video/MiniMax"
    description = "Generate a video from a prompt with MiniMax Hailuo models."
    spec = SPEC
    provider = SPEC.name
    inputs = (
        Input("prompt", "STRING", default="", multiline=True),
        Input("model", "COMBO", default=HAILUO_02, choices=VIDEO_MODELS),
        Input("duration", "INT", default=6, min=6, max=10, step=4,
              tooltip="Seconds, 6 or 10; sent to MiniMax-Hailuo-02 only."),
        Input("resolution", "COMBO", default="768P", choices=RESOLUTIONS,
              tooltip="Sent to MiniMax-Hailuo-02 only."),
        Input("prompt_optimizer", "BOOLEAN", default=True, optional=True,
              tooltip="Let MiniMax rewrite the prompt before generating."),
        secret_input(SPEC.name),
    )
    outputs = (Output("VIDEO"),)
    output_node = True

    @classmethod
    def validate_provider_inputs(cls, **inputs: Any) -> bool | str:
        prompt = str(inputs.get("prompt", ""))
        if not prompt.strip():
            return "prompt is empty"
        if len(prompt) > MAX_PROMPT_CHARS:
            return f"prompt is {len(prompt)} characters; MiniMax accepts fewer than 2000"
        duration = int(inputs.get("duration", 6))
        if duration not in DURATIONS:
            return f"duration must be 6 or 10 seconds, not {duration}"
        return True

    async def execute(
        self, ctx: Any, *, prompt: str, model: str = HAILUO_02, duration: int = 6,
        resolution: str = "768P", prompt_optimizer: bool = True, secret: str | None = None,
    ) -> NodeOutput:
        self.check_inputs(prompt=prompt, duration=duration, secret=secret)
        api = self.connect(ctx, secret)
        body: dict[str, Any] = {"model": model, "prompt": prompt,
                                "prompt_optimizer": prompt_optimizer}
        if model == HAILUO_02:
            body["duration"] = duration
            body["resolution"] = resolution

        def task_id(created: Any) -> str:
            check_base_resp(created, f"POST {VIDEO_PATH}")
            return str(created["task_id"])

        job = await api.submit_job(
            VIDEO_PATH, json=body, model=model, job_id=task_id,
            poll_url=lambda created, job_id: f"{QUERY_PATH}?task_id={job_id}",
        )
        status = await api.poll(job, parse_video_task)
        url = await self._download_url(api, str(status.result))

        path, entry = output_file(ctx, SPEC.name, "mp4")
        _, media_type = await api.download(
            url, content_types=("video/", "application/octet-stream"), dest=path,
        )
        path, entry = change_extension(path, entry, extension_for(media_type, "mp4"))
        return NodeOutput((str(path),), {"videos": [entry]})

    async def _download_url(self, api: Any, file_id: str) -> str:
        """Look up the finished video's download URL; the job is paid for by now."""
        try:
            retrieved = await api.request_json("GET", RETRIEVE_PATH, params={"file_id": file_id},
                                               submission=False)
            check_base_resp(retrieved, f"GET {RETRIEVE_PATH}")
        except ProviderError as error:
            if error.may_have_charged:
                raise
            raise ProviderError(
                f"{error.message} The video was generated, so the provider may already have "
                "charged for it.",
                provider=SPEC.name, retryable=error.retryable, may_have_charged=True,
                http_status=error.http_status, details=error.details,
            ) from None
        return api.parse_result(lambda: str(retrieved["file"]["download_url"]),
                                "file.download_url", RETRIEVE_PATH)


class MiniMaxTextToSpeech(ProviderNode):
    class_type = "MiniMaxTextToSpeech"
    display_name = "MiniMax Text to Speech"
    category = "api node/audio/MiniMax"
    description = "Speak a text with a MiniMax voice; saves an MP3 file."
    spec = SPEC
    provider = SPEC.name
    inputs = (
        Input("text", "STRING", default="", multiline=True),
        Input("model", "COMBO", default="speech-2.8-hd", choices=SPEECH_MODELS),
        Input("voice_id", "STRING", default=DEFAULT_VOICE_ID,
              tooltip="Id of a MiniMax system or cloned voice."),
        Input("speed", "FLOAT", default=1.0, min=0.5, max=2.0, step=0.05, optional=True),
        secret_input(SPEC.name),
    )
    outputs = (Output("AUDIO"),)
    output_node = True

    @classmethod
    def validate_provider_inputs(cls, **inputs: Any) -> bool | str:
        if not str(inputs.get("text", "")).strip():
            return "text is empty"
        if not str(inputs.get("voice_id", DEFAULT_VOICE_ID)).strip():
            return "voice_id is empty"
        return True

    async def execute(
        self, ctx: Any, *, text: str, model: str = "speech-2.8-hd",
        voice_id: str = DEFAULT_VOICE_ID, speed: float = 1.0, secret: str | None = None,
    ) -> NodeOutput:
        self.check_inputs(text=text, voice_id=voice_id, secret=secret)
        api = self.connect(ctx, secret)
        body = {
            "model": model,
            "text": text,
            "stream": False,
            "voice_setting": {"voice_id": voice_id, "speed": speed},
            "audio_setting": {"format": "mp3"},
            "output_format": "hex",
        }
        result = await api.request_json("POST", SPEECH_PATH, json=body, model=model)
        check_base_resp(result, f"POST {SPEECH_PATH}")
        encoded = api.parse_result(lambda: str(result["data"]["audio"]), "data.audio",
                                   SPEECH_PATH)
        try:
            audio = bytes.fromhex(encoded)
        except ValueError:
            raise ProviderError(
                f"MiniMax POST {SPEECH_PATH} returned audio that is not valid hex. The "
                "provider may already have charged for this request.",
                provider=SPEC.name, may_have_charged=True,
            ) from None
        if not audio:
            raise ProviderError(
                f"MiniMax POST {SPEECH_PATH} returned empty audio. The provider may already "
                "have charged for this request.",
                provider=SPEC.name, may_have_charged=True,
            )
        path, entry = await write_output_file(ctx, SPEC.name, audio, "mp3")
        return NodeOutput((str(path),), {"audio": [entry]})


NODE_CLASSES = [MiniMaxTextToVideo, MiniMaxTextToSpeech]
