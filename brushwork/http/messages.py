"""Translation of log events into ComfyUI websocket messages.

Each message carries its event's global position as a top-level
``position`` key, which ComfyUI clients ignore and resuming clients send
back as ``?after=POSITION``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..events.store import RecordedEvent
from ..events.types import (
    ExecutionFailed,
    ExecutionInterrupted,
    ExecutionStarted,
    ExecutionSucceeded,
    NodeCached,
    NodeCompleted,
    NodeStarted,
    PromptDeleted,
    PromptQueued,
    ResumeRequested,
)

BROADCAST = "*"
TERMINAL = (ExecutionSucceeded, ExecutionFailed, ExecutionInterrupted)


@dataclass(slots=True)
class Outgoing:
    """A message and its audience: one client id, BROADCAST, or None (not sent)."""

    target: str | None
    message: dict[str, Any]
    position: int | None


def _ms(seconds: float) -> int:
    return int(seconds * 1000)


def status_message(queue_remaining: int, sid: str | None = None) -> dict[str, Any]:
    data: dict[str, Any] = {"status": {"exec_info": {"queue_remaining": queue_remaining}}}
    if sid is not None:
        data["sid"] = sid
    return {"type": "status", "data": data}


class MessageTranslator:
    """Stateful: tracks which prompts are active (for queue_remaining) and their clients."""

    def __init__(self, active: dict[str, str | None]) -> None:
        self.active = dict(active)
        self.clients: dict[str, str | None] = dict(active)

    def queue_remaining(self) -> int:
        return len(self.active)

    def translate(self, record: RecordedEvent) -> list[Outgoing]:
        event = record.event
        position = record.position
        prompt_id = getattr(event, "prompt_id", None)
        client = self.clients.get(prompt_id) if prompt_id else None
        out: list[Outgoing] = []

        def to_client(kind: str, data: dict[str, Any], *, broadcast_if_none: bool = False) -> None:
            target = client
            if target is None and broadcast_if_none:
                target = BROADCAST
            if target is not None:
                out.append(
                    Outgoing(target, {"type": kind, "data": data, "position": position}, position)
                )

        def status() -> None:
            message = status_message(self.queue_remaining())
            message["position"] = position
            out.append(Outgoing(BROADCAST, message, position))

        timestamp = _ms(record.recorded_at)
        if isinstance(event, PromptQueued):
            self.clients[event.prompt_id] = event.client_id
            self.active[event.prompt_id] = event.client_id
            if len(self.clients) > 50_000:
                self._trim()
            status()
        elif isinstance(event, ResumeRequested):
            self.active[event.prompt_id] = client
            status()
        elif isinstance(event, ExecutionStarted):
            status()
            to_client("execution_start", {"prompt_id": event.prompt_id, "timestamp": timestamp})
        elif isinstance(event, NodeCached):
            to_client(
                "execution_cached",
                {"nodes": event.node_ids, "prompt_id": event.prompt_id, "timestamp": timestamp},
            )
            for node_id, ui in event.ui.items():
                to_client(
                    "executed",
                    {
                        "node": node_id,
                        "display_node": node_id,
                        "output": ui,
                        "prompt_id": event.prompt_id,
                    },
                )
        elif isinstance(event, NodeStarted):
            to_client(
                "executing",
                {
                    "node": event.node_id,
                    "display_node": event.node_id,
                    "prompt_id": event.prompt_id,
                },
            )
        elif isinstance(event, NodeCompleted):
            if event.ui:
                to_client(
                    "executed",
                    {
                        "node": event.node_id,
                        "display_node": event.node_id,
                        "output": event.ui,
                        "prompt_id": event.prompt_id,
                    },
                )
        elif isinstance(event, TERMINAL):
            self.active.pop(event.prompt_id, None)
            if isinstance(event, ExecutionSucceeded):
                to_client(
                    "execution_success", {"prompt_id": event.prompt_id, "timestamp": timestamp}
                )
            elif isinstance(event, ExecutionFailed):
                to_client(
                    "execution_error",
                    {
                        "prompt_id": event.prompt_id,
                        "node_id": event.node_id,
                        "node_type": event.node_type,
                        "executed": event.executed,
                        "exception_message": event.exception_message,
                        "exception_type": event.exception_type,
                        "traceback": event.traceback,
                        "current_inputs": event.current_inputs,
                        "current_outputs": event.current_outputs,
                        "timestamp": timestamp,
                    },
                )
            else:
                to_client(
                    "execution_interrupted",
                    {
                        "prompt_id": event.prompt_id,
                        "node_id": event.node_id,
                        "node_type": event.node_type,
                        "executed": event.executed,
                        "timestamp": timestamp,
                    },
                    broadcast_if_none=True,
                )
            status()
            to_client("executing", {"node": None, "prompt_id": event.prompt_id})
        elif isinstance(event, PromptDeleted):
            self.active.pop(event.prompt_id, None)
            status()
        return out

    def _trim(self) -> None:
        for prompt_id in list(self.clients)[:25_000]:
            if prompt_id not in self.active:
                del self.clients[prompt_id]
