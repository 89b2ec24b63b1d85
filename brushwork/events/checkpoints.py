"""Projection checkpoints: the last log position each projection has applied."""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from .batch_sql import execute_many
from .schema import projection_checkpoints


def read_checkpoint(conn: Connection, name: str) -> int:
    result = conn.execute(
        sa.select(projection_checkpoints.c.position).where(projection_checkpoints.c.name == name)
    )
    return result.scalar() or 0


def write_checkpoints(conn: Connection, names: Sequence[str], position: int) -> None:
    """Move several checkpoints to one position with a single UPDATE (inserting new ones)."""
    updated = execute_many(conn, _update_statement(tuple(names)), [{"position": position}])
    if updated != len(names):
        for name in names:
            write_checkpoint(conn, name, position)


@cache
def _update_statement(names: tuple[str, ...]) -> sa.Update:
    # One bound parameter per name, fixed per set of names: an expanding IN
    # would make SQLAlchemy compile the statement again on every append.
    name_params: list[sa.BindParameter[str]] = [
        sa.bindparam(f"name{i}", value=name) for i, name in enumerate(names)
    ]
    return (
        projection_checkpoints.update()
        .where(projection_checkpoints.c.name.in_(name_params))
        .values(position=sa.bindparam("position"))
    )


def write_checkpoint(conn: Connection, name: str, position: int) -> None:
    result = conn.execute(
        projection_checkpoints.update()
        .where(projection_checkpoints.c.name == name)
        .values(position=position)
    )
    if result.rowcount == 0:
        conn.execute(projection_checkpoints.insert().values(name=name, position=position))


__all__ = ["read_checkpoint", "write_checkpoint", "write_checkpoints"]
