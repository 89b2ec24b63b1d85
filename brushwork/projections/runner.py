"""Catch-up and rebuild of the projections from the log."""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import structlog
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from ..events.checkpoints import read_checkpoint
from ..events.schema import events as events_table
from ..events.schema import projection_checkpoints
from ..events.sql import APPEND_LOCK_KEY, SqlEventStore
from ..events.store import InlineProjection
from .audit import AuditProjection
from .prompts import PromptsProjection
from .schema import PROJECTION_TABLES

log = structlog.get_logger(__name__)

PAGE = 5000


def default_projections(*, leases: bool = False) -> list[InlineProjection]:
    """The inline projections; ``leases`` adds the worker queue (PostgreSQL deployments)."""
    projections: list[InlineProjection] = [PromptsProjection(), AuditProjection()]
    if leases:
        from .leases import LeasesProjection

        projections.append(LeasesProjection())
    return projections


async def catch_up(engine: AsyncEngine, store: SqlEventStore,
                   projections: Sequence[InlineProjection]) -> int:
    """Apply every event after each projection's checkpoint; return how many were applied.

    Each page is read and applied in one transaction that holds the append
    lock on PostgreSQL, so processes starting together never apply an event
    twice, and no append slips between the read and the checkpoint.
    """
    applied = 0
    for projection in projections:
        while True:
            async with engine.begin() as conn:
                count = await conn.run_sync(_catch_up_page, store, projection)
            if count == 0:
                break
            applied += count
    if applied:
        log.info("projections_caught_up", events=applied)
    return applied


def _catch_up_page(conn: Connection, store: SqlEventStore,
                   projection: InlineProjection) -> int:
    if conn.dialect.name == "postgresql":
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": APPEND_LOCK_KEY})
    position = read_checkpoint(conn, projection.name)
    batch = store.read_all_sync(conn, position, PAGE)
    if batch:
        projection.apply(conn, batch)
    return len(batch)


async def rebuild(engine: AsyncEngine, store: SqlEventStore,
                  projections: Sequence[InlineProjection]) -> int:
    """Drop every projection row and checkpoint, then fold the whole log again."""
    async with engine.begin() as conn:
        for projection in projections:
            for table in PROJECTION_TABLES.get(projection.name, ()):
                await conn.execute(table.delete())
            await conn.execute(projection_checkpoints.delete().where(
                projection_checkpoints.c.name == projection.name))
    return await catch_up(engine, store, projections)


async def projection_lag(engine: AsyncEngine) -> dict[str, int]:
    async with engine.connect() as conn:
        head = (await conn.execute(sa.select(sa.func.max(events_table.c.position)))).scalar() or 0
        rows = await conn.execute(sa.select(projection_checkpoints))
        return {row.name: head - row.position for row in rows}
