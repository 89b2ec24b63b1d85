"""msgspec Structs for the bodies of the main routes; /openapi.json is generated from them.

Request Structs also decode the bodies of POST /queue, /history, /interrupt
and /free, so the document and the server agree on what they accept.
Unknown fields are ignored, as ComfyUI does. POST /prompt keeps its own
parsing, because ComfyUI clients expect its validation errors in ComfyUI's
shape.
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec

# -- errors ------------------------------------------------------------------------------


class ErrorInfo(msgspec.Struct):
    type: str
    message: str
    details: Any = None


class ErrorBody(msgspec.Struct):
    """Every 4xx and 5xx answer except a failed prompt validation."""

    error: ErrorInfo


class ComfyErrorInfo(msgspec.Struct):
    type: str
    message: str
    details: Any = None
    extra_info: dict[str, Any] = {}


class PromptValidationFailure(msgspec.Struct):
    """ComfyUI's answer to a prompt that fails validation."""

    error: ComfyErrorInfo
    node_errors: dict[str, Any]


# -- prompts and the queue -------------------------------------------------------------------


class PromptRequest(msgspec.Struct):
    """POST /prompt: an API-format graph and ComfyUI's optional fields."""

    prompt: dict[str, Any]
    client_id: str | None = None
    prompt_id: str | None = None
    extra_data: dict[str, Any] | None = None
    number: float | None = None
    front: bool | None = None
    partial_execution_targets: list[str] | None = None


class PromptAccepted(msgspec.Struct):
    prompt_id: str
    number: float
    node_errors: dict[str, Any]


class ExecInfo(msgspec.Struct):
    queue_remaining: int


class PromptInfo(msgspec.Struct):
    exec_info: ExecInfo


class QueueState(msgspec.Struct):
    """Each item is [number, prompt_id, prompt, extra_data, outputs_to_execute]."""

    queue_running: list[list[Any]]
    queue_pending: list[list[Any]]


class QueueChange(msgspec.Struct):
    """POST /queue and POST /history: clear everything and/or delete some prompt ids."""

    clear: bool = False
    delete: list[str] | None = None


class InterruptRequest(msgspec.Struct):
    """POST /interrupt: the running prompt to stop; omit it to stop every running prompt."""

    prompt_id: str | None = None


class FreeRequest(msgspec.Struct):
    unload_models: bool = False
    free_memory: bool = False


# -- history ---------------------------------------------------------------------------------


class HistoryStatus(msgspec.Struct):
    status_str: str
    completed: bool
    messages: list[Any]


class HistoryEntry(msgspec.Struct):
    """``prompt`` is [number, prompt_id, prompt, extra_data, outputs_to_execute]."""

    prompt: list[Any]
    outputs: dict[str, Any]
    status: HistoryStatus
    meta: dict[str, Any]


# -- files -------------------------------------------------------------------------------------


class UploadForm(msgspec.Struct):
    """POST /upload/image as multipart/form-data; ``image`` is the file part."""

    image: bytes
    type: Literal["input", "output", "temp"] = "input"
    subfolder: str = ""
    overwrite: str = "false"


class UploadResult(msgspec.Struct):
    name: str
    subfolder: str
    type: str


# -- system and operations -----------------------------------------------------------------------


class SystemStats(msgspec.Struct):
    system: dict[str, Any]
    devices: list[dict[str, Any]]


class CheckResult(msgspec.Struct):
    ok: bool
    detail: str = ""


class Health(msgspec.Struct):
    """/healthz and /readyz: ``status`` is "ok", "ready" or "not_ready"."""

    status: str
    checks: dict[str, CheckResult] = {}


class Audit(msgspec.Struct):
    prompt_id: str
    status: str
    graph: dict[str, Any]
    node_attempts: list[dict[str, Any]]
    provider_calls: list[dict[str, Any]]
    client_id: str | None = None
    principal: str | None = None
    submitted_at: float | None = None
    started_at: float | None = None
    finished_at: float | None = None
