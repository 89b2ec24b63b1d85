"""The writer's linger: appends that no caller awaits share commits, and awaiting one ends it.

Each test counts the store's transactions, so it fails if the writer
commits each queued append on its own or keeps an awaited one back.
"""

from __future__ import annotations

import uuid

import anyio
import pytest

from brushwork.events import Broadcaster, EventWriter
from brushwork.events.types import NodeProgress

pytestmark = pytest.mark.asyncio


class CountingStore:
    """Wraps a store and records the size of each committed batch."""

    def __init__(self, store) -> None:
        self.store = store
        self.batches: list[int] = []

    async def append_batch(self, requests):
        records = await self.store.append_batch(requests)
        self.batches.append(sum(len(r.events) for r in requests))
        return records


def mark(prompt_id: str, value: int) -> list[NodeProgress]:
    return [NodeProgress(prompt_id=prompt_id, node_id="1", value=value, max=100)]


async def run_writer(store, linger: float, body) -> EventWriter:
    writer = EventWriter(store, Broadcaster(), linger=linger)
    async with anyio.create_task_group() as tg:
        tg.start_soon(writer.run)
        await anyio.sleep(0)
        await body(writer)
        await writer.close()
    return writer


async def test_queued_appends_share_one_commit(backend):
    store = CountingStore(backend.store())
    prompt_id = str(uuid.uuid4())

    async def body(writer: EventWriter) -> None:
        for value in range(20):
            writer.append_nowait(prompt_id, mark(prompt_id, value))
            await anyio.sleep(0.001)  # the node work between two events
        await writer.flush()

    await run_writer(store, 5.0, body)
    assert store.batches == [20]
    assert [r.event.value for r in await backend.store().read_stream(prompt_id)] == list(range(20))


async def test_awaited_append_ends_the_linger(backend):
    store = CountingStore(backend.store())
    prompt_id = str(uuid.uuid4())

    async def body(writer: EventWriter) -> None:
        writer.append_nowait(prompt_id, mark(prompt_id, 0))
        # With an hour-long linger, only the awaited append can bring this commit forward.
        with anyio.fail_after(10):
            await writer.append(prompt_id, mark(prompt_id, 1))

    await run_writer(store, 3600.0, body)
    assert store.batches == [2]


async def test_urgent_append_ends_the_linger(backend):
    store = CountingStore(backend.store())
    prompt_id = str(uuid.uuid4())
    committed = anyio.Event()

    async def body(writer: EventWriter) -> None:
        subscription = writer.broadcaster.subscribe()
        writer.append_nowait(prompt_id, mark(prompt_id, 0))
        writer.append_nowait(prompt_id, mark(prompt_id, 1), urgent=True)
        with anyio.fail_after(10):
            while len(await subscription.next_batch()) < 2:
                pass
        committed.set()

    await run_writer(store, 3600.0, body)
    assert committed.is_set()
    assert store.batches == [2]


async def test_lingering_appends_commit_without_a_flush(backend):
    store = CountingStore(backend.store())
    prompt_id = str(uuid.uuid4())

    async def body(writer: EventWriter) -> None:
        subscription = writer.broadcaster.subscribe()
        writer.append_nowait(prompt_id, mark(prompt_id, 0))
        writer.append_nowait(prompt_id, mark(prompt_id, 1))
        with anyio.fail_after(10):
            seen = 0
            while seen < 2:
                seen += len(await subscription.next_batch())

    await run_writer(store, 0.05, body)
    assert store.batches == [2]


async def test_no_linger_commits_at_once(backend):
    store = CountingStore(backend.store())
    prompt_id = str(uuid.uuid4())

    async def body(writer: EventWriter) -> None:
        for value in range(3):
            writer.append_nowait(prompt_id, mark(prompt_id, value))
            await writer.flush()

    await run_writer(store, 0.0, body)
    assert store.batches == [1, 1, 1]
