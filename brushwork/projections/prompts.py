"""The prompts projection: the queue and the history that ComfyUI clients read.

One row per accepted prompt, with its status (queued, running, success,
error, interrupted, deleted), the messages that history shows, and one row
per output node's UI dict. Credentials in extra_data are dropped here.
"""

from __future__ import annotations

import functools
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection

from ..events.batch_sql import execute_many
from ..events.store import RecordedEvent
from ..events.types import (
    ExecutionFailed,
    ExecutionInterrupted,
    ExecutionStarted,
    ExecutionSucceeded,
    HistoryCleared,
    NodeCached,
    NodeCompleted,
    PromptDeleted,
    PromptQueued,
    ResumeAttempted,
    ResumeRequested,
)
from .base import BatchedProjection, dumps, execute_updates, public_extra_data
from .schema import prompt_outputs, prompt_view

FINISHED = ("success", "error", "interrupted")


def _ms(seconds: float) -> int:
    return int(seconds * 1000)


class PromptsProjection(BatchedProjection):
    name = "prompts"

    def reset(self) -> None:
        self.inserts: dict[str, dict[str, Any]] = {}
        self.updates: dict[tuple[str], dict[str, Any]] = {}
        self.outputs: dict[tuple[str, str], dict[str, Any]] = {}

    def _set(self, prompt_id: str, **fields: Any) -> None:
        row = self.inserts.get(prompt_id)
        if row is not None:
            row.update(fields)
        else:
            self.updates.setdefault((prompt_id,), {}).update(fields)

    def fold(self, conn: Connection, record: RecordedEvent) -> None:
        event = record.event
        if isinstance(event, PromptQueued):
            self.inserts[event.prompt_id] = {
                "prompt_id": event.prompt_id, "position": record.position,
                "number": event.number, "status": "queued", "client_id": event.client_id,
                "principal": event.principal, "prompt": dumps(event.prompt),
                "extra_data": dumps(public_extra_data(event.extra_data)),
                "outputs_to_execute": dumps(event.outputs_to_execute),
                "node_errors": dumps(event.node_errors), "start_message": None,
                "cached_message": None, "end_message": None,
                "queued_at": record.recorded_at, "started_at": None, "finished_at": None,
                "finished_position": None, "in_history": False, "crash_count": 0,
                "run_attempts": 0,
            }
        elif isinstance(event, ExecutionStarted):
            self._set(event.prompt_id, status="running", started_at=record.recorded_at,
                      run_attempts=event.attempt, start_message=dumps(
                          {"prompt_id": event.prompt_id, "timestamp": _ms(record.recorded_at)}))
        elif isinstance(event, NodeCached):
            self._set(event.prompt_id, cached_message=dumps({
                "nodes": event.node_ids, "prompt_id": event.prompt_id,
                "timestamp": _ms(record.recorded_at)}))
            for node_id, ui in event.ui.items():
                self._output(record, event.prompt_id, node_id, "", ui)
        elif isinstance(event, NodeCompleted):
            if event.ui:
                self._output(record, event.prompt_id, event.node_id, event.class_type, event.ui)
        elif isinstance(event, ExecutionSucceeded | ExecutionFailed | ExecutionInterrupted):
            self._finish(record)
        elif isinstance(event, PromptDeleted):
            self.flush(conn)
            self.reset()
            conn.execute(
                prompt_view.update().where(prompt_view.c.prompt_id == event.prompt_id,
                                           prompt_view.c.status == "queued")
                .values(status="deleted"))
            conn.execute(
                prompt_view.update().where(prompt_view.c.prompt_id == event.prompt_id)
                .values(in_history=False))
        elif isinstance(event, HistoryCleared):
            self.flush(conn)
            self.reset()
            conn.execute(
                prompt_view.update().where(prompt_view.c.in_history.is_(True))
                .values(in_history=False))
        elif isinstance(event, ResumeAttempted):
            self._set(event.prompt_id, crash_count=event.crash_count)
        elif isinstance(event, ResumeRequested):
            self._set(event.prompt_id, status="queued", crash_count=0, in_history=False,
                      end_message=None, finished_at=None, finished_position=None)

    def _output(self, record: RecordedEvent, prompt_id: str, node_id: str, class_type: str,
                ui: dict[str, Any]) -> None:
        self.outputs[(prompt_id, node_id)] = {
            "prompt_id": prompt_id, "node_id": node_id, "class_type": class_type,
            "ui": dumps(ui), "position": record.position,
        }

    def _finish(self, record: RecordedEvent) -> None:
        event = record.event
        timestamp = _ms(record.recorded_at)
        if isinstance(event, ExecutionSucceeded):
            status = "success"
            message = ["execution_success", {"prompt_id": event.prompt_id, "timestamp": timestamp}]
        elif isinstance(event, ExecutionFailed):
            status = "error"
            message = ["execution_error", {
                "prompt_id": event.prompt_id, "node_id": event.node_id,
                "node_type": event.node_type, "executed": event.executed,
                "exception_message": event.exception_message,
                "exception_type": event.exception_type, "traceback": event.traceback,
                "current_inputs": event.current_inputs, "current_outputs": event.current_outputs,
                "timestamp": timestamp,
            }]
        else:
            assert isinstance(event, ExecutionInterrupted)
            status = "interrupted"
            message = ["execution_interrupted", {
                "prompt_id": event.prompt_id, "node_id": event.node_id,
                "node_type": event.node_type, "executed": event.executed,
                "timestamp": timestamp,
            }]
        self._set(event.prompt_id, status=status, finished_at=record.recorded_at,
                  finished_position=record.position, in_history=True,
                  end_message=dumps(message))

    def flush(self, conn: Connection) -> None:
        if self.inserts:
            execute_many(conn, _INSERT_PROMPT, list(self.inserts.values()))
        if self.updates:
            execute_updates(conn, prompt_view, ("prompt_id",), self.updates)
        if self.outputs:
            execute_many(conn, _upsert_output(conn.dialect.name), list(self.outputs.values()))


_INSERT_PROMPT = prompt_view.insert()


@functools.cache
def _upsert_output(dialect_name: str) -> Any:
    insert = pg_insert if dialect_name == "postgresql" else sqlite_insert
    statement = insert(prompt_outputs)
    return statement.on_conflict_do_update(
        index_elements=["prompt_id", "node_id"],
        set_={"ui": statement.excluded.ui, "position": statement.excluded.position,
              "class_type": statement.excluded.class_type},
    )


__all__ = ["FINISHED", "PromptsProjection", "sa"]
