"""Catch-up and rebuild of the projections from the log."""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import structlog
from sqlalchemy.ext.asyncio import AsyncEngine

from ..events.schema import events as events_table
from ..events.schema import projection_checkpoints
from ..events.store import EventStore, InlineProjection
from .audit import AuditProjection
from ..events.checkpoints import read_checkpoint
from .prompts import PromptsProjection
from .schema import PROJECTION_TABLES

log = structlog.get_logger(__name__)

PAGE = 5000


def default_projections() -> list[InlineProjection]:
    return [PromptsProjection(), AuditProjection()]


async def catch_up(engine: AsyncEngine, store: EventStore,
                   projections: Sequence[InlineProjection]) -> int:
    """Apply every event after each projection's checkpoint; return how many were applied."""
    applied = 0
    for projection in projections:
        async with engine.connect() as conn:
            position = await conn.run_sync(read_checkpoint, projection.name)
        while True:
            batch = await store.read_all(after=position, limit=PAGE)
            if not batch:
                break
            async with engine.begin() as conn:
                await conn.run_sync(projection.apply, batch)
            position = batch[-1].position
            applied += len(batch)
    if applied:
        log.info("projections_caught_up", events=applied)
    return applied


async def rebuild(engine: AsyncEngine, store: EventStore,
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
