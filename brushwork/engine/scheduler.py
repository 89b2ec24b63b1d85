"""The scheduler: starts queued prompts in order, resumes crashed runs, stops poison runs.

It learns of new prompts, deletions, interrupts and manual resumes from the
log (through a subscription), never from the HTTP layer directly, so the
same code serves one process or many.
"""

from __future__ import annotations

import heapq
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import anyio
import structlog

from ..events.notifier import Broadcaster, Subscription
from ..events.store import EventStore, RecordedEvent
from ..events.types import (
    ExecutionFailed,
    ExecutionInterrupted,
    ExecutionSucceeded,
    InterruptRequested,
    PromptDeleted,
    PromptQueued,
    ResumeAttempted,
    ResumeRequested,
)
from ..events.writer import EventWriter
from .context import InterruptFlag
from .executor import Executor, PriorRun, QueuedPrompt

log = structlog.get_logger(__name__)

TERMINAL = (ExecutionSucceeded, ExecutionFailed, ExecutionInterrupted, PromptDeleted)


class ActivePrompt(Protocol):
    prompt_id: str
    position: int
    number: float
    status: str
    client_id: str | None
    principal: str | None
    prompt: dict
    extra_data: dict
    outputs_to_execute: list[str]


@dataclass
class SchedulerSettings:
    max_concurrent_prompts: int = 1
    max_crash_resumes: int = 3
    worker_id: str = ""


class LeaseClaims(Protocol):
    """Shared-queue claims for many workers (implemented over PostgreSQL)."""

    lease_seconds: float

    async def claim(self, capabilities: Any) -> Any | None: ...

    async def renew(self, claims: Sequence[Any]) -> set[str]: ...

    async def release(self, claim: Any) -> None: ...

    def fence(self, claim: Any) -> Callable[[Any], None]: ...


@dataclass(order=True)
class _Entry:
    number: float
    position: int
    prompt_id: str = field(compare=False)


class Scheduler:
    def __init__(
        self,
        *,
        executor: Executor,
        writer: EventWriter,
        store: EventStore,
        broadcaster: Broadcaster,
        load_active: Callable[[], Awaitable[tuple[list[ActivePrompt], int]]],
        settings: SchedulerSettings,
        leases: LeaseClaims | None = None,
        capabilities: Any = None,
    ) -> None:
        self.leases = leases
        self.capabilities = capabilities
        self._claims: dict[str, Any] = {}
        self.executor = executor
        self.writer = writer
        self.store = store
        self.broadcaster = broadcaster
        self.load_active = load_active
        self.settings = settings
        self._heap: list[_Entry] = []
        self._queued: dict[str, QueuedPrompt] = {}
        self._running: dict[str, InterruptFlag] = {}
        self._changed = anyio.Event()
        self.idle = anyio.Event()

    async def run(self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED
                  ) -> None:
        if self.leases is not None:
            await self._run_leased(self.leases, task_status)
            return
        active, checkpoint = await self.load_active()
        subscription = self.broadcaster.subscribe(self.store, after=checkpoint)
        self.executor.next_prompt_waiting = lambda: bool(self._queued)
        self.writer.backlog = lambda: bool(self._queued)
        for row in active:
            self._enqueue(QueuedPrompt(
                row.prompt_id, row.number, row.position, row.prompt, row.extra_data,
                row.outputs_to_execute, row.client_id, row.principal))
        task_status.started()
        try:
            async with anyio.create_task_group() as tg:
                tg.start_soon(self._follow, subscription)
                while True:
                    self._start_ready(tg)
                    if not self._running and not self._heap:
                        self.idle.set()
                    self._changed = anyio.Event()
                    await self._changed.wait()
        finally:
            subscription.close()

    def _enqueue(self, queued: QueuedPrompt) -> None:
        if queued.prompt_id in self._queued or queued.prompt_id in self._running:
            return
        self._queued[queued.prompt_id] = queued
        heapq.heappush(self._heap, _Entry(queued.number, queued.position, queued.prompt_id))
        self._mark_busy()

    def _start_ready(self, tg: anyio.abc.TaskGroup) -> None:
        while self._heap and len(self._running) < self.settings.max_concurrent_prompts:
            entry = heapq.heappop(self._heap)
            queued = self._queued.pop(entry.prompt_id, None)
            if queued is None:
                continue  # deleted while queued
            flag = InterruptFlag()
            self._running[queued.prompt_id] = flag
            tg.start_soon(self._run_prompt, queued, flag)

    async def _follow(self, subscription: Subscription) -> None:
        while True:
            for record in await subscription.next_batch(poll_interval=1.0):
                self._apply(record)
                if isinstance(record.event, ResumeRequested):
                    await self._enqueue_resumed(record.event.prompt_id)
            self._changed.set()

    async def _enqueue_resumed(self, prompt_id: str) -> None:
        history = await self.store.read_stream(prompt_id)
        queued = next((r for r in history if isinstance(r.event, PromptQueued)), None)
        if queued is None:
            return
        event = queued.event
        assert isinstance(event, PromptQueued)
        self._enqueue(QueuedPrompt(
            event.prompt_id, event.number, queued.position, event.prompt, event.extra_data,
            event.outputs_to_execute, event.client_id, event.principal))

    def _apply(self, record: RecordedEvent) -> None:
        event = record.event
        if isinstance(event, PromptQueued):
            self._enqueue(QueuedPrompt(
                event.prompt_id, event.number, record.position, event.prompt,
                event.extra_data, event.outputs_to_execute, event.client_id, event.principal,
                fresh=True))
        elif isinstance(event, PromptDeleted):
            self._queued.pop(event.prompt_id, None)
        elif isinstance(event, InterruptRequested):
            flag = self._running.get(event.prompt_id)
            if flag is not None:
                flag.set()
                self.executor.interrupt(event.prompt_id)

    async def _run_prompt(self, queued: QueuedPrompt, flag: InterruptFlag) -> None:
        bound = log.bind(prompt_id=queued.prompt_id)
        try:
            if queued.fresh:
                prior = PriorRun()
            else:
                history = await self.store.read_stream(queued.prompt_id)
                if _is_finished(history):
                    return
                prior = PriorRun.from_history(history)
                if prior.started and not await self._admit_resume(queued, history, bound):
                    return
            await self.executor.run(queued, prior, flag)
        except Exception as exc:
            bound.error("run_crashed", error=repr(exc))
            await self._fail_run(queued.prompt_id, exc)
        finally:
            self._running.pop(queued.prompt_id, None)
            self._changed.set()

    async def _admit_resume(self, queued: QueuedPrompt, history: list[RecordedEvent],
                            bound: structlog.typing.FilteringBoundLogger) -> bool:
        """Count crash resumes since the last manual resume; fail the run past the limit."""
        crashes = 0
        for record in history:
            if isinstance(record.event, ResumeAttempted):
                crashes += 1
            elif isinstance(record.event, ResumeRequested):
                crashes = 0
        started_after_request = _started_since_resume_request(history)
        if not started_after_request:
            return True  # a manual resume: start afresh from the completed nodes
        limit = self.settings.max_crash_resumes
        if crashes >= limit:
            bound.error("run_poisoned", crash_resumes=crashes)
            await self.writer.append(queued.prompt_id, [ExecutionFailed(
                prompt_id=queued.prompt_id, node_id=None, node_type=None,
                exception_type="brushwork.PoisonRunError",
                exception_message=(
                    f"this run was resumed {crashes} times and the process went down during "
                    f"each resume (limit {limit}); it is failed so the server can start. "
                    f"Fix the cause, then retry with `brushwork resume {queued.prompt_id}`"
                ),
            )])
            return False
        await self.writer.append(queued.prompt_id, [ResumeAttempted(
            prompt_id=queued.prompt_id, crash_count=crashes + 1,
            worker_id=self.settings.worker_id)])
        bound.info("run_resumed", crash_resumes=crashes + 1)
        return True

    async def _fail_run(self, prompt_id: str, exc: Exception) -> None:
        try:
            await self.writer.append(prompt_id, [ExecutionFailed(
                prompt_id=prompt_id, node_id=None, node_type=None,
                exception_type=type(exc).__qualname__, exception_message=str(exc))])
        except Exception as append_error:
            log.error("run_failure_not_recorded", prompt_id=prompt_id, error=repr(append_error))

    # -- many workers: claims on a shared queue -------------------------------

    async def _run_leased(self, leases: LeaseClaims, task_status: Any) -> None:
        subscription = self.broadcaster.subscribe(self.store,
                                                  after=await self.store.max_position())
        task_status.started()
        try:
            async with anyio.create_task_group() as tg:
                tg.start_soon(self._follow_wakeups, subscription)
                tg.start_soon(self._heartbeat, leases)
                while True:
                    while len(self._running) < self.settings.max_concurrent_prompts:
                        claim = await leases.claim(self.capabilities)
                        if claim is None:
                            break
                        flag = InterruptFlag()
                        self._running[claim.prompt_id] = flag
                        self._mark_busy()
                        tg.start_soon(self._run_claimed, leases, claim, flag)
                    if not self._running:
                        self.idle.set()
                    self._changed = anyio.Event()
                    # Wake at least twice per lease period to take over expired leases.
                    with anyio.move_on_after(leases.lease_seconds / 2):
                        await self._changed.wait()
        finally:
            subscription.close()

    async def _follow_wakeups(self, subscription: Subscription) -> None:
        while True:
            for record in await subscription.next_batch(poll_interval=1.0):
                event = record.event
                if isinstance(event, InterruptRequested):
                    flag = self._running.get(event.prompt_id)
                    if flag is not None:
                        flag.set()
                        self.executor.interrupt(event.prompt_id)
                elif isinstance(event, PromptQueued | ResumeRequested):
                    self._changed.set()

    async def _heartbeat(self, leases: LeaseClaims) -> None:
        while True:
            await anyio.sleep(leases.lease_seconds / 3)
            try:
                lost = await leases.renew(list(self._claims.values()))
            except Exception as exc:  # the database is unreachable: retry next beat
                log.warning("lease_renewal_failed", error=repr(exc))
                continue
            for prompt_id in lost:
                log.warning("lease_lost", prompt_id=prompt_id)
                self.executor.interrupt(prompt_id)

    async def _run_claimed(self, leases: LeaseClaims, claim: Any, flag: InterruptFlag) -> None:
        prompt_id = claim.prompt_id
        self._claims[prompt_id] = claim
        self.writer.fences[prompt_id] = leases.fence(claim)
        try:
            history = await self.store.read_stream(prompt_id)
            queued = next((r for r in history if isinstance(r.event, PromptQueued)), None)
            if queued is None:
                return
            event = queued.event
            assert isinstance(event, PromptQueued)
            await self._run_prompt(QueuedPrompt(
                event.prompt_id, event.number, queued.position, event.prompt, event.extra_data,
                event.outputs_to_execute, event.client_id, event.principal), flag)
        finally:
            with anyio.CancelScope(shield=True):
                # The run's last events are queued, not yet committed: they must
                # land under the lease, so release it only after they do.
                await self.writer.flush()
            self.writer.fences.pop(prompt_id, None)
            self._claims.pop(prompt_id, None)
            self.writer.clear_stream_failure(prompt_id)
            with anyio.CancelScope(shield=True):
                try:
                    await leases.release(claim)
                except Exception as exc:
                    log.warning("lease_release_failed", prompt_id=prompt_id, error=repr(exc))
            self._running.pop(prompt_id, None)
            self._changed.set()

    def running(self) -> list[str]:
        return list(self._running)

    def queued_count(self) -> int:
        return len(self._queued)

    def _mark_busy(self) -> None:
        # Replace the event only once it has fired, so that waiters holding
        # the current (unfired) event are still woken when work runs out.
        if self.idle.is_set():
            self.idle = anyio.Event()

    async def wait_idle(self) -> None:
        """Wait until nothing is queued or running in this process, and its events are committed."""
        while True:
            event = self.idle
            await event.wait()
            if self.idle is event:
                await self.writer.flush()
                return


def _is_finished(history: list[RecordedEvent]) -> bool:
    """Return True when a terminal event follows the run's last manual resume request."""
    finished = False
    for record in history:
        if isinstance(record.event, TERMINAL):
            finished = True
        elif isinstance(record.event, ResumeRequested):
            finished = False
    return finished


def _started_since_resume_request(history: list[RecordedEvent]) -> bool:
    from ..events.types import ExecutionStarted

    started = False
    for record in history:
        if isinstance(record.event, ResumeRequested):
            started = False
        elif isinstance(record.event, ExecutionStarted):
            started = True
    return started
