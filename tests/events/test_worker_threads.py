"""WorkerThreads: order, errors, context, cancellation, loop changes and bounds."""

from __future__ import annotations

import asyncio
import contextvars
import threading
import time

import anyio
import pytest

from brushwork.events.worker_threads import WorkerThreads

request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="none")


@pytest.mark.anyio
async def test_calls_run_in_order_on_one_thread():
    workers = WorkerThreads("test-workers")
    seen: list[tuple[int, int]] = []

    def record(index: int) -> int:
        seen.append((index, threading.get_ident()))
        return index * 2

    futures = [workers.submit(record, index) for index in range(50)]
    results = [await future for future in futures]
    workers.close()

    assert results == [index * 2 for index in range(50)]
    assert [index for index, _ in seen] == list(range(50))
    assert len({ident for _, ident in seen}) == 1
    assert seen[0][1] != threading.get_ident()


@pytest.mark.anyio
async def test_error_reaches_caller():
    workers = WorkerThreads("test-workers")

    def fail() -> None:
        raise ValueError("disk full")

    with pytest.raises(ValueError, match="disk full"):
        await workers.call(fail)
    assert await workers.call(lambda: "still running") == "still running"
    workers.close()


@pytest.mark.anyio
async def test_context_variables_reach_thread():
    workers = WorkerThreads("test-workers")
    request_id.set("req-7")
    assert await workers.call(request_id.get) == "req-7"
    workers.close()


@pytest.mark.anyio
async def test_cancelled_caller_waits_for_call():
    workers = WorkerThreads("test-workers")
    finished = threading.Event()

    def slow() -> None:
        time.sleep(0.2)
        finished.set()

    with anyio.move_on_after(0.01) as scope:
        await workers.call(slow)
        assert finished.is_set()
    workers.close()

    # The deadline passed during the call, and the shielded wait still
    # returned only once the call had finished.
    assert scope.cancel_called
    assert finished.is_set()


def test_new_event_loop_gets_results():
    workers = WorkerThreads("test-workers")

    async def once(value: int) -> int:
        return await workers.call(lambda: value + 1)

    assert anyio.run(once, 1) == 2
    assert anyio.run(once, 41) == 42
    workers.close()


@pytest.mark.anyio
async def test_close_finishes_queued_calls():
    workers = WorkerThreads("test-workers")
    done: list[int] = []

    def slow_append(index: int) -> None:
        time.sleep(0.01)
        done.append(index)

    for index in range(5):
        workers.submit(slow_append, index)
    workers.close()
    assert done == [0, 1, 2, 3, 4]


@pytest.mark.anyio
async def test_thread_count_bounds_concurrency():
    workers = WorkerThreads("test-pool", count=2)
    lock = threading.Lock()
    running = 0
    peak = 0

    def busy() -> None:
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
        time.sleep(0.05)
        with lock:
            running -= 1

    await asyncio.gather(*(workers.submit(busy) for _ in range(6)))
    workers.close()
    assert peak == 2


@pytest.mark.anyio
async def test_close_without_wait_returns_at_once():
    workers = WorkerThreads("test-pool", count=1)
    release = threading.Event()
    future = workers.submit(release.wait, 5)
    began = time.monotonic()
    workers.close(wait=False)
    assert time.monotonic() - began < 1
    release.set()
    assert await future is True


def test_zero_threads_is_rejected():
    with pytest.raises(ValueError, match="invalid thread count 0"):
        WorkerThreads("test-pool", count=0)
