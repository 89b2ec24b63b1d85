"""Throwaway PostgreSQL databases on 127.0.0.1:5432 for tests (skipped when unreachable)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from typing import Any

import anyio
import asyncpg
import pytest

HOST = os.environ.get("BRUSHWORK_TEST_PG_HOST", "127.0.0.1")
PORT = int(os.environ.get("BRUSHWORK_TEST_PG_PORT", "5432"))
USER = os.environ.get("BRUSHWORK_TEST_PG_USER", "postgres")


async def _admin(statement: str) -> None:
    conn = await asyncpg.connect(host=HOST, port=PORT, user=USER, database="postgres",
                                 timeout=5)
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


def reachable() -> str | None:
    """Return None when PostgreSQL answers, else the reason it does not."""
    try:
        anyio.run(_admin, "SELECT 1")
    except (OSError, asyncpg.PostgresError, TimeoutError) as error:
        return f"PostgreSQL at {HOST}:{PORT} is not reachable as {USER!r}: {error}"
    return None


def fresh_database() -> Iterator[str]:
    """Create a uniquely named database, yield its SQLAlchemy URL, drop it afterwards."""
    reason = reachable()
    if reason is not None:
        pytest.skip(reason)
    name = f"brushwork_test_{uuid.uuid4().hex[:12]}"
    anyio.run(_admin, f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql+asyncpg://{USER}@{HOST}:{PORT}/{name}"
    finally:
        # FORCE ends the remaining sessions and drops in one statement, so a
        # process that reconnects (a LISTEN retry) cannot slip in between.
        anyio.run(_admin, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def read_events(url: str) -> list[dict[str, Any]]:
    import json

    async def fetch() -> list[Any]:
        database = url.rsplit("/", 1)[1]
        conn = await asyncpg.connect(host=HOST, port=PORT, user=USER, database=database)
        try:
            return await conn.fetch(
                "SELECT position, stream_id, type, payload FROM events ORDER BY position")
        finally:
            await conn.close()

    rows = anyio.run(fetch)
    return [{"position": r["position"], "stream": r["stream_id"], "type": r["type"],
             **json.loads(bytes(r["payload"]))} for r in rows]
