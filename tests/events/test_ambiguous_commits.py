"""Failures at the commit point: neither lost nor duplicated events.

A failure before the commit rolls the append back; a failure after it
reports an error for an append that did commit (the ambiguous case). Both
are retried with the same event ids, directly through ``append_batch`` or
by the group-commit writer, and in a whole run of the engine.
"""

from __future__ import annotations

import uuid
from collections import Counter
from pathlib import Path

import anyio
import pytest

from brushwork.engine.registry import NodeRegistry
from brushwork.events import AppendRequest, Broadcaster, EventWriter, append
from brushwork.events.faults import FaultInjector, InjectedFault
from brushwork.events.types import (
    ExecutionStarted,
    ExecutionSucceeded,
    NodeCompleted,
    NodeProgress,
    NodeStarted,
    PromptQueued,
)
from brushwork.runtime import Runtime
from brushwork.settings import Settings
from tests.support import nodes as test_nodes
from tests.support.log import run_log

pytestmark = pytest.mark.asyncio


def stream() -> str:
    return str(uuid.uuid4())


def marks(prompt_id: str, count: int, start: int = 0) -> list[NodeProgress]:
    return [NodeProgress(prompt_id=prompt_id, node_id="1", value=i, max=1000)
            for i in range(start, start + count)]


async def stored_values(store, stream_id: str) -> list[float]:
    return [r.event.value for r in await store.read_stream(stream_id)]


# -- append_batch retried with the same request --------------------------------


async def test_retry_after_failed_commit_writes_once(backend):
    store = backend.store()
    prompt_id = stream()
    request = AppendRequest(prompt_id, marks(prompt_id, 3))
    store.faults.fail_before_commit()
    with pytest.raises(InjectedFault):
        await store.append_batch([request])
    assert await store.read_stream(prompt_id) == []
    (records,) = await store.append_batch([request])
    assert [r.version for r in records] == [1, 2, 3]
    assert await stored_values(store, prompt_id) == [0, 1, 2]


async def test_retry_after_ambiguous_commit_returns_stored(backend):
    store = backend.store()
    prompt_id = stream()
    request = AppendRequest(prompt_id, marks(prompt_id, 3))
    store.faults.fail_after_commit()
    with pytest.raises(InjectedFault):
        await store.append_batch([request])
    (records,) = await store.append_batch([request])
    stored = await store.read_stream(prompt_id)
    assert records == stored
    assert [r.event_id for r in stored] == request.event_ids


async def test_ambiguous_batch_of_streams_returns_stored(backend):
    store = backend.store()
    first, second = stream(), stream()
    await append(store, second, marks(second, 1))
    requests = [AppendRequest(first, marks(first, 2)),
                AppendRequest(second, marks(second, 2, start=1))]
    store.faults.fail_after_commit()
    with pytest.raises(InjectedFault):
        await store.append_batch(requests)
    groups = await store.append_batch(requests)
    assert [[r.version for r in group] for group in groups] == [[1, 2], [2, 3]]
    assert await stored_values(store, first) == [0, 1]
    assert await stored_values(store, second) == [0, 1, 2]


async def test_ambiguous_new_stream_retry_is_not_a_conflict(backend):
    """PromptQueued is appended with expected_version=0; its retry must not look taken."""
    store = backend.store()
    prompt_id = stream()
    request = AppendRequest(prompt_id, marks(prompt_id, 1), expected_version=0)
    store.faults.fail_after_commit()
    with pytest.raises(InjectedFault):
        await store.append_batch([request])
    (records,) = await store.append_batch([request])
    assert [r.version for r in records] == [1]
    assert await stored_values(store, prompt_id) == [0]


async def test_ambiguous_expected_version_retry_is_not_a_conflict(backend):
    store = backend.store()
    prompt_id = stream()
    await append(store, prompt_id, marks(prompt_id, 2), expected_version=0)
    request = AppendRequest(prompt_id, marks(prompt_id, 1, start=2), expected_version=2)
    store.faults.fail_after_commit()
    with pytest.raises(InjectedFault):
        await store.append_batch([request])
    (records,) = await store.append_batch([request])
    assert [r.version for r in records] == [3]
    assert await stored_values(store, prompt_id) == [0, 1, 2]


async def test_ambiguous_retry_from_second_process(backend):
    """A store that never saw the stream (another process wrote it) has no cached head."""
    writer, other = backend.store(), backend.store()
    prompt_id = stream()
    await append(writer, prompt_id, marks(prompt_id, 2))
    request = AppendRequest(prompt_id, marks(prompt_id, 1, start=2), expected_version=2)
    other.faults.fail_after_commit()
    with pytest.raises(InjectedFault):
        await other.append_batch([request])
    (records,) = await other.append_batch([request])
    assert [r.version for r in records] == [3]
    assert await stored_values(other, prompt_id) == [0, 1, 2]


async def test_new_events_after_ambiguous_commit_follow_it(backend):
    """The head cache missed the ambiguous commit; the next append must still go after it."""
    store = backend.store()
    prompt_id = stream()
    await append(store, prompt_id, marks(prompt_id, 1))
    store.faults.fail_after_commit()
    with pytest.raises(InjectedFault):
        await append(store, prompt_id, marks(prompt_id, 1, start=1))
    records = await append(store, prompt_id, marks(prompt_id, 1, start=2))
    assert records[0].version == 3
    assert await stored_values(store, prompt_id) == [0, 1, 2]


# -- the group-commit writer ---------------------------------------------------


async def append_through_writer(store, appends: list[tuple[str, list]]
                                ) -> tuple[list, list]:
    """Append concurrently through a running EventWriter; return the records and what a
    subscriber saw."""
    broadcaster = Broadcaster()
    writer = EventWriter(store, broadcaster)
    subscription = broadcaster.subscribe()
    results: list = [None] * len(appends)

    async def one(index: int, stream_id: str, events: list) -> None:
        results[index] = await writer.append(stream_id, events)

    async with anyio.create_task_group() as tg:
        tg.start_soon(writer.run)
        async with anyio.create_task_group() as appenders:
            for index, (stream_id, events) in enumerate(appends):
                appenders.start_soon(one, index, stream_id, events)
        await writer.close()
    seen = []
    while subscription._buffer:
        seen.extend(subscription._take(strict=False))
    subscription.close()
    return results, seen


async def test_writer_retries_ambiguous_commit_once(backend):
    store = backend.store()
    prompt_id = stream()
    store.faults.fail_after_commit()
    (records,), seen = await append_through_writer(store, [(prompt_id, marks(prompt_id, 3))])
    stored = await store.read_stream(prompt_id)
    assert records == stored
    assert [r.event_id for r in seen] == [r.event_id for r in stored]


async def test_writer_retries_failed_commit_once(backend):
    store = backend.store()
    prompt_id = stream()
    store.faults.fail_before_commit(2)
    (records,), seen = await append_through_writer(store, [(prompt_id, marks(prompt_id, 3))])
    assert [r.version for r in records] == [1, 2, 3]
    assert await stored_values(store, prompt_id) == [0, 1, 2]
    assert len(seen) == 3


async def test_writer_batches_survive_both_faults(backend):
    """Many appenders share batches; faults hit some batches before and some after commit."""
    store = backend.store()
    streams = [stream() for _ in range(8)]
    appends = [(s, marks(s, 2, start=2 * round_)) for round_ in range(5) for s in streams]
    store.faults.fail_after_commit(2)
    store.faults.fail_before_commit(2)
    results, seen = await append_through_writer(store, appends)
    for stream_id in streams:
        # Appenders to one stream race, so only the count and the set are fixed.
        values = await stored_values(store, stream_id)
        assert sorted(values) == list(range(10))
        versions = [r.version for r in await store.read_stream(stream_id)]
        assert versions == list(range(1, 11))
    positions = [r.position for r in seen]
    assert len(positions) == 80
    assert len(set(positions)) == 80
    assert sum(len(records) for records in results) == 80


# -- a whole run ---------------------------------------------------------------


class FaultEveryOtherCommit(FaultInjector):
    """Fail every other append: alternately before the commit and after it."""

    def __init__(self) -> None:
        super().__init__()
        self.commits = 0
        self.injected: Counter[str] = Counter()

    def before_commit(self) -> None:
        self.commits += 1
        if self.commits % 4 == 1:
            self.injected["before"] += 1
            raise InjectedFault("injected failure before commit")

    def after_commit_point(self) -> None:
        if self.commits % 4 == 3:
            self.commits += 1  # the retry finds the events stored, and never commits
            self.injected["after"] += 1
            raise InjectedFault("injected failure after commit")


def chain(value: int) -> dict:
    return {
        "1": {"class_type": "TestConstant", "inputs": {"value": value}},
        "2": {"class_type": "TestSlowAdd", "inputs": {"a": ["1", 0], "b": 1, "seconds": 0.05}},
        "3": {"class_type": "TestSlowAdd", "inputs": {"a": ["2", 0], "b": 2, "seconds": 0.05}},
        "4": {"class_type": "TestAdd", "inputs": {"a": ["3", 0], "b": 3}},
        "5": {"class_type": "TestOutput", "inputs": {"value": ["4", 0]}},
    }


async def test_run_under_commit_faults(tmp_path: Path, monkeypatch):
    runs = tmp_path / "runs.log"
    monkeypatch.setenv("BRUSHWORK_TEST_RUN_LOG", str(runs))
    registry = NodeRegistry(test_nodes.NODE_CLASSES)
    async with Runtime(Settings(data_dir=tmp_path / "data"), registry) as rt:
        faults = FaultEveryOtherCommit()
        rt.store.faults = faults
        ids = [(await rt.commands.submit({"prompt": chain(10 * i)}))["prompt_id"]
               for i in range(3)]
        with anyio.fail_after(60):
            await rt.scheduler.wait_idle()
        streams = {prompt_id: await rt.store.read_stream(prompt_id) for prompt_id in ids}
        history = await rt.reader.history()

    assert faults.injected["before"] >= 3
    assert faults.injected["after"] >= 3
    executions = Counter((pid, node) for pid, node, _, _ in run_log(runs))
    assert executions == Counter({(pid, node): 1 for pid in ids for node in ("2", "3", "5")})
    for index, prompt_id in enumerate(ids):
        records = streams[prompt_id]
        assert [r.version for r in records] == list(range(1, len(records) + 1))
        logical = Counter((r.type_name, getattr(r.event, "node_id", None),
                           getattr(r.event, "attempt", None))
                          for r in records if not isinstance(r.event, NodeProgress))
        assert max(logical.values()) == 1, logical
        types = [type(r.event) for r in records]
        assert types.count(PromptQueued) == 1
        assert types.count(ExecutionStarted) == 1
        assert types.count(NodeStarted) == 5
        assert types.count(NodeCompleted) == 5
        assert types[-1] is ExecutionSucceeded
        assert history[prompt_id]["outputs"]["5"] == {"text": [str(10 * index + 6)]}
