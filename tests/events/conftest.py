"""Event store backends for the contract suite: each entry opens an empty, migrated log.

Adding a backend is one entry in ``BACKENDS``: an async context manager that
yields a ``Backend`` (an engine whose schema is at the head revision, and a
function that builds stores on it the way brushwork's processes do).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from sqlalchemy.engine import Engine
from sqlalchemy.ext.asyncio import AsyncEngine

from brushwork import db
from brushwork.events.database import create_engine, create_sqlite_writer_engine, sqlite_url
from brushwork.events.sql import SqlEventStore

POSTGRES_URL = os.environ.get(
    "BRUSHWORK_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test")


@dataclass
class Backend:
    engine: AsyncEngine
    url: str
    append_thread: bool = False
    _sync_engines: list[Engine] = field(default_factory=list)

    def store(self, projections: Sequence[Any] = ()) -> SqlEventStore:
        """A store on this database; each one has its own stream-head cache, like a process."""
        sync_engine = None
        if self.append_thread:
            sync_engine = create_sqlite_writer_engine(self.url)
            self._sync_engines.append(sync_engine)
        return SqlEventStore(self.engine, projections, sync_engine=sync_engine)

    async def close(self) -> None:
        for sync_engine in self._sync_engines:
            sync_engine.dispose()
        await self.engine.dispose()


def sqlite_backend(*, append_thread: bool) -> Callable[[Path], AbstractAsyncContextManager]:
    @asynccontextmanager
    async def open_backend(tmp_path: Path) -> AsyncIterator[Backend]:
        url = sqlite_url(tmp_path / f"store-{uuid.uuid4().hex[:8]}.db")
        backend = Backend(create_engine(url), url, append_thread)
        try:
            await db.upgrade(backend.engine)
            yield backend
        finally:
            await backend.close()

    return open_backend


@asynccontextmanager
async def postgres_backend(tmp_path: Path) -> AsyncIterator[Backend]:
    """A fresh schema in the PostgreSQL test database, dropped afterwards."""
    import asyncpg

    schema = f"contract_{uuid.uuid4().hex[:12]}"
    plain_url = POSTGRES_URL.replace("postgresql+asyncpg://", "postgresql://")
    try:
        admin = await asyncpg.connect(plain_url, timeout=3)
    except (OSError, asyncpg.PostgresError) as error:
        pytest.skip(f"PostgreSQL at {POSTGRES_URL} is unreachable ({error!r}); "
                    "set BRUSHWORK_TEST_POSTGRES_URL to run these tests")
    try:
        await admin.execute(f'CREATE SCHEMA "{schema}"')
        engine = create_engine(
            POSTGRES_URL, connect_args={"server_settings": {"search_path": schema}})
        backend = Backend(engine, POSTGRES_URL)
        try:
            await db.upgrade(engine)
            yield backend
        finally:
            await backend.close()
    finally:
        await admin.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        await admin.close()


BACKENDS = [
    # The append thread with a synchronous connection, as `serve` and `run` use it.
    pytest.param(sqlite_backend(append_thread=True), id="sqlite"),
    # aiosqlite only, as the one-shot CLI commands (resume, rebuild) use it.
    pytest.param(sqlite_backend(append_thread=False), id="sqlite-async"),
    pytest.param(postgres_backend, id="postgresql", marks=pytest.mark.postgres),
]


@pytest.fixture(params=BACKENDS)
def open_backend(request: pytest.FixtureRequest) -> Callable[[Path],
                                                             AbstractAsyncContextManager]:
    return request.param


@pytest_asyncio.fixture
async def backend(open_backend: Callable[[Path], AbstractAsyncContextManager],
                  tmp_path: Path) -> AsyncIterator[Backend]:
    async with open_backend(tmp_path) as opened:
        yield opened
