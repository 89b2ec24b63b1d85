"""Threads that run blocking calls for an event loop, in submission order with one thread.

``anyio.to_thread.run_sync`` costs about 90 microseconds of CPU per call on
a 2-core VM (a capacity limiter, a cancel scope, an event and a thread
wakeup), against about 13 for a queue and ``call_soon_threadsafe`` (measured
with a no-op call under uvloop). The SQLite append path and the artifact
writes run a call per commit, and nodes one per run in a thread, so they
use this class instead.
"""

from __future__ import annotations

import asyncio
import contextvars
import queue
import threading
from collections import deque
from collections.abc import Callable
from typing import Any

import anyio

_Job = tuple[contextvars.Context, Callable[..., Any], tuple[Any, ...], asyncio.Future[Any]]


class WorkerThreads:
    """Daemon threads, started on first use, that take calls from one queue.

    With ``count=1`` the calls run one at a time in submission order. With
    more, up to ``count`` run at once, as under a capacity limiter.

    Results reach the loop in batches: while one wakeup of the loop is
    pending, later results ride along with it, so a busy loop is not woken
    once per call. Each call runs in a copy of the caller's context, so
    context variables (log ids) reach the thread as with ``to_thread``.
    """

    def __init__(self, name: str, count: int = 1) -> None:
        if count < 1:
            raise ValueError(f"invalid thread count {count}; give at least 1")
        self.name = name
        self.count = count
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._done: deque[tuple[asyncio.Future[Any], Any, BaseException | None]] = deque()
        self._wake_pending = False
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._threads: list[threading.Thread] = []

    def submit(self, function: Callable[..., Any], *args: Any) -> asyncio.Future[Any]:
        """Queue ``function(*args)`` and return a future of its result."""
        loop = asyncio.get_running_loop()
        if not self._threads or self._loop is not loop:
            self._start(loop)
        future: asyncio.Future[Any] = loop.create_future()
        self._jobs.put((contextvars.copy_context(), function, args, future))
        return future

    async def call(self, function: Callable[..., Any], *args: Any) -> Any:
        """Run ``function(*args)`` in a thread and return its result.

        A cancelled caller still waits for the call to finish, as with
        ``to_thread.run_sync``, so it never returns while a commit it started is in flight.
        """
        future = self.submit(function, *args)
        with anyio.CancelScope(shield=True):
            return await future

    def close(self, *, wait: bool = True) -> None:
        """Stop the threads once the queued calls are done (call from any thread).

        With ``wait``, return only then; without, a long call still running
        (a node at shutdown) does not hold up the caller.
        """
        threads, self._threads = self._threads, []
        for _ in threads:
            self._jobs.put(None)
        if wait:
            for thread in threads:
                thread.join()

    def _start(self, loop: asyncio.AbstractEventLoop) -> None:
        # A new event loop (tests run several in turn) gets fresh threads,
        # because results are delivered to the loop that they were started for.
        self.close()
        with self._lock:
            self._done.clear()
            self._wake_pending = False
        self._loop = loop
        for index in range(self.count):
            name = self.name if self.count == 1 else f"{self.name}-{index}"
            thread = threading.Thread(target=self._run, args=(loop,), name=name, daemon=True)
            thread.start()
            self._threads.append(thread)

    def _run(self, loop: asyncio.AbstractEventLoop) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                return
            context, function, args, future = job
            result: Any = None
            error: BaseException | None = None
            try:
                result = context.run(function, *args)
            except BaseException as exc:  # handed to the awaiting caller
                error = exc
            with self._lock:
                self._done.append((future, result, error))
                if self._wake_pending:
                    continue
                self._wake_pending = True
            try:
                loop.call_soon_threadsafe(self._deliver)
            except RuntimeError:
                return  # the loop is closed, so no caller awaits these results

    def _deliver(self) -> None:
        with self._lock:
            self._wake_pending = False
            done = list(self._done)
            self._done.clear()
        for future, result, error in done:
            if future.cancelled():
                continue
            if error is None:
                future.set_result(result)
            else:
                future.set_exception(error)
