"""Output bytes are written in the artifact thread, before the event that names them."""

from __future__ import annotations

import asyncio
import errno

import anyio
import pytest
import structlog

from brushwork.engine import packs
from brushwork.engine.artifacts import ArtifactStore, ArtifactWriter
from brushwork.engine.context import InterruptFlag
from brushwork.engine.executor import PriorRun, QueuedPrompt
from brushwork.events import writer as writer_module
from brushwork.events.types import (
    ExecutionFailed,
    ExecutionStarted,
    ExecutionSucceeded,
    NodeCompleted,
    NodeFailed,
    NodeStarted,
)
from tests.engine.conftest import TERMINAL, of_type, open_runtime, run_prompt
from tests.engine.test_packs import overwrite

CHAIN = {
    "1": {"class_type": "EmptyImage",
          "inputs": {"width": 8, "height": 8, "batch_size": 1, "color": 0x336699}},
    "2": {"class_type": "ImageInvert", "inputs": {"image": ["1", 0]}},
    "3": {"class_type": "ImageInvert", "inputs": {"image": ["2", 0]}},
    "4": {"class_type": "TestOutput", "inputs": {"value": ["3", 0]}},
}


@pytest.mark.asyncio
async def test_completed_outputs_are_on_disk(tmp_path):
    async with open_runtime(tmp_path) as rt:
        subscription = rt.broadcaster.subscribe()
        answer = await rt.commands.submit({"prompt": CHAIN})
        refs_at_commit: dict[str, bool] = {}
        done = False
        while not done:
            for record in await subscription.next_batch():
                event = record.event
                if isinstance(event, NodeCompleted):
                    for slot in event.outputs:
                        for item in slot:
                            # Checked as soon as the commit is published.
                            refs_at_commit[item.ref] = rt.artifacts.exists(item.ref)
                done = done or (isinstance(event, TERMINAL)
                                and event.prompt_id == answer["prompt_id"])
        subscription.close()
    assert len(refs_at_commit) == 3
    assert all(refs_at_commit.values())


@pytest.mark.asyncio
async def test_failed_artifact_write_fails_the_node(tmp_path, monkeypatch):
    async with open_runtime(tmp_path) as rt:
        def full_disk(fd: int, data: bytes) -> None:
            raise OSError(errno.ENOSPC, "no space left on device")

        monkeypatch.setattr(packs, "_write_all", full_disk)
        _, records = await run_prompt(rt, CHAIN)
    # The artifact thread writes in order, so node 1's failure arrives first.
    # Node 2 may fail the same way before the run stops it.
    failed_nodes = of_type(records, NodeFailed)
    (failed_run,) = of_type(records, ExecutionFailed)
    assert failed_nodes[0].node_id == "1"
    assert all("no space left on device" in e.exception_message for e in failed_nodes)
    assert failed_run.node_id == "1"
    assert "1" not in failed_run.executed
    # Nodes 1 to 3 write artifacts, so none of them completes. Node 4 writes
    # none and may complete on the values in memory before the run stops.
    completed = {e.node_id for e in of_type(records, NodeCompleted)}
    assert completed <= {"4"}


@pytest.mark.asyncio
async def test_writer_close_finishes_queued_writes(tmp_path):
    store = ArtifactStore(tmp_path / "artifacts")
    writer = ArtifactWriter(store)
    blobs = [(store.digest(data), data) for data in (b"a" * 100, b"b" * 200, b"c" * 300)]
    futures = [writer.submit([blob]) for blob in blobs]
    await anyio.to_thread.run_sync(writer.close)
    assert all(store.exists(digest) for digest, _ in blobs)
    await asyncio.gather(*futures)


@pytest.mark.asyncio
async def test_resume_reruns_node_with_damaged_artifact(tmp_path):
    """A completed node whose stored output no longer matches its sha256 runs again."""
    async with open_runtime(tmp_path, cache_policy="none") as rt:
        prompt_id, records = await run_prompt(rt, CHAIN)
        completed = {e.node_id: e for e in of_type(records, NodeCompleted)}
        damaged_ref = completed["2"].outputs[0][0].ref
        overwrite(rt.artifacts, damaged_ref, 100, b"\xff\xff\xff\xff")

        # As if killed while node 3 ran: nodes 1 and 2 completed, and 2's bytes are damaged.
        history = [r for r in records if not isinstance(r.event, ExecutionSucceeded)
                   and not (isinstance(r.event, NodeCompleted) and r.event.node_id in "34")]
        prior = PriorRun.from_history(history)
        queued = QueuedPrompt(prompt_id, 0, 0, CHAIN, {}, ["4"])
        outcome = await rt.executor.run(queued, prior, InterruptFlag())
        await rt.writer.flush()
        again = (await rt.store.read_stream(prompt_id))[len(records):]
        stored_again = rt.artifacts.verify(damaged_ref)

    assert outcome == "success"
    (started,) = of_type(again, ExecutionStarted)
    assert started.skipped_nodes == ["1"]
    assert [e.node_id for e in of_type(again, NodeStarted)] == ["2", "3", "4"]
    completed_again = {e.node_id: e for e in of_type(again, NodeCompleted)}
    assert completed_again["2"].outputs[0][0].ref == damaged_ref
    assert stored_again  # the rerun wrote a good copy of the same bytes
    assert completed_again["4"].ui == completed["4"].ui


@pytest.mark.asyncio
async def test_lost_events_stop_the_run(tmp_path, monkeypatch):
    """Once a run's unawaited events fail to commit, its next node does not start."""
    monkeypatch.setattr(writer_module, "_RETRY_DELAYS", (0.001,))
    slow = {
        "1": {"class_type": "TestConstant", "inputs": {"value": 1}},
        "2": {"class_type": "TestSlowAdd", "inputs": {"a": ["1", 0], "b": 1, "seconds": 0.5}},
        "3": {"class_type": "TestSlowAdd", "inputs": {"a": ["2", 0], "b": 1, "seconds": 0.1}},
        "4": {"class_type": "TestOutput", "inputs": {"value": ["3", 0]}},
    }
    async with open_runtime(tmp_path) as rt:
        subscription = rt.broadcaster.subscribe()
        answer = await rt.commands.submit({"prompt": slow})
        with anyio.fail_after(10):
            while not any(isinstance(r.event, NodeStarted) and r.event.node_id == "2"
                          for r in await subscription.next_batch()):
                pass
        subscription.close()
        rt.store.faults.fail_before_commit(10_000)  # the disk is full from here on
        with structlog.testing.capture_logs() as logs:
            with anyio.fail_after(10):
                while answer["prompt_id"] in rt.executor.running_prompts():
                    await anyio.sleep(0.05)
        failure = rt.writer.failure
        rt.store.faults.clear()  # storage works again for the shutdown

    failed = [line for line in logs if line["event"] == "node_failed"]
    assert [line["node_id"] for line in failed] == ["3"]
    assert "events could not be stored" in failed[0]["error"]
    assert failure is not None
    assert "injected failure" in failure
