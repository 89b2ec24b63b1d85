"""Prompt leases: how many workers share one queue on PostgreSQL.

The leases projection keeps one row per prompt that still has to run
(inserted on PromptQueued and ResumeRequested, deleted on the run's end).
Workers claim rows with ``SELECT ... FOR UPDATE SKIP LOCKED``, renew them by
heartbeat, and lose them when they stop renewing; another worker then
claims the prompt and resumes it from the log. Claim columns (worker,
generation, expiry) are coordination state, not history: a rebuild resets
them and workers claim again. Every append of a leased run checks, in its
own transaction, that its worker still holds the lease (fencing), so a
worker that lost its lease cannot write into a run another worker resumed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import msgspec
import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from ..errors import ConflictError
from ..events.store import RecordedEvent
from ..events.types import (
    ExecutionFailed,
    ExecutionInterrupted,
    ExecutionSucceeded,
    PromptDeleted,
    PromptQueued,
    ResumeRequested,
)
from .base import BatchedProjection, dumps, loads
from .schema import prompt_leases

_DONE = (ExecutionSucceeded, ExecutionFailed, ExecutionInterrupted, PromptDeleted)
_CLAIM_WINDOW = 50


class LeaseLostError(ConflictError):
    code = "lease_lost"

    def __init__(self, prompt_id: str, worker_id: str) -> None:
        super().__init__(
            f"worker {worker_id} no longer holds the lease on prompt {prompt_id}; "
            "another worker resumed it",
            details={"prompt_id": prompt_id, "worker_id": worker_id},
        )


class LeasesProjection(BatchedProjection):
    name = "leases"

    def reset(self) -> None:
        self.inserts: dict[str, dict[str, Any]] = {}
        self.deletes: set[str] = set()
        self.requeues: set[str] = set()

    def fold(self, conn: Connection, record: RecordedEvent) -> None:
        event = record.event
        if isinstance(event, PromptQueued):
            device = (event.extra_data.get("requirements") or {}).get("device")
            self.inserts[event.prompt_id] = {
                "prompt_id": event.prompt_id, "number": event.number,
                "position": record.position,
                "class_types": dumps(sorted({n["class_type"] for n in event.prompt.values()})),
                "device": device if isinstance(device, str) else None,
                "worker_id": None, "generation": 0, "expires_at": 0.0,
            }
            self.deletes.discard(event.prompt_id)
        elif isinstance(event, _DONE):
            # Each set keeps the latest intent per prompt, so flushing deletes,
            # then inserts, then requeues gives the state the events end in,
            # however the log is cut into batches.
            self.inserts.pop(event.prompt_id, None)
            self.requeues.discard(event.prompt_id)
            self.deletes.add(event.prompt_id)
        elif isinstance(event, ResumeRequested):
            self.deletes.discard(event.prompt_id)
            self.requeues.add(event.prompt_id)

    def flush(self, conn: Connection) -> None:
        if self.deletes:
            conn.execute(prompt_leases.delete().where(
                prompt_leases.c.prompt_id.in_(sorted(self.deletes))))
        if self.inserts:
            conn.execute(prompt_leases.insert(), list(self.inserts.values()))
        for prompt_id in sorted(self.requeues):
            self._requeue(conn, prompt_id)

    @staticmethod
    def _requeue(conn: Connection, prompt_id: str) -> None:
        from ..events.schema import events

        row = conn.execute(sa.select(events.c.position, events.c.payload).where(
            events.c.stream_id == prompt_id, events.c.type == "PromptQueued")).first()
        if row is None:
            return
        queued = msgspec.json.decode(row.payload)
        exists = conn.execute(sa.select(prompt_leases.c.prompt_id).where(
            prompt_leases.c.prompt_id == prompt_id)).first()
        if exists:
            return
        conn.execute(prompt_leases.insert().values(
            prompt_id=prompt_id, number=queued["number"], position=row.position,
            class_types=dumps(sorted({n["class_type"] for n in queued["prompt"].values()})),
            device=None, worker_id=None, generation=0, expires_at=0.0))


@dataclass(frozen=True)
class Claim:
    prompt_id: str
    generation: int


@dataclass(frozen=True)
class Capabilities:
    node_classes: frozenset[str] | None  # None: every registered class
    devices: tuple[str, ...]

    def can_run(self, class_types: list[str], device: str | None) -> bool:
        if self.node_classes is not None and not set(class_types) <= self.node_classes:
            return False
        if device is None:
            return True
        return any(d == device or d.split(":")[0] == device for d in self.devices)


_NOW = sa.func.extract("epoch", sa.func.clock_timestamp())


class LeaseStore:
    """Claims, renewals and fences over the prompt_leases table (PostgreSQL)."""

    def __init__(self, engine: AsyncEngine, worker_id: str, lease_seconds: float) -> None:
        self.engine = engine
        self.worker_id = worker_id
        self.lease_seconds = lease_seconds

    async def claim(self, capabilities: Capabilities) -> Claim | None:
        """Take the oldest runnable prompt whose lease is free or expired."""
        async with self.engine.begin() as conn:
            rows = (await conn.execute(
                sa.select(prompt_leases.c.prompt_id, prompt_leases.c.class_types,
                          prompt_leases.c.device, prompt_leases.c.generation)
                .where(sa.or_(prompt_leases.c.worker_id.is_(None),
                              prompt_leases.c.expires_at < _NOW))
                .order_by(prompt_leases.c.number, prompt_leases.c.position)
                .limit(_CLAIM_WINDOW)
                .with_for_update(skip_locked=True)
            )).all()
            for row in rows:
                if not capabilities.can_run(loads(row.class_types), row.device):
                    continue
                generation = row.generation + 1
                await conn.execute(
                    prompt_leases.update().where(prompt_leases.c.prompt_id == row.prompt_id)
                    .values(worker_id=self.worker_id, generation=generation,
                            expires_at=_NOW + self.lease_seconds))
                return Claim(row.prompt_id, generation)
        return None

    async def renew(self, claims: Sequence[Claim]) -> set[str]:
        """Extend our leases; return the prompt ids whose lease another worker took.

        A lease whose row is gone belongs to a run that just ended (its end
        event deleted the row): that is not a loss.
        """
        if not claims:
            return set()
        missing = []
        async with self.engine.begin() as conn:
            for claim in claims:
                result = await conn.execute(
                    prompt_leases.update()
                    .where(prompt_leases.c.prompt_id == claim.prompt_id,
                           prompt_leases.c.worker_id == self.worker_id,
                           prompt_leases.c.generation == claim.generation)
                    .values(expires_at=_NOW + self.lease_seconds))
                if result.rowcount == 0:
                    missing.append(claim.prompt_id)
            if not missing:
                return set()
            rows = await conn.execute(sa.select(prompt_leases.c.prompt_id).where(
                prompt_leases.c.prompt_id.in_(missing)))
            return {row.prompt_id for row in rows}

    async def release(self, claim: Claim) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(
                prompt_leases.update()
                .where(prompt_leases.c.prompt_id == claim.prompt_id,
                       prompt_leases.c.worker_id == self.worker_id,
                       prompt_leases.c.generation == claim.generation)
                .values(worker_id=None, expires_at=0.0))

    def fence(self, claim: Claim) -> Any:
        """Return a precondition for appends: this worker still owns ``claim``."""
        worker_id = self.worker_id

        def check(conn: Connection) -> None:
            row = conn.execute(
                sa.select(prompt_leases.c.worker_id, prompt_leases.c.generation)
                .where(prompt_leases.c.prompt_id == claim.prompt_id)
                .with_for_update()).first()
            # No row: the run already ended (its terminal event removed the row),
            # so this worker must not write into it either.
            if row is None or row.worker_id != worker_id or row.generation != claim.generation:
                raise LeaseLostError(claim.prompt_id, worker_id)

        return check
