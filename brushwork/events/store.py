"""The event store interface and the records it returns."""

from __future__ import annotations

import itertools
import os
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from .types import Event

# Event ids: a random 64-bit prefix per process and a counter. Unique across
# processes in practice, and far cheaper than uuid4 (one os.urandom per id).
_ID_PREFIX = uuid.uuid4().hex[:16]
_id_counter = itertools.count()


def new_event_id() -> str:
    return f"{_ID_PREFIX}{next(_id_counter):016x}"


def _reseed_after_fork() -> None:
    global _ID_PREFIX, _id_counter
    _ID_PREFIX = uuid.uuid4().hex[:16]
    _id_counter = itertools.count()


os.register_at_fork(after_in_child=_reseed_after_fork)


@dataclass(frozen=True, slots=True)
class RecordedEvent:
    """An event as stored: its global position, stream, per-stream version and time."""

    position: int
    stream_id: str
    version: int
    event: Event
    recorded_at: float
    event_id: str

    @property
    def type_name(self) -> str:
        return type(self.event).__name__


@dataclass(slots=True)
class AppendRequest:
    """Events to append to one stream.

    ``expected_version`` is the stream's current version (0 for a new stream);
    ``None`` appends at the end of the stream, whatever its version. Event
    ids make an append idempotent: retrying a request whose commit was
    reported as failed but did happen returns the stored records instead of
    writing the events twice.
    """

    stream_id: str
    events: Sequence[Event]
    expected_version: int | None = None
    event_ids: list[str] = field(default_factory=list)
    # Called with the open SQLAlchemy connection before the insert; raising
    # aborts the append (a worker's lease fence uses this).
    precondition: Callable[[Any], None] | None = None

    def __post_init__(self) -> None:
        if not self.event_ids:
            self.event_ids = [new_event_id() for _ in self.events]


class InlineProjection(Protocol):
    """A read model updated inside the append transaction (rows and checkpoint together).

    ``apply`` is synchronous and gets a SQLAlchemy ``Connection``: the store
    runs it in its writer thread (SQLite) or through ``run_sync`` (PostgreSQL).
    """

    name: str

    def apply(self, conn: Any, events: Sequence[RecordedEvent], *,
              checkpoint: bool = True) -> None: ...


class EventStore(Protocol):
    async def append_batch(self, requests: Sequence[AppendRequest]) -> list[list[RecordedEvent]]:
        """Append every request in one transaction, or none of them."""
        ...

    async def read_all(self, after: int = 0, limit: int = 1000) -> list[RecordedEvent]: ...

    async def read_stream(self, stream_id: str, after_version: int = 0) -> list[RecordedEvent]: ...

    async def max_position(self) -> int: ...

    async def close(self) -> None: ...


async def append(
    store: EventStore, stream_id: str, events: Sequence[Event], expected_version: int | None = None
) -> list[RecordedEvent]:
    """Append events to one stream; see ``AppendRequest`` for ``expected_version``."""
    (records,) = await store.append_batch([AppendRequest(stream_id, events, expected_version)])
    return records
