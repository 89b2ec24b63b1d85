"""SerialThread: ordered calls, errors, context, cancellation and loop changes."""

from __future__ import annotations

import contextvars
import threading
import time

import anyio
import pytest

from brushwork.events.serial_thread import SerialThread

request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="none")


@pytest.mark.anyio
async def test_calls_run_in_order_on_one_thread():
    serial = SerialThread("test-serial")
    seen: list[tuple[int, int]] = []

    def record(index: int) -> int:
        seen.append((index, threading.get_ident()))
        return index * 2

    futures = [serial.submit(record, index) for index in range(50)]
    results = [await future for future in futures]
    serial.close()

    assert results == [index * 2 for index in range(50)]
    assert [index for index, _ in seen] == list(range(50))
    assert len({ident for _, ident in seen}) == 1
    assert seen[0][1] != threading.get_ident()


@pytest.mark.anyio
async def test_error_reaches_caller():
    serial = SerialThread("test-serial")

    def fail() -> None:
        raise ValueError("disk full")

    with pytest.raises(ValueError, match="disk full"):
        await serial.call(fail)
    assert await serial.call(lambda: "still running") == "still running"
    serial.close()


@pytest.mark.anyio
async def test_context_variables_reach_thread():
    serial = SerialThread("test-serial")
    request_id.set("req-7")
    assert await serial.call(request_id.get) == "req-7"
    serial.close()


@pytest.mark.anyio
async def test_cancelled_caller_waits_for_call():
    serial = SerialThread("test-serial")
    finished = threading.Event()

    def slow() -> None:
        time.sleep(0.2)
        finished.set()

    with anyio.move_on_after(0.01) as scope:
        await serial.call(slow)
        assert finished.is_set()
    serial.close()

    # The deadline passed during the call, and the shielded wait still
    # returned only once the call had finished.
    assert scope.cancel_called
    assert finished.is_set()


def test_new_event_loop_gets_results():
    serial = SerialThread("test-serial")

    async def once(value: int) -> int:
        return await serial.call(lambda: value + 1)

    assert anyio.run(once, 1) == 2
    assert anyio.run(once, 41) == 42
    serial.close()


@pytest.mark.anyio
async def test_close_finishes_queued_calls():
    serial = SerialThread("test-serial")
    done: list[int] = []

    def slow_append(index: int) -> None:
        time.sleep(0.01)
        done.append(index)

    for index in range(5):
        serial.submit(slow_append, index)
    serial.close()
    assert done == [0, 1, 2, 3, 4]
