"""Kling: text-to-video (asynchronous tasks), authenticated with a JWT.

API facts:

- Base URL https://api-singapore.klingai.com (older docs: https://api.klingai.com).
- ``Authorization: Bearer <JWT>``. The JWT is HS256 with the header
  ``{"alg": "HS256", "typ": "JWT"}`` and the payload ``{"iss": <access key>,
  "exp": now + 1800, "nbf": now - 5}``, signed with the secret key.
- ``POST /v1/videos/text2video`` takes ``model_name``, ``prompt`` (required,
  at most 2500 characters), ``negative_prompt``, ``cfg_scale`` (0-1, not for
  v2.x models), ``mode`` (std or pro), ``aspect_ratio`` (16:9, 9:16, 1:1),
  ``duration`` (the string "5" or "10") and ``sound`` (on or off, kling-v2-6).
- Every response is ``{code, message, request_id, data}``; ``code`` 0 means
  success. ``data`` contains ``task_id`` and ``task_status`` (submitted,
  processing, succeed, failed), ``task_status_msg`` and, on success,
  ``task_result.videos[{id, url, duration}]``.
- ``GET /v1/videos/text2video/{task_id}`` returns the task.
- Errors pair an HTTP status with a code, such as 401/1004 (token expired),
  429/1302 (rate limit) and 429/1303 (concurrency limit).

Sources: ``inference-sh/grid`` ``api/klingai/docs/00-general.md`` and
``03-video-text2video.md`` (copies of app.klingai.com/global/dev/document-api);
ComfyUI ``comfy_api_nodes/apis/__init__.py`` (Kling types) and ``nodes_kling.py``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any

from ..engine.node import Input, NodeOutput, Output
from ..errors import ProviderError, ValidationError
from .call import JobState, JobStatus, ProviderCall
from .client import ProviderSpec, bearer_auth, default_error_message
from .media import change_extension, extension_for, output_file
from .nodebase import ProviderNode, secret_input
from .redact import register_secret
from .secrets import resolve_secret
from .settings import PollPolicy


def kling_error_message(body: Any) -> str | None:
    """Read ``{"code", "message"}`` as "code 1303: message"."""
    if isinstance(body, dict) and body.get("code") not in (None, 0):
        return f"code {body['code']}: {body.get('message') or 'no message'}"
    return default_error_message(body)


SPEC = ProviderSpec(
    name="kling",
    display_name="Kling",
    base_url="https://api-singapore.klingai.com",
    # The "key" of a Kling call is the JWT that KlingTextToVideo signs.
    auth=bearer_auth,
    error_message=kling_error_message,
    poll=PollPolicy(initial_interval_s=5.0, max_interval_s=20.0, deadline_s=1800.0),
)

TEXT2VIDEO_PATH = "/v1/videos/text2video"
MODELS = ("kling-v1", "kling-v1-6", "kling-v2-master", "kling-v2-1-master",
          "kling-v2-5-turbo", "kling-v2-6")
# cfg_scale is not accepted by the v2.x models.
CFG_SCALE_MODELS = ("kling-v1", "kling-v1-6")
SOUND_MODELS = ("kling-v2-6",)
MODES = ("std", "pro")
ASPECT_RATIOS = ("16:9", "9:16", "1:1")
DURATIONS = ("5", "10")
MAX_PROMPT_CHARS = 2500
# The token lifetime the Kling docs use, in seconds.
TOKEN_LIFETIME_S = 1800.0
# Seconds a token stays valid after the poll deadline.
TOKEN_MARGIN_S = 300.0


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def encode_jwt(access_key: str, secret_key: str, *, now: float, lifetime_s: float) -> str:
    """Sign the HS256 token Kling expects: issuer = access key, valid from 5 s ago."""
    header = {"alg": "HS256", "typ": "JWT"}
    payload = {"iss": access_key, "exp": int(now + lifetime_s), "nbf": int(now - 5)}
    signing_input = ".".join(
        _b64url(json.dumps(part, separators=(",", ":")).encode("utf-8"))
        for part in (header, payload)
    )
    signature = hmac.new(secret_key.encode("utf-8"), signing_input.encode("ascii"),
                         hashlib.sha256).digest()
    return f"{signing_input}.{_b64url(signature)}"


def split_credentials(stored: str, access_key: str, secret_name: str) -> tuple[str, str]:
    """Return (access key, secret key) from the stored secret and the access_key input.

    With an access_key input the secret is the secret key alone; without one it
    must hold "access_key:secret_key".
    """
    if access_key.strip():
        return access_key.strip(), stored
    access, separator, secret_key = stored.partition(":")
    if not separator or not access or not secret_key:
        raise ValidationError(
            f"KlingTextToVideo: secret {secret_name!r} must hold 'access_key:secret_key', or "
            "the node's access_key input must be set"
        )
    return access, secret_key


def check_envelope(body: Any, endpoint: str) -> None:
    """Raise a ProviderError when a 2xx response carries a non-zero ``code``."""
    code = body.get("code", 0) if isinstance(body, dict) else 0
    if code not in (0, None):
        raise ProviderError(
            f"Kling {endpoint} returned code {code}: {body.get('message') or 'no message'}. "
            "The provider may already have charged for this request.",
            provider=SPEC.name, may_have_charged=True,
        )


def parse_task(body: Any) -> JobStatus:
    """Map a task response to a JobStatus; ``result`` is ``task_result.videos``."""
    code = body.get("code", 0)
    if code not in (0, None):
        return JobStatus(JobState.FAILED, None, f"code {code}",
                         message=f"code {code}: {body.get('message') or 'no message'}")
    data = body["data"]
    status = str(data["task_status"])
    if status == "succeed":
        return JobStatus(JobState.SUCCEEDED, 1.0, status,
                         result=list(data["task_result"]["videos"]))
    if status == "failed":
        return JobStatus(JobState.FAILED, None, status,
                         message=data.get("task_status_msg") or "failed")
    if status == "processing":
        return JobStatus(JobState.RUNNING, None, status)
    return JobStatus(JobState.QUEUED, None, status)


class KlingTextToVideo(ProviderNode):
    class_type = "KlingTextToVideo"
    display_name = "Kling Text to Video"
    category = "api node/video/Kling"
    description = "Generate a video from a prompt with Kling's video models."
    spec = SPEC
    provider = SPEC.name
    inputs = (
        Input("prompt", "STRING", default="", multiline=True),
        Input("model_name", "COMBO", default="kling-v2-1-master", choices=MODELS),
        Input("mode", "COMBO", default="std", choices=MODES,
              tooltip="std (standard) or pro (higher quality)."),
        Input("aspect_ratio", "COMBO", default="16:9", choices=ASPECT_RATIOS),
        Input("duration", "COMBO", default="5", choices=DURATIONS, tooltip="Seconds."),
        Input("negative_prompt", "STRING", default="", multiline=True, optional=True),
        Input("cfg_scale", "FLOAT", default=0.5, min=0.0, max=1.0, step=0.05, optional=True,
              tooltip="Prompt adherence, 0-1; sent to kling-v1 and kling-v1-6 only."),
        Input("sound", "BOOLEAN", default=False, optional=True,
              tooltip="Generate sound; sent to kling-v2-6 only."),
        Input("access_key", "STRING", default="", optional=True,
              tooltip="Kling access key. Every token carries it readable, so it is not "
                      "secret. Leave empty when the secret holds 'access_key:secret_key'; "
                      "otherwise the secret holds the secret key alone."),
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
            return f"prompt is {len(prompt)} characters; Kling accepts at most 2500"
        return True

    def connect_with_token(self, ctx: Any, secret: str | None, access_key: str) -> ProviderCall:
        """Resolve the secret, sign a token with it and bind the client to this node run.

        The poll request is built once and reused for every poll, so the token must
        stay valid until the poll deadline. When the deadline is longer than the
        documented 1800 s, the token lives longer too.
        """
        hub = ctx.service("providers")
        name = secret or SPEC.name
        stored = resolve_secret(hub.secrets, name, principal=ctx.principal,
                                policy=hub.settings.secret_policy)
        access, secret_key = split_credentials(stored, access_key, name)
        register_secret(secret_key)
        client = hub.client(SPEC)
        lifetime = max(TOKEN_LIFETIME_S, client.poll_policy.deadline_s + TOKEN_MARGIN_S)
        # Kling checks exp and nbf against real time, so the token uses the system clock.
        token = encode_jwt(access, secret_key, now=time.time(), lifetime_s=lifetime)
        register_secret(token)
        return ProviderCall(hub, ctx, client, name, token)

    async def execute(
        self, ctx: Any, *, prompt: str, model_name: str = "kling-v2-1-master",
        mode: str = "std", aspect_ratio: str = "16:9", duration: str = "5",
        negative_prompt: str = "", cfg_scale: float = 0.5, sound: bool = False,
        access_key: str = "", secret: str | None = None,
    ) -> NodeOutput:
        self.check_inputs(prompt=prompt, secret=secret)
        api = self.connect_with_token(ctx, secret, access_key)
        body: dict[str, Any] = {
            "model_name": model_name, "prompt": prompt, "mode": mode,
            "aspect_ratio": aspect_ratio, "duration": duration,
        }
        if negative_prompt.strip():
            body["negative_prompt"] = negative_prompt
        if model_name in CFG_SCALE_MODELS:
            body["cfg_scale"] = cfg_scale
        if model_name in SOUND_MODELS:
            body["sound"] = "on" if sound else "off"

        def task_id(created: Any) -> str:
            check_envelope(created, f"POST {TEXT2VIDEO_PATH}")
            return str(created["data"]["task_id"])

        job = await api.submit_job(
            TEXT2VIDEO_PATH, json=body, model=model_name, job_id=task_id,
            poll_url=lambda created, job_id: f"{TEXT2VIDEO_PATH}/{job_id}",
        )
        status = await api.poll(job, parse_task)
        url = api.parse_result(lambda: str(status.result[0]["url"]),
                               "task_result.videos[0].url", job.poll_url)
        path, entry = output_file(ctx, SPEC.name, "mp4")
        _, media_type = await api.download(
            url, content_types=("video/", "application/octet-stream"), dest=path,
        )
        path, entry = change_extension(path, entry, extension_for(media_type, "mp4"))
        return NodeOutput((str(path),), {"videos": [entry]})


NODE_CLASSES = [KlingTextToVideo]
