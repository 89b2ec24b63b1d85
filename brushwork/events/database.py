"""Async SQLAlchemy engines for the event log: SQLite (embedded default) or PostgreSQL."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

SQLITE_PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    # NORMAL keeps every committed transaction across a process crash
    # (kill -9); only a power loss may drop the last commits before a
    # checkpoint. Set BRUSHWORK_SQLITE_SYNCHRONOUS=FULL to fsync every commit.
    "PRAGMA synchronous={synchronous}",
    "PRAGMA busy_timeout=10000",
    "PRAGMA foreign_keys=ON",
)


def sqlite_url(path: Path) -> str:
    return f"sqlite+aiosqlite:///{path}"


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


def create_engine(url: str, *, sqlite_synchronous: str = "NORMAL", **kwargs: Any) -> AsyncEngine:
    """Create an engine; SQLite connections get WAL mode and a busy timeout."""
    if is_sqlite(url):
        engine = create_async_engine(url, **kwargs)
        synchronous = sqlite_synchronous.upper()
        if synchronous not in {"OFF", "NORMAL", "FULL", "EXTRA"}:
            raise ValueError(
                f"invalid SQLite synchronous mode {sqlite_synchronous!r}; "
                "use OFF, NORMAL, FULL or EXTRA"
            )

        @event.listens_for(engine.sync_engine, "connect")
        def _set_pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            for pragma in SQLITE_PRAGMAS:
                cursor.execute(pragma.format(synchronous=synchronous))
            cursor.close()

        return engine
    kwargs.setdefault("pool_size", 10)
    kwargs.setdefault("max_overflow", 10)
    kwargs.setdefault("pool_pre_ping", True)
    return create_async_engine(url, **kwargs)
