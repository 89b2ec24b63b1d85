"""Shared machinery of SQL projections: JSON columns, checkpoints and batched writes."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import msgspec
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ..events.batch_sql import execute_many
from ..events.checkpoints import write_checkpoint
from ..events.store import RecordedEvent

_encoder = msgspec.json.Encoder()

# extra_data keys that carry credentials; they never reach a projection.
SENSITIVE_EXTRA_KEYS = frozenset({"auth_token_comfy_org", "api_key_comfy_org"})


def dumps(value: Any) -> str:
    return _encoder.encode(value).decode()


def loads(text: str | None) -> Any:
    return None if text is None else msgspec.json.decode(text)


def public_extra_data(extra_data: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in extra_data.items() if k not in SENSITIVE_EXTRA_KEYS}


class BatchedProjection:
    """A projection that folds a batch of events into few statements, then writes its checkpoint.

    Subclasses fold events into ``self.inserts`` (new rows by key) and
    ``self.updates`` (changed fields of rows stored earlier, by key), and
    call ``flush`` before an event that touches many rows at once.
    """

    name: str

    def apply(self, conn: Connection, events: Sequence[RecordedEvent], *,
              checkpoint: bool = True) -> None:
        """Fold a batch; with ``checkpoint=False`` the caller writes the checkpoint itself
        (the event store writes every inline projection's checkpoint in one statement)."""
        if not events:
            return
        self.reset()
        for record in events:
            self.fold(conn, record)
        self.flush(conn)
        if checkpoint:
            write_checkpoint(conn, self.name, events[-1].position)

    def reset(self) -> None:
        raise NotImplementedError

    def fold(self, conn: Connection, record: RecordedEvent) -> None:
        raise NotImplementedError

    def flush(self, conn: Connection) -> None:
        raise NotImplementedError


def execute_updates(
    conn: Connection, table: sa.Table, keys: Sequence[str],
    updates: dict[tuple[Any, ...], dict[str, Any]],
) -> None:
    """Run keyed UPDATEs, grouping rows that change the same columns into one executemany."""
    groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for key, fields in updates.items():
        columns = tuple(sorted(fields))
        params = {f"k_{name}": value for name, value in zip(keys, key, strict=True)}
        params.update({f"v_{column}": fields[column] for column in columns})
        groups.setdefault(columns, []).append(params)
    for columns, rows in groups.items():
        execute_many(conn, _update_statement(table, tuple(keys), columns), rows)


@functools.lru_cache(maxsize=256)
def _update_statement(table: sa.Table, keys: tuple[str, ...],
                      columns: tuple[str, ...]) -> sa.Update:
    return (
        table.update()
        .where(*[table.c[name] == sa.bindparam(f"k_{name}") for name in keys])
        .values({column: sa.bindparam(f"v_{column}") for column in columns})
    )

