"""Group commit: many appenders share one transaction, in the order they asked.

The executor appends node events without waiting for each commit, so the
engine's cost per node stays far below one commit's latency. Order is kept:
the writer commits requests in arrival order, so a later event never lands
while an earlier one of the same process is still pending. Every batch is
published to the in-process broadcaster after its commit, never before.

Appends that no caller awaits may linger: the writer keeps them up to
``linger`` seconds so that the events of several nodes share one commit.
An append that is awaited, or one queued with ``urgent=True``, ends the
linger at once and is committed with everything queued before it.

While ``backlog()`` returns True (prompts wait for their turn), the writer
also spaces its commits: a commit starts no sooner than ``min_interval``
seconds after the previous one started. Batches then grow, and a commit
costs mostly per transaction (the same B-tree pages and checkpoint row are
written), not per event. Without a backlog nothing waits, so the latency
of a lone prompt does not change.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any

import anyio
import structlog

from ..errors import ConcurrencyError
from .faults import InjectedFault
from .notifier import Broadcaster
from .store import AppendRequest, EventStore, RecordedEvent
from .types import Event

log = structlog.get_logger(__name__)

_MAX_BATCH = 2000
_RETRY_DELAYS = (0.01, 0.05, 0.2, 0.5, 1.0, 2.0)


class _Done:
    """A one-shot flag whose event is created only when a caller waits on it.

    Most appends are never awaited (node events), so they skip the cost of
    an event object per append.
    """

    __slots__ = ("_event", "_set")

    def __init__(self) -> None:
        self._set = False
        self._event: anyio.Event | None = None

    def set(self) -> None:
        self._set = True
        if self._event is not None:
            self._event.set()

    def is_set(self) -> bool:
        return self._set

    async def wait(self) -> None:
        if self._set:
            return
        if self._event is None:
            self._event = anyio.Event()
        await self._event.wait()


class _Pending:
    __slots__ = ("done", "error", "records", "request", "urgent")

    def __init__(self, request: AppendRequest, urgent: bool) -> None:
        self.request = request
        self.urgent = urgent
        self.done = _Done()
        self.records: list[RecordedEvent] | None = None
        self.error: BaseException | None = None


class EventWriter:
    def __init__(self, store: EventStore, broadcaster: Broadcaster, *,
                 linger: float = 0.0, min_interval: float = 0.0) -> None:
        self.store = store
        self.broadcaster = broadcaster
        self.linger = linger
        self.min_interval = min_interval
        self._last_commit_start = -math.inf
        # Set by the scheduler: True while queued prompts wait to start.
        self.backlog: Callable[[], bool] | None = None
        self._queue: deque[_Pending] = deque()
        self._urgent = 0  # urgent requests in the queue
        self._first_queued = 0.0  # when the oldest request in the queue arrived
        self._wakeup = anyio.Event()
        self._failed_streams: dict[str, BaseException] = {}
        # Preconditions by stream, checked in each append's transaction (lease fences).
        self.fences: dict[str, Callable[[Any], None]] = {}
        self._closed = False
        self._running = False
        self._stopped = anyio.Event()
        # The error of the last commit that failed through every retry, until
        # a later commit succeeds (the readiness check reports it).
        self.failure: str | None = None
        # Called after each committed batch with its duration in seconds and
        # its event count (metrics); it must not raise or block.
        self.on_commit: Callable[[float, int], None] | None = None

    async def run(self) -> None:
        """Commit queued appends until cancelled; run this in a task group."""
        import asyncio

        self._loop = asyncio.get_running_loop()
        self._running = True
        try:
            while True:
                if not self._queue:
                    if self._closed:
                        return
                    self._wakeup = anyio.Event()
                    await self._wakeup.wait()
                    continue
                if self._should_linger():
                    self._wakeup = anyio.Event()
                    with anyio.move_on_after(self._first_queued + self.linger - time.monotonic()):
                        await self._wakeup.wait()
                    continue
                await self._space_commit()
                batch = [self._queue.popleft() for _ in range(min(_MAX_BATCH, len(self._queue)))]
                self._urgent -= sum(pending.urgent for pending in batch)
                if self._queue:
                    self._first_queued = time.monotonic()
                with anyio.CancelScope(shield=True):
                    await self._commit(batch)
        finally:
            self._running = False
            self._stopped.set()
            for pending in self._queue:
                pending.error = RuntimeError("the event writer stopped")
                pending.done.set()

    async def _space_commit(self) -> None:
        spacing = self._last_commit_start + self.min_interval - time.monotonic()
        if (spacing > 0 and self.backlog is not None and self.backlog()
                and not self._closed and len(self._queue) < _MAX_BATCH):
            await anyio.sleep(spacing)
        self._last_commit_start = time.monotonic()

    def _should_linger(self) -> bool:
        return (self.linger > 0 and not self._urgent and not self._closed
                and len(self._queue) < _MAX_BATCH
                and time.monotonic() < self._first_queued + self.linger)

    async def flush(self) -> None:
        """Wait until every append queued so far is committed (or failed)."""
        if not self._running:
            return
        marker = self.submit(AppendRequest("$flush", [], None), urgent=True)
        await marker.done.wait()

    async def close(self) -> None:
        """Commit what is queued, then stop."""
        self._closed = True
        self._wakeup.set()
        if self._running:
            await self._stopped.wait()

    def submit(self, request: AppendRequest, *, urgent: bool = True) -> _Pending:
        error = self._failed_streams.get(request.stream_id)
        pending = _Pending(request, urgent)
        if error is not None:
            pending.error = error
            pending.done.set()
            return pending
        if not self._queue:
            self._first_queued = time.monotonic()
        self._queue.append(pending)
        if urgent:
            self._urgent += 1
        # A lingering writer wakes only for what ends the linger.
        if urgent or len(self._queue) == 1 or len(self._queue) >= _MAX_BATCH:
            self._wakeup.set()
        return pending

    async def append(
        self, stream_id: str, events: Sequence[Event], expected_version: int | None = None
    ) -> list[RecordedEvent]:
        """Append and wait for the commit."""
        request = AppendRequest(stream_id, events, expected_version,
                                precondition=self.fences.get(stream_id))
        if not self._running:
            return await self._append_direct(request)
        pending = self.submit(request)
        await pending.done.wait()
        if pending.error is not None:
            raise pending.error
        assert pending.records is not None
        return pending.records

    def append_nowait(self, stream_id: str, events: Sequence[Event], *,
                      urgent: bool = False) -> None:
        """Queue an append behind every earlier one.

        It may linger to share a later commit, unless ``urgent``. A failure
        surfaces on the next awaited append to the same stream.
        """
        self.submit(AppendRequest(stream_id, events, None,
                                  precondition=self.fences.get(stream_id)), urgent=urgent)

    def append_threadsafe(self, stream_id: str, events: Sequence[Event]) -> None:
        """Queue an append from a worker thread (coarse progress marks)."""
        request = AppendRequest(stream_id, events, None, precondition=self.fences.get(stream_id))
        self._loop.call_soon_threadsafe(lambda: self.submit(request, urgent=False))

    async def _append_direct(self, request: AppendRequest) -> list[RecordedEvent]:
        (records,) = await self._with_retries([request])
        self.broadcaster.publish(records)
        return records

    async def _commit(self, batch: list[_Pending]) -> None:
        began = time.perf_counter()
        try:
            groups = await self._with_retries([pending.request for pending in batch])
        except ConcurrencyError:
            # One request conflicts: commit the others one by one, so that
            # the conflict fails only its own caller.
            for pending in batch:
                await self._commit_single(pending)
            return
        except Exception as exc:  # the store stayed down through every retry
            log.error("event_append_failed", error=repr(exc), events=len(batch))
            for pending in batch:
                self._fail(pending, exc)
            return
        flat = [record for group in groups for record in group]
        self.failure = None
        if self.on_commit is not None:
            self.on_commit(time.perf_counter() - began, len(flat))
        self.broadcaster.publish(flat)
        for pending, records in zip(batch, groups, strict=True):
            pending.records = records
            pending.done.set()

    async def _commit_single(self, pending: _Pending) -> None:
        try:
            (records,) = await self._with_retries([pending.request])
        except Exception as exc:
            self._fail(pending, exc)
            return
        self.failure = None
        self.broadcaster.publish(records)
        pending.records = records
        pending.done.set()

    def stream_failure(self, stream_id: str) -> BaseException | None:
        """Return the error that lost an unawaited append to this stream, if any."""
        return self._failed_streams.get(stream_id)

    def _fail(self, pending: _Pending, exc: BaseException) -> None:
        if not isinstance(exc, ConcurrencyError):
            self.failure = f"{type(exc).__name__}: {exc}"[:300]
        if pending.request.expected_version is None:
            self._failed_streams[pending.request.stream_id] = exc
        pending.error = exc
        pending.done.set()

    async def _with_retries(self, requests: list[AppendRequest]) -> list[list[RecordedEvent]]:
        for delay in (*_RETRY_DELAYS, math.inf):
            try:
                return await self.store.append_batch(requests)
            except ConcurrencyError:
                raise
            except (InjectedFault, OSError) as exc:
                error: Exception = exc
            except Exception as exc:
                if not getattr(exc, "retryable", False):
                    raise
                error = exc
            if delay == math.inf:
                raise error
            log.warning("event_append_retry", error=repr(error), delay_s=delay)
            await anyio.sleep(delay)
        raise AssertionError("unreachable")

    def clear_stream_failure(self, stream_id: str) -> None:
        self._failed_streams.pop(stream_id, None)
