"""The SQLAlchemy implementation of the event store (SQLite and PostgreSQL)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
import structlog
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from ..errors import ConcurrencyError, StorageError
from .batch_sql import driver_cursor
from .checkpoints import write_checkpoints
from .codec import decode_event, encode_event
from .faults import FaultInjector
from .schema import events
from .store import AppendRequest, InlineProjection, RecordedEvent
from .worker_threads import WorkerThreads

log = structlog.get_logger(__name__)

# Key of the PostgreSQL advisory lock that serialises appends, so that global
# positions become visible in commit order and followers never skip a gap.
APPEND_LOCK_KEY = 0x6272757368  # "brush"
_MAX_CACHED_HEADS = 50_000
NOTIFY_CHANNEL = "brushwork_events"
# The append path's hottest statement, sent to sqlite3's executemany as is:
# SQLAlchemy's per-row parameter processing cost more than SQLite itself.
_SQLITE_INSERT = (
    "INSERT INTO events (event_id, stream_id, version, type, schema_version, payload, "
    "recorded_at) VALUES (?, ?, ?, ?, ?, ?, ?)"
)
_APPEND_RETRIES = 3


class SqlEventStore:
    """Event store over one events table, with inline projections in the same transaction."""

    def __init__(
        self,
        engine: AsyncEngine,
        projections: Sequence[InlineProjection] = (),
        faults: FaultInjector | None = None,
        sync_engine: Engine | None = None,
    ) -> None:
        self.engine = engine
        self.projections = list(projections)
        self.faults = faults or FaultInjector()
        self._is_postgres = engine.dialect.name == "postgresql"
        self._heads: dict[str, int] = {}
        self._insert = sa.insert(events).returning(
            events.c.position, sort_by_parameter_order=True
        )
        # On SQLite, appends run in one worker thread on a synchronous connection:
        # aiosqlite costs several thread hops per statement, this costs one per
        # transaction (see docs/adr/0006-sqlite-append-thread.md).
        self._sync_engine = sync_engine
        self._append_thread = WorkerThreads("brushwork-append")

    async def close(self) -> None:
        await self.engine.dispose()
        if self._sync_engine is not None:
            self._append_thread.close()
            self._sync_engine.dispose()

    async def append_batch(self, requests: Sequence[AppendRequest]) -> list[list[RecordedEvent]]:
        if not any(request.events for request in requests):
            return [[] for _ in requests]
        for attempt in range(_APPEND_RETRIES):
            try:
                return await self._append_once(requests)
            except IntegrityError as exc:
                stored = await self._stored_by_event_ids(requests)
                if stored is not None:
                    # An earlier commit of these very events succeeded although
                    # its caller saw a failure: return what is stored.
                    return stored
                for request in requests:
                    self._heads.pop(request.stream_id, None)
                explicit = [r for r in requests if r.expected_version is not None]
                if explicit or attempt == _APPEND_RETRIES - 1:
                    conflict = explicit[0] if explicit else requests[0]
                    version = (conflict.expected_version or 0) + 1
                    raise ConcurrencyError(conflict.stream_id, version) from exc
            except ConcurrencyError:
                # The expected_version check failed. Either an earlier commit of
                # these very events happened (the ambiguous case), or the check
                # used a head cached before another process appended. In the
                # second case, retry once with heads read from the database.
                stored = await self._stored_by_event_ids(requests)
                if stored is not None:
                    return stored
                # A stream may appear in several requests of one batch.
                stale = {r.stream_id for r in requests if r.stream_id in self._heads}
                for stream_id in stale:
                    self._heads.pop(stream_id, None)
                if not stale or attempt == _APPEND_RETRIES - 1:
                    raise
            except DBAPIError as exc:
                stored = await self._stored_by_event_ids_safe(requests)
                if stored is not None:
                    return stored
                error = StorageError(f"appending events failed: {exc.orig!r}")
                # A dropped connection is worth retrying; a bad statement is not.
                error.retryable = bool(getattr(exc, "connection_invalidated", False))
                raise error from exc
        raise AssertionError("unreachable")

    async def _append_once(self, requests: Sequence[AppendRequest]) -> list[list[RecordedEvent]]:
        if self._sync_engine is not None:
            records, heads = await self._append_thread.call(self._append_in_thread, requests)
        else:
            async with self.engine.begin() as conn:
                records, heads = await conn.run_sync(self._append_body, requests)
        self.faults.after_commit_point()
        self._remember_heads(heads)
        return records

    def _append_in_thread(self, requests: Sequence[AppendRequest]
                          ) -> tuple[list[list[RecordedEvent]], dict[str, int]]:
        assert self._sync_engine is not None
        with self._sync_engine.begin() as conn:
            return self._append_body(conn, requests)

    def _append_body(self, conn: Connection, requests: Sequence[AppendRequest]
                     ) -> tuple[list[list[RecordedEvent]], dict[str, int]]:
        """Insert the events, apply the inline projections; the caller's transaction commits."""
        now = time.time()
        if self._is_postgres:
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": APPEND_LOCK_KEY})
        rows: list[dict[str, Any]] = []
        heads: dict[str, int] = {}
        for request in requests:
            if not request.events:
                continue
            if request.precondition is not None:
                request.precondition(conn)
            head = heads.get(request.stream_id)
            if head is None:
                if request.expected_version == 0 and request.stream_id not in self._heads:
                    # A new stream: the unique (stream, version) constraint rejects
                    # the insert if the stream exists, so no lookup is needed.
                    head = 0
                else:
                    head = self._head(conn, request.stream_id)
            if request.expected_version is not None and request.expected_version != head:
                raise ConcurrencyError(request.stream_id, request.expected_version + 1)
            for offset, (event, event_id) in enumerate(
                zip(request.events, request.event_ids, strict=True), start=1
            ):
                rows.append({
                    "event_id": event_id,
                    "stream_id": request.stream_id,
                    "version": head + offset,
                    "type": type(event).__name__,
                    "schema_version": event.schema_version,
                    "payload": encode_event(event),
                    "recorded_at": now,
                })
            heads[request.stream_id] = head + len(request.events)
        positions = self._insert_rows(conn, rows)
        records = self._records(requests, rows, positions)
        flat = [record for group in records for record in group]
        for projection in self.projections:
            projection.apply(conn, flat, checkpoint=False)
        if self.projections:
            write_checkpoints(conn, [p.name for p in self.projections], flat[-1].position)
        if self._is_postgres:
            # Delivered at commit: wakes followers in every process (LISTEN/NOTIFY).
            conn.execute(sa.text("SELECT pg_notify(:channel, :position)"),
                         {"channel": NOTIFY_CHANNEL, "position": str(flat[-1].position)})
        self.faults.before_commit()
        return records, heads

    def _insert_rows(self, conn: Connection, rows: list[dict[str, Any]]) -> list[int]:
        """Insert the rows and return their positions, in order."""
        if self._is_postgres:
            return [row[0] for row in conn.execute(self._insert, rows)]
        # SQLite: one writer holds the database lock for the whole transaction,
        # so AUTOINCREMENT gives the rows consecutive rowids ending at
        # last_insert_rowid(). A plain executemany is several times cheaper than
        # INSERT ... RETURNING, which SQLAlchemy sends one row at a time here.
        params = [(r["event_id"], r["stream_id"], r["version"], r["type"], r["schema_version"],
                   r["payload"], r["recorded_at"]) for r in rows]
        if conn.dialect.driver == "pysqlite":
            # The append thread's connection: the driver's cursor directly.
            with driver_cursor(conn, _SQLITE_INSERT) as cursor:
                cursor.executemany(_SQLITE_INSERT, params)
                last = cursor.execute("SELECT last_insert_rowid()").fetchone()[0]
        else:
            conn.exec_driver_sql(_SQLITE_INSERT, params)
            last = conn.exec_driver_sql("SELECT last_insert_rowid()").scalar()
        assert isinstance(last, int)
        return list(range(last - len(rows) + 1, last + 1))

    @staticmethod
    def _records(
        requests: Sequence[AppendRequest], rows: list[dict[str, Any]], positions: list[int]
    ) -> list[list[RecordedEvent]]:
        records: list[list[RecordedEvent]] = []
        index = 0
        for request in requests:
            group = []
            for event in request.events:
                row = rows[index]
                group.append(RecordedEvent(
                    positions[index], row["stream_id"], row["version"], event,
                    row["recorded_at"], row["event_id"],
                ))
                index += 1
            records.append(group)
        return records

    def _head(self, conn: Connection, stream_id: str) -> int:
        cached = self._heads.get(stream_id)
        if cached is not None:
            return cached
        result = conn.execute(
            sa.select(sa.func.max(events.c.version)).where(events.c.stream_id == stream_id)
        )
        return result.scalar() or 0

    def _remember_heads(self, heads: dict[str, int]) -> None:
        if len(self._heads) > _MAX_CACHED_HEADS:
            self._heads.clear()
        self._heads.update(heads)

    async def _stored_by_event_ids_safe(
        self, requests: Sequence[AppendRequest]
    ) -> list[list[RecordedEvent]] | None:
        try:
            return await self._stored_by_event_ids(requests)
        except DBAPIError:
            return None

    async def _stored_by_event_ids(
        self, requests: Sequence[AppendRequest]
    ) -> list[list[RecordedEvent]] | None:
        """Return the stored records if every event id of the batch is already stored."""
        wanted = [event_id for request in requests for event_id in request.event_ids]
        async with self.engine.connect() as conn:
            result = await conn.execute(
                sa.select(events).where(events.c.event_id.in_(wanted))
            )
            by_id = {row.event_id: self._decode(row) for row in result}
        if len(by_id) != len(wanted):
            return None
        return [[by_id[event_id] for event_id in request.event_ids] for request in requests]

    @staticmethod
    def _decode(row: Any) -> RecordedEvent:
        return RecordedEvent(
            row.position, row.stream_id, row.version,
            decode_event(row.type, row.schema_version, row.payload),
            row.recorded_at, row.event_id,
        )

    def read_all_sync(self, conn: Connection, after: int, limit: int) -> list[RecordedEvent]:
        query = (
            sa.select(events).where(events.c.position > after)
            .order_by(events.c.position).limit(limit)
        )
        return [self._decode(row) for row in conn.execute(query)]

    async def read_all(self, after: int = 0, limit: int = 1000) -> list[RecordedEvent]:
        query = (
            sa.select(events).where(events.c.position > after)
            .order_by(events.c.position).limit(limit)
        )
        async with self.engine.connect() as conn:
            result = await conn.execute(query)
            return [self._decode(row) for row in result]

    async def read_stream(self, stream_id: str, after_version: int = 0) -> list[RecordedEvent]:
        query = (
            sa.select(events)
            .where(events.c.stream_id == stream_id, events.c.version > after_version)
            .order_by(events.c.version)
        )
        async with self.engine.connect() as conn:
            result = await conn.execute(query)
            return [self._decode(row) for row in result]

    async def stream_exists(self, stream_id: str) -> bool:
        query = sa.select(events.c.position).where(events.c.stream_id == stream_id).limit(1)
        async with self.engine.connect() as conn:
            return (await conn.execute(query)).first() is not None

    async def max_position(self) -> int:
        async with self.engine.connect() as conn:
            result = await conn.execute(sa.select(sa.func.max(events.c.position)))
            return result.scalar() or 0
