"""The contract every event store backend passes (see ``BACKENDS`` in conftest.py)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from brushwork.errors import ConcurrencyError
from brushwork.events import AppendRequest, RecordedEvent, append
from brushwork.events.checkpoints import read_checkpoint
from brushwork.events.faults import InjectedFault
from brushwork.events.schema import events as events_table
from brushwork.events.sql import SqlEventStore
from brushwork.events.types import (
    EVENT_TYPES,
    ExecutionFailed,
    ExecutionInterrupted,
    ExecutionStarted,
    ExecutionSucceeded,
    HistoryCleared,
    InterruptRequested,
    NodeCached,
    NodeCompleted,
    NodeFailed,
    NodeProgress,
    NodeStarted,
    OutputItem,
    PromptDeleted,
    PromptQueued,
    PromptRejected,
    ProviderCallRecorded,
    ProviderJobAccepted,
    ResumeAttempted,
    ResumeRequested,
)

pytestmark = pytest.mark.asyncio


def stream() -> str:
    return str(uuid.uuid4())


def marks(prompt_id: str, count: int) -> list[NodeProgress]:
    return [NodeProgress(prompt_id=prompt_id, node_id="1", value=i, max=count)
            for i in range(count)]


class CheckpointProjection:
    """An inline projection with no rows: the store moves its checkpoint with each append."""

    name = "contract"

    def apply(self, conn: Any, events: Sequence[RecordedEvent], *,
              checkpoint: bool = True) -> None:
        pass


async def checkpoint(store: SqlEventStore) -> int:
    async with store.engine.connect() as conn:
        return await conn.run_sync(read_checkpoint, CheckpointProjection.name)


def one_of_each(prompt_id: str) -> list:
    """One instance of every event type, with non-default values in most fields."""
    samples = [
        PromptQueued(prompt_id=prompt_id, number=3.5, prompt={"1": {"class_type": "X",
                                                                    "inputs": {"a": 1}}},
                     extra_data={"k": [1, 2]}, outputs_to_execute=["1"], client_id="c",
                     principal="alice", node_errors={"2": {"errors": []}}),
        PromptRejected(prompt_id=prompt_id, error={"type": "bad"}, node_errors={},
                       client_id="c"),
        ExecutionStarted(prompt_id=prompt_id, attempt=2, worker_id="w", resumed=True,
                         skipped_nodes=["1"]),
        NodeCached(prompt_id=prompt_id, node_ids=["1", "2"], ui={"2": {"text": ["t"]}}),
        NodeStarted(prompt_id=prompt_id, node_id="3", class_type="X", attempt=2,
                    display_node="3", inputs={"a": ["1", 0]}),
        NodeProgress(prompt_id=prompt_id, node_id="3", value=0.5, max=1.0),
        NodeCompleted(prompt_id=prompt_id, node_id="3", class_type="X",
                      outputs=[[OutputItem("artifact", "IMAGE", "ab" * 32, {"dict": True}),
                                OutputItem("inline", "INT", None, 7)],
                               [OutputItem("transient", "MODEL")]],
                      ui={"images": []}, attempt=2, duration_s=0.25, cache_key="key"),
        NodeFailed(prompt_id=prompt_id, node_id="4", class_type="Y", exception_type="E",
                   exception_message="m", traceback=["t"], current_inputs={"a": ["1"]},
                   attempt=1, duration_s=0.1, retryable=True),
        ProviderJobAccepted(prompt_id=prompt_id, node_id="5", provider="p", job_id="j",
                            poll_url="http://127.0.0.1/j", attempt=1),
        ProviderCallRecorded(prompt_id=prompt_id, node_id="5", provider="p", method="POST",
                             endpoint="/v1/x", model="m", parameters={"n": 1}, status=200,
                             latency_s=0.5, attempts=2, cost=0.01, cost_unit="usd",
                             idempotency_key="k"),
        ExecutionSucceeded(prompt_id=prompt_id, executed=["1", "3"], duration_s=1.5),
        ExecutionFailed(prompt_id=prompt_id, node_id="4", node_type="Y", exception_type="E",
                        exception_message="m", traceback=["t"], executed=["1"],
                        current_inputs={"a": ["1"]}, current_outputs=["1"]),
        InterruptRequested(prompt_id=prompt_id),
        ExecutionInterrupted(prompt_id=prompt_id, node_id="3", node_type="X", executed=["1"]),
        ResumeAttempted(prompt_id=prompt_id, crash_count=2, worker_id="w"),
        ResumeRequested(prompt_id=prompt_id),
        PromptDeleted(prompt_id=prompt_id),
        HistoryCleared(),
    ]
    assert {type(event).__name__ for event in samples} == set(EVENT_TYPES)
    return samples


async def test_append_numbers_versions_and_positions(backend):
    store = backend.store()
    prompt_id = stream()
    first = await append(store, prompt_id, marks(prompt_id, 3))
    second = await append(store, prompt_id, marks(prompt_id, 2))
    records = first + second
    assert [r.version for r in records] == [1, 2, 3, 4, 5]
    positions = [r.position for r in records]
    assert positions == sorted(positions)
    assert len(set(positions)) == 5
    assert all(r.stream_id == prompt_id for r in records)


async def test_round_trip_of_every_event_type(backend):
    store = backend.store()
    prompt_id = stream()
    written = one_of_each(prompt_id)
    records = await append(store, prompt_id, written)
    read = await store.read_stream(prompt_id)
    assert [r.event for r in read] == written
    assert [(r.position, r.event_id, r.recorded_at) for r in read] == [
        (r.position, r.event_id, r.recorded_at) for r in records]


async def test_read_stream_after_version(backend):
    store = backend.store()
    prompt_id, other = stream(), stream()
    await append(store, prompt_id, marks(prompt_id, 4))
    await append(store, other, marks(other, 2))
    tail = await store.read_stream(prompt_id, after_version=2)
    assert [r.version for r in tail] == [3, 4]
    assert [r.event.value for r in tail] == [2, 3]
    assert await store.read_stream(stream()) == []


async def test_read_all_pages_in_position_order(backend):
    store = backend.store()
    streams = [stream() for _ in range(3)]
    for round_ in range(3):
        for prompt_id in streams:
            await append(store, prompt_id, marks(prompt_id, round_ + 1))
    everything = await store.read_all(after=0, limit=1000)
    assert len(everything) == 3 * (1 + 2 + 3)
    pages: list[RecordedEvent] = []
    position = 0
    while page := await store.read_all(after=position, limit=4):
        assert len(page) <= 4
        pages.extend(page)
        position = page[-1].position
    assert [r.event_id for r in pages] == [r.event_id for r in everything]
    assert [r.position for r in everything] == sorted(r.position for r in everything)


async def test_max_position(backend):
    store = backend.store()
    assert await store.max_position() == 0
    prompt_id = stream()
    records = await append(store, prompt_id, marks(prompt_id, 3))
    assert await store.max_position() == records[-1].position


async def test_empty_append_writes_nothing(backend):
    store = backend.store()
    assert await store.append_batch([AppendRequest(stream(), [])]) == [[]]
    assert await store.max_position() == 0


async def test_new_stream_conflict_raises(backend):
    store = backend.store()
    prompt_id = stream()
    await append(store, prompt_id, marks(prompt_id, 1), expected_version=0)
    with pytest.raises(ConcurrencyError) as raised:
        await append(store, prompt_id, marks(prompt_id, 1), expected_version=0)
    assert raised.value.stream_id == prompt_id
    assert raised.value.version == 1
    assert len(await store.read_stream(prompt_id)) == 1


async def test_stale_expected_version_raises(backend):
    store = backend.store()
    prompt_id = stream()
    await append(store, prompt_id, marks(prompt_id, 2), expected_version=0)
    await append(store, prompt_id, marks(prompt_id, 1), expected_version=2)
    with pytest.raises(ConcurrencyError):
        await append(store, prompt_id, marks(prompt_id, 1), expected_version=2)
    assert [r.version for r in await store.read_stream(prompt_id)] == [1, 2, 3]


async def test_conflict_seen_by_second_writer(backend):
    """Two stores on one database (two processes): the second's stale version is rejected."""
    first, second = backend.store(), backend.store()
    prompt_id = stream()
    await append(first, prompt_id, marks(prompt_id, 1), expected_version=0)
    with pytest.raises(ConcurrencyError):
        await append(second, prompt_id, marks(prompt_id, 1), expected_version=0)


async def test_stale_head_cache_appends_at_end(backend):
    """A store whose cached stream head is stale retries at the true end of the stream."""
    first, second = backend.store(), backend.store()
    prompt_id = stream()
    await append(first, prompt_id, marks(prompt_id, 1))
    await append(second, prompt_id, marks(prompt_id, 1))
    records = await append(first, prompt_id, marks(prompt_id, 1))
    assert records[0].version == 3
    assert [r.version for r in await first.read_stream(prompt_id)] == [1, 2, 3]


async def test_stream_version_is_unique(backend):
    store = backend.store()
    prompt_id = stream()
    (record,) = await append(store, prompt_id, marks(prompt_id, 1))
    duplicate = {"event_id": uuid.uuid4().hex, "stream_id": prompt_id, "version": 1,
                 "type": "NodeProgress", "schema_version": 1, "payload": b"{}",
                 "recorded_at": record.recorded_at}
    with pytest.raises(IntegrityError):
        async with backend.engine.begin() as conn:
            await conn.execute(sa.insert(events_table), [duplicate])


async def test_batch_is_all_or_nothing(backend):
    store = backend.store([CheckpointProjection()])
    existing, fresh = stream(), stream()
    await append(store, existing, marks(existing, 1))
    before = await store.max_position()
    with pytest.raises(ConcurrencyError):
        await store.append_batch([
            AppendRequest(fresh, marks(fresh, 2)),
            AppendRequest(existing, marks(existing, 1), expected_version=0),
        ])
    assert await store.read_stream(fresh) == []
    assert await store.max_position() == before
    assert await checkpoint(store) == before


async def test_failed_commit_stores_nothing(backend):
    store = backend.store([CheckpointProjection()])
    first, second = stream(), stream()
    store.faults.fail_before_commit()
    with pytest.raises(InjectedFault):
        await store.append_batch([AppendRequest(first, marks(first, 2)),
                                  AppendRequest(second, marks(second, 1))])
    assert await store.max_position() == 0
    assert await checkpoint(store) == 0
    records = await append(store, first, marks(first, 1), expected_version=0)
    assert records[0].version == 1


async def test_projection_commits_with_events(backend):
    store = backend.store([CheckpointProjection()])
    prompt_id = stream()
    records = await append(store, prompt_id, marks(prompt_id, 3))
    assert await checkpoint(store) == records[-1].position


async def test_retried_append_is_idempotent(backend):
    store = backend.store()
    prompt_id = stream()
    request = AppendRequest(prompt_id, marks(prompt_id, 2))
    (first,) = await store.append_batch([request])
    (again,) = await store.append_batch([request])
    assert again == first
    assert len(await store.read_stream(prompt_id)) == 2


async def test_expected_version_after_other_writer(backend):
    """A head cached before another process appended must not fail a correct version."""
    first, second = backend.store(), backend.store()
    prompt_id = stream()
    await append(first, prompt_id, marks(prompt_id, 1), expected_version=0)
    await append(second, prompt_id, marks(prompt_id, 1), expected_version=1)
    records = await append(first, prompt_id, marks(prompt_id, 1), expected_version=2)
    assert records[0].version == 3
