"""Async SQLAlchemy engines for the event log: SQLite (embedded default) or PostgreSQL."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine, event
from sqlalchemy import create_engine as create_sync_engine
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import StaticPool

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


def _check_synchronous(value: str) -> str:
    synchronous = value.upper()
    if synchronous not in {"OFF", "NORMAL", "FULL", "EXTRA"}:
        raise ValueError(
            f"invalid SQLite synchronous mode {value!r}; use OFF, NORMAL, FULL or EXTRA"
        )
    return synchronous


def _add_pragmas(engine: Engine, synchronous: str) -> None:
    @event.listens_for(engine, "connect")
    def _set_pragmas(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        for pragma in SQLITE_PRAGMAS:
            cursor.execute(pragma.format(synchronous=synchronous))
        cursor.close()


def create_sqlite_writer_engine(url: str, *, sqlite_synchronous: str = "NORMAL") -> Engine:
    """A synchronous engine with one connection, for the store's append thread."""
    sync_url = url.replace("sqlite+aiosqlite://", "sqlite+pysqlite://", 1)
    engine = create_sync_engine(sync_url, poolclass=StaticPool,
                                connect_args={"check_same_thread": False})
    _add_pragmas(engine, _check_synchronous(sqlite_synchronous))
    return engine


def create_engine(url: str, *, sqlite_synchronous: str = "NORMAL", **kwargs: Any) -> AsyncEngine:
    """Create an engine; SQLite connections get WAL mode and a busy timeout."""
    if is_sqlite(url):
        engine = create_async_engine(url, **kwargs)
        _add_pragmas(engine.sync_engine, _check_synchronous(sqlite_synchronous))
        return engine
    kwargs.setdefault("pool_size", 10)
    kwargs.setdefault("max_overflow", 10)
    kwargs.setdefault("pool_pre_ping", True)
    return create_async_engine(url, **kwargs)
