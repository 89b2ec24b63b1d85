"""Event types: msgspec Structs in one tagged union, each with a schema version.

Every event belongs to a stream. A prompt's events live in the stream named
by its prompt id. Events that concern no single prompt live in the streams
named by the ``*_STREAM`` constants below.

Payloads hold references, never bytes: outputs name artifacts by sha256, and
secrets are named by their scoped name only.
"""

from __future__ import annotations

from typing import Any, ClassVar

import msgspec

HISTORY_STREAM = "$history"
REJECTIONS_STREAM_PREFIX = "$rejected:"


class Event(msgspec.Struct, tag=True, kw_only=True, omit_defaults=True):
    """Base of every event. ``schema_version`` is bumped on an incompatible change."""

    schema_version: ClassVar[int] = 1


class OutputItem(msgspec.Struct, omit_defaults=True, array_like=True):
    """One value on one output slot: an artifact reference or an inline JSON value.

    ``kind`` is ``"artifact"`` (``ref`` is a sha256), ``"inline"`` (``value``
    holds a JSON scalar) or ``"transient"`` (an object such as a loaded model
    that cannot be stored; the node runs again when its output is needed).
    """

    kind: str
    io_type: str
    ref: str | None = None
    value: Any = None


class PromptQueued(Event):
    prompt_id: str
    number: float
    prompt: dict[str, Any]
    extra_data: dict[str, Any]
    outputs_to_execute: list[str]
    client_id: str | None = None
    principal: str | None = None
    node_errors: dict[str, Any] = {}


class PromptRejected(Event):
    prompt_id: str | None
    error: dict[str, Any]
    node_errors: dict[str, Any]
    client_id: str | None = None
    principal: str | None = None


class ExecutionStarted(Event):
    prompt_id: str
    attempt: int = 1
    worker_id: str = ""
    resumed: bool = False
    skipped_nodes: list[str] = []


class NodeCached(Event):
    """Nodes whose outputs came from the cache instead of running (one event per prompt)."""

    prompt_id: str
    node_ids: list[str]
    ui: dict[str, Any] = {}


class NodeStarted(Event):
    prompt_id: str
    node_id: str
    class_type: str
    attempt: int = 1
    display_node: str | None = None
    inputs: dict[str, Any] = {}


class NodeProgress(Event):
    """A coarse progress mark (quarters of the work), never one per tick."""

    prompt_id: str
    node_id: str
    value: float
    max: float


class NodeCompleted(Event):
    """A node finished; its outputs are stored by reference.

    Schema version 2 replaced version 1's flat ``output_hashes`` list with
    typed ``outputs`` (one list of items per output slot, for list outputs).
    """

    schema_version: ClassVar[int] = 2

    prompt_id: str
    node_id: str
    class_type: str
    outputs: list[list[OutputItem]]
    ui: dict[str, Any] | None = None
    attempt: int = 1
    duration_s: float = 0.0
    cache_key: str | None = None


class NodeFailed(Event):
    prompt_id: str
    node_id: str
    class_type: str
    exception_type: str
    exception_message: str
    traceback: list[str] = []
    current_inputs: dict[str, Any] = {}
    attempt: int = 1
    duration_s: float = 0.0
    retryable: bool = False


class ProviderJobAccepted(Event):
    """A provider accepted an asynchronous job; after a crash, polling resumes on this id."""

    prompt_id: str
    node_id: str
    provider: str
    job_id: str
    poll_url: str | None = None
    attempt: int = 1


class ProviderCallRecorded(Event):
    prompt_id: str
    node_id: str
    provider: str
    method: str
    endpoint: str
    model: str | None = None
    parameters: dict[str, Any] = {}
    status: int | None = None
    outcome: str = "ok"
    latency_s: float = 0.0
    attempts: int = 1
    cost: float | None = None
    cost_unit: str | None = None
    idempotency_key: str | None = None
    error: str | None = None


class ExecutionSucceeded(Event):
    prompt_id: str
    executed: list[str] = []
    duration_s: float = 0.0


class ExecutionFailed(Event):
    prompt_id: str
    node_id: str | None
    node_type: str | None
    exception_type: str
    exception_message: str
    traceback: list[str] = []
    executed: list[str] = []
    current_inputs: dict[str, Any] = {}
    current_outputs: list[str] = []


class InterruptRequested(Event):
    prompt_id: str


class ExecutionInterrupted(Event):
    prompt_id: str
    node_id: str | None = None
    node_type: str | None = None
    executed: list[str] = []


class ResumeAttempted(Event):
    """A process picked up a run that a crash left unfinished."""

    prompt_id: str
    crash_count: int
    worker_id: str = ""


class ResumeRequested(Event):
    """An operator asked to retry a run that was failed as a poison run."""

    prompt_id: str


class PromptDeleted(Event):
    prompt_id: str


class HistoryCleared(Event):
    pass


AnyEvent = (
    PromptQueued
    | PromptRejected
    | ExecutionStarted
    | NodeCached
    | NodeStarted
    | NodeProgress
    | NodeCompleted
    | NodeFailed
    | ProviderJobAccepted
    | ProviderCallRecorded
    | ExecutionSucceeded
    | ExecutionFailed
    | InterruptRequested
    | ExecutionInterrupted
    | ResumeAttempted
    | ResumeRequested
    | PromptDeleted
    | HistoryCleared
)

EVENT_TYPES: dict[str, type[Event]] = {
    cls.__name__: cls for cls in AnyEvent.__args__  # type: ignore[attr-defined]
}

TERMINAL_EVENTS = (ExecutionSucceeded, ExecutionFailed, ExecutionInterrupted, PromptDeleted)
