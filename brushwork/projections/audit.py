"""The audit projection: every node attempt and every provider call of every run."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ..events.batch_sql import execute_many
from ..events.store import RecordedEvent
from ..events.types import (
    ExecutionFailed,
    ExecutionInterrupted,
    NodeCompleted,
    NodeFailed,
    NodeStarted,
    ProviderCallRecorded,
    ResumeAttempted,
)
from .base import BatchedProjection, dumps, execute_updates
from .schema import audit_node_attempts, audit_provider_calls


class AuditProjection(BatchedProjection):
    name = "audit"

    def reset(self) -> None:
        self.inserts: dict[tuple[str, str, int], dict[str, Any]] = {}
        self.updates: dict[tuple[str, str, int], dict[str, Any]] = {}
        self.calls: list[dict[str, Any]] = []

    def _set(self, key: tuple[str, str, int], **fields: Any) -> None:
        row = self.inserts.get(key)
        if row is not None:
            row.update(fields)
        else:
            self.updates.setdefault(key, {}).update(fields)

    def fold(self, conn: Connection, record: RecordedEvent) -> None:
        event = record.event
        if isinstance(event, NodeStarted):
            if event.attempt > 1:
                self._close_running(conn, event.prompt_id, "aborted", event.node_id)
            key = (event.prompt_id, event.node_id, event.attempt)
            self.inserts[key] = {
                "prompt_id": event.prompt_id, "node_id": event.node_id,
                "attempt": event.attempt, "class_type": event.class_type,
                "status": "running", "started_at": record.recorded_at, "finished_at": None,
                "duration_s": None, "inputs": dumps(event.inputs), "outputs": None,
                "error": None, "position": record.position,
            }
        elif isinstance(event, NodeCompleted):
            self._set((event.prompt_id, event.node_id, event.attempt), status="completed",
                      finished_at=record.recorded_at, duration_s=event.duration_s,
                      outputs=dumps(event.outputs))
        elif isinstance(event, NodeFailed):
            self._set((event.prompt_id, event.node_id, event.attempt), status="failed",
                      finished_at=record.recorded_at, duration_s=event.duration_s,
                      error=dumps({"type": event.exception_type,
                                   "message": event.exception_message}))
        elif isinstance(event, ResumeAttempted):
            self._close_running(conn, event.prompt_id, "aborted")
        elif isinstance(event, ExecutionInterrupted):
            self._close_running(conn, event.prompt_id, "interrupted")
        elif isinstance(event, ExecutionFailed):
            # Nodes that ran beside the failed one were cancelled with the run.
            self._close_running(conn, event.prompt_id, "aborted")
        elif isinstance(event, ProviderCallRecorded):
            self.calls.append({
                "position": record.position, "prompt_id": event.prompt_id,
                "node_id": event.node_id, "provider": event.provider, "method": event.method,
                "endpoint": event.endpoint, "model": event.model,
                "parameters": dumps(event.parameters), "status": event.status,
                "outcome": event.outcome, "latency_s": event.latency_s,
                "attempts": event.attempts, "cost": event.cost, "cost_unit": event.cost_unit,
                "idempotency_key": event.idempotency_key, "error": event.error,
                "recorded_at": record.recorded_at,
            })

    def _close_running(self, conn: Connection, prompt_id: str, status: str,
                             node_id: str | None = None) -> None:
        """Mark attempts still running (the process died under them, or the run ended) as closed."""
        for key, row in self.inserts.items():
            if key[0] == prompt_id and row["status"] == "running" and (
                    node_id is None or key[1] == node_id):
                row["status"] = status
        conditions = [audit_node_attempts.c.prompt_id == prompt_id,
                      audit_node_attempts.c.status == "running"]
        if node_id is not None:
            conditions.append(audit_node_attempts.c.node_id == node_id)
        pending_updates = {k: v for k, v in self.updates.items() if k[0] == prompt_id}
        if pending_updates:
            execute_updates(conn, audit_node_attempts,
                                  ("prompt_id", "node_id", "attempt"), pending_updates)
            for key in pending_updates:
                del self.updates[key]
        conn.execute(audit_node_attempts.update().where(*conditions).values(status=status))

    def flush(self, conn: Connection) -> None:
        if self.updates:
            execute_updates(conn, audit_node_attempts,
                                  ("prompt_id", "node_id", "attempt"), self.updates)
        if self.inserts:
            execute_many(conn, _INSERT_ATTEMPT, list(self.inserts.values()))
        if self.calls:
            execute_many(conn, _INSERT_CALL, self.calls)


_INSERT_ATTEMPT = audit_node_attempts.insert()
_INSERT_CALL = audit_provider_calls.insert()


__all__ = ["AuditProjection", "sa"]
