"""Commit spacing: a prompt backlog batches awaited appends, and no backlog means no wait."""

from __future__ import annotations

import time
import uuid

import anyio
import pytest

from brushwork.events import Broadcaster, EventWriter
from tests.events.test_writer_linger import CountingStore, mark

pytestmark = pytest.mark.asyncio


async def append_staggered(writer: EventWriter, prompt_id: str, count: int, gap: float) -> None:
    """Await ``count`` appends from separate tasks that start ``gap`` seconds apart."""

    async def one(value: int) -> None:
        await writer.append(prompt_id, mark(prompt_id, value))

    async with anyio.create_task_group() as tg:
        for value in range(count):
            tg.start_soon(one, value)
            await anyio.sleep(gap)


async def run(store, backlog, body) -> None:
    writer = EventWriter(store, Broadcaster(), min_interval=0.5)
    writer.backlog = backlog
    async with anyio.create_task_group() as tg:
        tg.start_soon(writer.run)
        await anyio.sleep(0)
        await body(writer)
        await writer.close()


async def test_backlog_batches_awaited_appends(backend):
    store = CountingStore(backend.store())
    prompt_id = str(uuid.uuid4())

    async def body(writer: EventWriter) -> None:
        await writer.append(prompt_id, mark(prompt_id, -1))  # the commit that starts the spacing
        await append_staggered(writer, prompt_id, 5, gap=0.02)

    await run(store, lambda: True, body)
    # 5 appends within 0.1 s of a commit wait for the 0.5 s spacing and share one commit.
    assert store.batches == [1, 5]
    values = [r.event.value for r in await backend.store().read_stream(prompt_id)]
    assert values == [-1, 0, 1, 2, 3, 4]


async def test_no_backlog_commits_at_once(backend):
    store = CountingStore(backend.store())
    prompt_id = str(uuid.uuid4())
    durations: list[float] = []

    async def body(writer: EventWriter) -> None:
        for value in range(3):
            began = time.monotonic()
            await writer.append(prompt_id, mark(prompt_id, value))
            durations.append(time.monotonic() - began)

    await run(store, lambda: False, body)
    assert store.batches == [1, 1, 1]
    # Each append is committed without waiting out the 0.5 s spacing.
    assert max(durations) < 0.25


async def test_unset_backlog_commits_at_once(backend):
    store = CountingStore(backend.store())
    prompt_id = str(uuid.uuid4())

    async def body(writer: EventWriter) -> None:
        began = time.monotonic()
        for value in range(3):
            await writer.append(prompt_id, mark(prompt_id, value))
        assert time.monotonic() - began < 0.25

    await run(store, None, body)
    assert store.batches == [1, 1, 1]
