"""Execution of one prompt: planning, concurrent node runs on lanes, events.

The executor appends every state change to the prompt's stream through the
group-commit writer. Node events are queued without waiting for their
commit (ordered behind earlier ones), except before a node with side
effects outside brushwork, which waits until its NodeStarted is durable.
A successful run's end event is queued too. A failed or interrupted run's
end event is awaited.
"""

from __future__ import annotations

import gc
import inspect
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import anyio
import structlog

from ..errors import BrushworkError, CancelledByUserError, NodeTimeoutError, StorageError
from ..events.store import RecordedEvent
from ..events.types import (
    Event,
    ExecutionFailed,
    ExecutionInterrupted,
    ExecutionStarted,
    ExecutionSucceeded,
    NodeCached,
    NodeCompleted,
    NodeFailed,
    NodeProgress,
    NodeStarted,
    OutputItem,
)
from ..events.writer import EventWriter
from .artifacts import ArtifactStore, ArtifactWriter
from .cache import CacheEntry, OutputCache, compute_cache_keys
from .context import InterruptFlag, NodeContext
from .lanes import Lanes
from .node import Node, NodeOutput
from .paths import DataPaths
from .placement import InlinePlacement
from .registry import NodeRegistry
from .validation import is_link
from .values import decode_value, encode_value, is_restorable

log = structlog.get_logger(__name__)

# Artifact batches up to this size are appended on the event loop. A 64x64
# RGB float image is 48 KiB, and a 512x512 one is 3 MiB.
_INLINE_WRITE_BYTES = 256 * 1024

ProgressSink = Callable[[str, str, float, float, Any], None]


@dataclass
class QueuedPrompt:
    prompt_id: str
    number: float
    position: int
    prompt: dict[str, Any]
    extra_data: dict[str, Any]
    outputs: list[str]
    client_id: str | None = None
    principal: str | None = None
    # True for a prompt this process saw being queued and never started: its
    # stream contains nothing to resume, so the scheduler need not read it.
    fresh: bool = False


@dataclass
class ExecutorSettings:
    node_timeouts: dict[str, float] = field(default_factory=dict)
    default_node_timeout: float | None = None
    worker_id: str = ""
    device: str = "cpu"


@dataclass
class _NodeResult:
    items: list[list[OutputItem]]
    values: list[list[Any]] | None
    ui: dict[str, Any] | None


class _NodeFailure(Exception):
    def __init__(self, node_id: str, class_type: str, error: BaseException,
                 inputs: dict[str, Any]) -> None:
        super().__init__(str(error))
        self.node_id = node_id
        self.class_type = class_type
        self.error = error
        self.inputs = inputs


@dataclass
class PriorRun:
    """The earlier attempts of this prompt as the log records them (for resume)."""

    completed: dict[str, NodeCompleted] = field(default_factory=dict)
    attempts: dict[str, int] = field(default_factory=dict)
    node_events: dict[str, list[Event]] = field(default_factory=dict)
    started: int = 0

    @classmethod
    def from_history(cls, records: list[RecordedEvent]) -> PriorRun:
        prior = cls()
        for record in records:
            event = record.event
            node_id = getattr(event, "node_id", None)
            if isinstance(event, ExecutionStarted):
                prior.started += 1
            elif isinstance(event, NodeStarted):
                prior.attempts[event.node_id] = max(prior.attempts.get(event.node_id, 0),
                                                    event.attempt)
            elif isinstance(event, NodeCompleted):
                prior.completed[event.node_id] = event
            if node_id is not None:
                prior.node_events.setdefault(node_id, []).append(event)
        return prior


class Executor:
    def __init__(
        self,
        *,
        registry: NodeRegistry,
        writer: EventWriter,
        artifacts: ArtifactStore,
        paths: DataPaths,
        cache: OutputCache,
        lanes: Lanes,
        settings: ExecutorSettings,
        services: dict[str, Any] | None = None,
        progress_sink: ProgressSink | None = None,
        placement: InlinePlacement | None = None,
    ) -> None:
        self.registry = registry
        self.writer = writer
        self.artifacts = artifacts
        self.paths = paths
        self.cache = cache
        self.lanes = lanes
        self.settings = settings
        self.services = services or {}
        self.progress_sink = progress_sink
        self.placement = placement or InlinePlacement(0.0)
        self._artifact_writer = ArtifactWriter(artifacts)
        # Set by a scheduler that owns the queue: returns True while a queued
        # prompt will start as soon as a running one ends.
        self.next_prompt_waiting: Callable[[], bool] | None = None
        self._running_keys: dict[str, set[str]] = {}
        self._runs: dict[str, _PromptRun] = {}
        self._node_objects: dict[tuple[str, str], Node] = {}

    async def run(self, queued: QueuedPrompt, prior: PriorRun,
                  interrupt: InterruptFlag) -> str:
        """Run a prompt to its end; return "success", "error" or "interrupted"."""
        run = _PromptRun(self, queued, prior, interrupt)
        self._runs[queued.prompt_id] = run
        try:
            return await run.execute()
        finally:
            self._runs.pop(queued.prompt_id, None)
            self._running_keys.pop(queued.prompt_id, None)
            freeze_imported_objects()

    def interrupt(self, prompt_id: str) -> bool:
        """Stop a running prompt: async nodes at once, thread nodes at their next progress."""
        run = self._runs.get(prompt_id)
        if run is None:
            return False
        run.interrupt.set()
        if run._scope is not None:
            run._scope.cancel()
        return True

    def stop_threads(self) -> None:
        """Make thread-lane nodes of every run stop at their next progress step (shutdown)."""
        for run in self._runs.values():
            run.interrupt.set()

    async def write_artifacts(self, blobs: list[tuple[str, bytes]]) -> None:
        """Store output bytes; return once the operating system has them.

        A small batch without fsync is one append to the open pack file, which
        costs less than the hop to the artifact thread. Larger batches and
        every fsync run in that thread, off the event loop.
        """
        if not self.artifacts.fsync and sum(len(data) for _, data in blobs) <= _INLINE_WRITE_BYTES:
            self.artifacts.write_all(blobs)
            return
        await self._artifact_writer.submit(blobs)

    def close(self) -> None:
        """Finish queued artifact writes and stop their thread."""
        self._artifact_writer.close()

    def running_prompts(self) -> list[str]:
        return list(self._runs)

    def running_node(self, prompt_id: str) -> str | None:
        run = self._runs.get(prompt_id)
        if run is None or not run.running:
            return None
        return next(iter(run.running))

    def node_object(self, node_id: str, cls: type[Node]) -> Node:
        key = (node_id, cls.class_type)
        node = self._node_objects.get(key)
        if node is None:
            if len(self._node_objects) > 10_000:
                self._node_objects.clear()
            node = cls()
            self._node_objects[key] = node
        return node


class _PromptRun:
    def __init__(self, executor: Executor, queued: QueuedPrompt, prior: PriorRun,
                 interrupt: InterruptFlag) -> None:
        self.executor = executor
        self.queued = queued
        self.prompt_id = queued.prompt_id
        self.prompt = queued.prompt
        self.prior = prior
        self.interrupt = interrupt
        self.registry = executor.registry
        self.writer = executor.writer
        self.results: dict[str, _NodeResult] = {}
        self.executed: list[str] = []
        self.running: dict[str, str] = {}
        self.failure: _NodeFailure | None = None
        self.log = log.bind(prompt_id=self.prompt_id)
        self._progress_marks: dict[str, int] = {}
        self._scope: anyio.CancelScope | None = None

    # -- events ------------------------------------------------------------

    def emit(self, *events: Event) -> None:
        self.writer.append_nowait(self.prompt_id, events)

    async def emit_and_wait(self, *events: Event) -> None:
        await self.writer.append(self.prompt_id, events)

    # -- lifecycle ----------------------------------------------------------

    async def execute(self) -> str:
        started = time.perf_counter()
        resumed = self.prior.started > 0
        restored = await self._restore_completed()
        fingerprints = await self._fingerprints()
        keys = compute_cache_keys(self.prompt, self.registry, fingerprints)
        self.keys = keys
        live_keys = {k for k in keys.values() if k is not None}
        self.executor._running_keys[self.prompt_id] = live_keys
        other_keys = set().union(*(v for p, v in self.executor._running_keys.items()
                                   if p != self.prompt_id))
        self.executor.cache.begin_prompt(live_keys, other_keys)

        started_event = ExecutionStarted(
            prompt_id=self.prompt_id, attempt=self.prior.started + 1,
            worker_id=self.executor.settings.worker_id, resumed=resumed,
            skipped_nodes=sorted(restored),
        )
        if self.queued.fresh:
            # A first run queued in this process: its nodes start while the
            # event commits. A crash before that commit leaves a prompt that
            # never started. The next process runs it again and waits for this
            # commit, so poison-run detection misses at most one crash.
            self.writer.append_nowait(self.prompt_id, [started_event], urgent=True)
        else:
            # Awaited: a crash after this point is counted as a crash of this
            # run (poison-run detection reads it), so it must be durable first.
            await self.emit_and_wait(started_event)
        cached = self._take_cache_hits(restored)
        if cached or not resumed:
            self.emit(NodeCached(
                prompt_id=self.prompt_id, node_ids=cached,
                ui={n: self.results[n].ui for n in cached if self.results[n].ui},
            ))
        self.executed.extend(cached)
        outcome = await self._run_graph()
        duration = time.perf_counter() - started
        if outcome == "success":
            # Queued, not awaited: the next prompt may start while this commits.
            # It lands before any later event, and a crash before its commit
            # resumes a run whose nodes are all complete, which only re-appends it.
            # Urgent, so clients hear of it at once, unless another prompt starts
            # right away: its ExecutionStarted ends the linger, and both share
            # one commit.
            waiting = self.executor.next_prompt_waiting
            self.writer.append_nowait(self.prompt_id, [ExecutionSucceeded(
                prompt_id=self.prompt_id, executed=self.executed, duration_s=duration,
            )], urgent=not (waiting is not None and waiting()))
            self.log.info("run_succeeded", duration_s=round(duration, 4),
                          nodes=len(self.executed))
        elif outcome == "interrupted":
            node_id = next(iter(self.running), None)
            await self.emit_and_wait(ExecutionInterrupted(
                prompt_id=self.prompt_id, node_id=node_id,
                node_type=self.running.get(node_id) if node_id else None,
                executed=self.executed,
            ))
            self.log.info("run_interrupted", node_id=node_id)
        else:
            failure = self.failure
            assert failure is not None
            error = failure.error
            await self.emit_and_wait(ExecutionFailed(
                prompt_id=self.prompt_id, node_id=failure.node_id, node_type=failure.class_type,
                exception_type=_qualified_name(error), exception_message=str(error),
                traceback=_format_traceback(error), executed=self.executed,
                current_inputs=_format_inputs(failure.inputs), current_outputs=cached,
            ))
            self.log.info("run_failed", node_id=failure.node_id, error=str(error))
        return outcome

    async def _restore_completed(self) -> set[str]:
        """Take the outputs of nodes completed in earlier attempts whose artifacts still verify."""
        completed = {node_id: event for node_id, event in self.prior.completed.items()
                     if node_id in self.prompt}
        if not completed:
            return set()
        damaged = await anyio.to_thread.run_sync(self._damaged_artifacts, completed)
        restored = set()
        for node_id, event in completed.items():
            if node_id in damaged:
                # Runs again instead of feeding its dependents missing or wrong bytes.
                self.log.warning("artifact_unusable_on_resume", node_id=node_id,
                                 sha256=damaged[node_id],
                                 detail="missing or not matching its sha256; the node runs again")
                continue
            self.results[node_id] = _NodeResult(event.outputs, None, event.ui)
            restored.add(node_id)
            self.executed.append(node_id)
        return restored

    def _damaged_artifacts(self, completed: dict[str, NodeCompleted]) -> dict[str, str]:
        """Map each node with an artifact that is missing or fails its sha256 to that digest."""
        damaged: dict[str, str] = {}
        for node_id, event in completed.items():
            for slot in event.outputs:
                for item in slot:
                    if (item.kind == "artifact" and item.ref and node_id not in damaged
                            and not self.executor.artifacts.verify(item.ref)):
                        damaged[node_id] = item.ref
        return damaged

    async def _fingerprints(self) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for node_id, node in self.prompt.items():
            cls = self.registry.require(node["class_type"])
            if cls.fingerprint.__func__ is Node.fingerprint.__func__:  # type: ignore[attr-defined]
                continue
            constants = {k: v for k, v in node["inputs"].items() if not is_link(v)}
            try:
                values[node_id] = await anyio.to_thread.run_sync(
                    lambda c=cls, k=constants: c.fingerprint(None, **k)
                )
            except Exception:
                values[node_id] = float("nan")
        return values

    def _take_cache_hits(self, restored: set[str]) -> list[str]:
        hits: list[str] = []
        for node_id in self._reachable(restored):
            if node_id in restored:
                continue
            entry = self.executor.cache.get(self.keys.get(node_id))
            if entry is not None:
                self.results[node_id] = _NodeResult(entry.items, entry.values, entry.ui)
                hits.append(node_id)
        return hits

    def _reachable(self, stop: set[str]) -> list[str]:
        seen: list[str] = []
        stack = list(reversed(self.queued.outputs))
        visited: set[str] = set()
        while stack:
            node_id = stack.pop()
            if node_id in visited:
                continue
            visited.add(node_id)
            seen.append(node_id)
            if node_id in stop:
                continue
            for value in self.prompt[node_id]["inputs"].values():
                if is_link(value):
                    stack.append(value[0])
        return seen

    # -- scheduling ----------------------------------------------------------

    def _done(self, node_id: str) -> bool:
        result = self.results.get(node_id)
        return result is not None

    def _usable(self, node_id: str) -> bool:
        """Return True for a done node whose outputs can be read (restored transients cannot)."""
        result = self.results.get(node_id)
        if result is None:
            return False
        if result.values is not None:
            return True
        return all(is_restorable(item) for slot in result.items for item in slot)

    def _dependencies(self, node_id: str, *, include_lazy: bool = False) -> list[str]:
        cls = self.registry.require(self.prompt[node_id]["class_type"])
        specs = cls.input_map()
        deps = []
        for name, value in self.prompt[node_id]["inputs"].items():
            if not is_link(value):
                continue
            spec = specs.get(name)
            if spec is not None and spec.lazy and not include_lazy:
                continue
            deps.append(value[0])
        return deps

    async def _run_graph(self) -> str:
        self.pending: dict[str, set[str]] = {}
        self.dependents: dict[str, set[str]] = {}
        # Nodes handed to the task group: a node shared by several dependents
        # (one source feeding many blends) must start once, not once per path.
        self.started: set[str] = set()
        self._drop_unusable_restored()
        try:
            async with anyio.create_task_group() as tg:
                self.tg = tg
                self._scope = tg.cancel_scope
                if self.interrupt.is_set():
                    tg.cancel_scope.cancel()
                for output_id in self.queued.outputs:
                    self._plan(output_id)
        except* _NodeFailure as group:
            self.failure = group.exceptions[0]  # type: ignore[assignment]
        if self.interrupt.is_set():
            return "interrupted"
        if self.failure is not None:
            if isinstance(self.failure.error, CancelledByUserError):
                return "interrupted"
            return "error"
        return "success"

    def _drop_unusable_restored(self) -> None:
        for node_id in list(self.results):
            if not self._usable(node_id):
                del self.results[node_id]
                if node_id in self.executed:
                    self.executed.remove(node_id)

    def _plan(self, node_id: str) -> None:
        """Add a node and its unfinished dependencies to the plan; start what is ready."""
        if self._done(node_id) or node_id in self.pending or node_id in self.started:
            return
        deps = {d for d in self._dependencies(node_id) if not self._done(d)}
        self.pending[node_id] = deps
        for dep in deps:
            self.dependents.setdefault(dep, set()).add(node_id)
            self._plan(dep)
        if not deps and node_id in self.pending:
            self._ready(node_id)

    def _ready(self, node_id: str) -> None:
        cls = self.registry.require(self.prompt[node_id]["class_type"])
        if any(spec.lazy for spec in cls.inputs) and not self._lazy_satisfied(node_id, cls):
            return
        del self.pending[node_id]
        self.started.add(node_id)
        self.tg.start_soon(self._run_node, node_id, cls)

    def _lazy_satisfied(self, node_id: str, cls: type[Node]) -> bool:
        node = self.executor.node_object(node_id, cls)
        inputs = self._single_inputs(node_id, cls, lazy_none=True)
        needed = node.check_lazy_status(**inputs) or []
        waiting = set()
        for name in needed:
            value = self.prompt[node_id]["inputs"].get(name)
            if is_link(value) and not self._done(value[0]):
                waiting.add(value[0])
        if not waiting:
            return True
        self.pending[node_id] = waiting
        for dep in waiting:
            self.dependents.setdefault(dep, set()).add(node_id)
            self._plan(dep)
        return False

    def _finished(self, node_id: str) -> None:
        for dependent in self.dependents.pop(node_id, ()):
            deps = self.pending.get(dependent)
            if deps is None:
                continue
            deps.discard(node_id)
            if not deps:
                self._ready(dependent)

    # -- one node ------------------------------------------------------------

    def _values(self, node_id: str) -> list[list[Any]]:
        result = self.results[node_id]
        if result.values is None:
            result.values = [
                [decode_value(item, self.executor.artifacts) for item in slot]
                for slot in result.items
            ]
        return result.values

    def _input_lists(self, node_id: str, cls: type[Node], *, lazy_none: bool = False
                     ) -> dict[str, list[Any]]:
        specs = cls.input_map()
        lists: dict[str, list[Any]] = {}
        for name, value in self.prompt[node_id]["inputs"].items():
            spec = specs.get(name)
            if is_link(value):
                if value[0] not in self.results:
                    if lazy_none or (spec is not None and spec.lazy):
                        lists[name] = [None]
                    continue
                lists[name] = self._values(value[0])[int(value[1])]
            elif spec is not None:
                lists[name] = [value]
        for name, kind in cls.hidden.items():
            lists[name] = [self._hidden_value(node_id, kind)]
        return lists

    def _single_inputs(self, node_id: str, cls: type[Node], *, lazy_none: bool = False
                       ) -> dict[str, Any]:
        lists = self._input_lists(node_id, cls, lazy_none=lazy_none)
        if cls.input_is_list:
            return lists
        return {name: (items[0] if items else None) for name, items in lists.items()}

    def _hidden_value(self, node_id: str, kind: str) -> Any:
        if kind == "PROMPT":
            return self.prompt
        if kind == "EXTRA_PNGINFO":
            return self.queued.extra_data.get("extra_pnginfo")
        if kind == "UNIQUE_ID":
            return node_id
        return None

    async def _run_node(self, node_id: str, cls: type[Node]) -> None:
        attempt = self.prior.attempts.get(node_id, 0) + 1
        inputs = self._input_lists(node_id, cls)
        started_event = NodeStarted(
            prompt_id=self.prompt_id, node_id=node_id, class_type=cls.class_type,
            attempt=attempt, inputs=_audit_inputs(self.prompt[node_id]["inputs"]),
        )
        if cls.side_effects:
            await self.emit_and_wait(started_event)
        else:
            # NOTE: not awaited, so a process killed within one group commit of
            # this start loses the record of this attempt (the node still runs
            # again on resume, because it has no NodeCompleted).
            self.emit(started_event)
        self.running[node_id] = cls.class_type
        ctx = NodeContext(
            prompt_id=self.prompt_id, node_id=node_id, class_type=cls.class_type,
            attempt=attempt, paths=self.executor.paths, artifacts=self.executor.artifacts,
            prompt=self.prompt, extra_data=self.queued.extra_data, interrupt=self.interrupt,
            on_progress=self._on_progress, record=self._record,
            prior_events=self.prior.node_events.get(node_id, []),
            services=self.executor.services, device=self.executor.settings.device,
            principal=self.queued.principal,
        )
        node = self.executor.node_object(node_id, cls)
        began = time.perf_counter()
        timeout = self.executor.settings.node_timeouts.get(
            cls.class_type, self.executor.settings.default_node_timeout)
        if timeout:
            # Async nodes are cancelled at the deadline. A node in a thread
            # cannot be, so its progress steps check the deadline instead.
            ctx.set_timeout(time.monotonic() + timeout, _timeout_error(node_id, cls, timeout))
        try:
            lost = self.writer.stream_failure(self.prompt_id)
            if lost is not None:
                # Nodes that ran on would leave outputs that no event names.
                raise StorageError(
                    f"this run's events could not be stored ({lost}); it stops here and "
                    "resumes from its last stored node once the event log accepts writes")
            ctx.check_interrupted()
            # Log lines from inside the node (provider retries, warnings) carry its ids;
            # worker threads inherit these context variables.
            with structlog.contextvars.bound_contextvars(
                    prompt_id=self.prompt_id, node_id=node_id), (
                    anyio.fail_after(timeout) if timeout else _null_scope()):
                items, values, ui, blobs = await self._call(node, cls, ctx, inputs)
            # A thread node without progress steps runs to its end, so one that
            # returns past the deadline fails here.
            late = ctx.timed_out()
            if late is not None:
                raise late
        except TimeoutError as error:
            # From the deadline, or raised by the node itself (a socket timeout).
            self._fail(node_id, cls, ctx.timed_out() or error, inputs, attempt, began)
        except anyio.get_cancelled_exc_class():
            # Kept in self.running: the interrupt message names the node it stopped.
            raise
        except Exception as error:
            self._fail(node_id, cls, error, inputs, attempt, began)
        else:
            duration = time.perf_counter() - began
            self.results[node_id] = _NodeResult(items, values, ui)
            self.running.pop(node_id, None)
            self.executed.append(node_id)
            completed = NodeCompleted(
                prompt_id=self.prompt_id, node_id=node_id, class_type=cls.class_type,
                outputs=items, ui=ui, attempt=attempt, duration_s=duration,
                cache_key=self.keys.get(node_id),
            )
            # Dependents are scheduled now and start on the outputs in memory.
            # NodeCompleted waits for the bytes on disk, because no event names
            # bytes that are not stored, so it may follow a dependent's NodeStarted.
            self._finished(node_id)
            if blobs:
                try:
                    await self.executor.write_artifacts(blobs)
                except Exception as error:
                    self.executed.remove(node_id)
                    self._fail(node_id, cls, error, inputs, attempt, began)
            self.executor.cache.put(completed.cache_key, CacheEntry(values, items, ui))
            self.emit(completed)

    def _fail(self, node_id: str, cls: type[Node], error: BaseException,
              inputs: dict[str, Any], attempt: int, began: float) -> None:
        self.running.pop(node_id, None)
        interrupted = isinstance(error, CancelledByUserError)
        if not interrupted:
            self.emit(NodeFailed(
                prompt_id=self.prompt_id, node_id=node_id, class_type=cls.class_type,
                exception_type=_qualified_name(error), exception_message=str(error),
                traceback=_format_traceback(error), current_inputs=_format_inputs(inputs),
                attempt=attempt, duration_s=time.perf_counter() - began,
                retryable=bool(getattr(error, "retryable", False)),
            ))
            self.log.warning("node_failed", node_id=node_id, class_type=cls.class_type,
                             error=str(error))
        else:
            self.running[node_id] = cls.class_type
        raise _NodeFailure(node_id, cls.class_type, error, inputs)

    async def _call(self, node: Node, cls: type[Node], ctx: NodeContext,
                    inputs: dict[str, list[Any]]) -> _Collected:
        calls = _expand_calls(cls, inputs)
        if inspect.iscoroutinefunction(node.execute):
            async with self.executor.lanes.io(cls.provider):
                results = [await node.execute(ctx, **kwargs) for kwargs in calls]
            collected: _Collected = await self.executor.lanes.cpu_threads.call(
                self._collect, cls, results)
            return collected
        work = _SyncCall(self, node, cls, ctx, calls)
        if cls.lane == "inline":
            return work()
        lanes = self.executor.lanes
        device_limiter = lanes.device_limiter(ctx.device) if cls.lane == "device" else None
        placement = self.executor.placement
        key = (placement.key(cls.class_type, calls, _placement_ignores(cls))
               if placement.enabled and cls.inline_when_fast else None)
        if placement.runs_inline(key):
            if device_limiter is not None:
                # Still one node at a time on the device.
                async with device_limiter:
                    result = work()
            else:
                result = work()
            placement.record_inline_run(key, work.seconds)
            return result
        if device_limiter is not None:
            result = await anyio.to_thread.run_sync(work, limiter=device_limiter)
        else:
            result = await lanes.cpu_threads.call(work)
        placement.record_thread_run(key, work.seconds)
        return result

    def _collect(self, cls: type[Node], results: list[Any]) -> _Collected:
        """Gather the outputs of every list call, encode them and hash their bytes.

        The bytes are written later, in the artifact thread (``blobs``).
        """
        values: list[list[Any]] = [[] for _ in cls.outputs]
        ui: dict[str, list[Any]] | None = None
        for result in results:
            if isinstance(result, NodeOutput):
                if result.ui:
                    ui = ui or {}
                    for key, value in result.ui.items():
                        ui.setdefault(key, []).extend(value)
                result = result.values
            if result is None:
                result = ()
            for index, spec in enumerate(cls.outputs):
                if index >= len(result):
                    raise ValueError(
                        f"{cls.class_type} returned {len(result)} values for "
                        f"{len(cls.outputs)} outputs"
                    )
                if spec.is_list:
                    values[index].extend(result[index])
                else:
                    values[index].append(result[index])
        deferred = _DeferredBlobs()
        items = [
            [encode_value(spec.type, value, deferred) for value in slot]
            for spec, slot in zip(cls.outputs, values, strict=True)
        ]
        return items, values, ui, deferred.blobs

    # -- callbacks from nodes ---------------------------------------------

    def _on_progress(self, node_id: str, value: float, total: float, preview: Any) -> None:
        sink = self.executor.progress_sink
        if sink is not None:
            sink(self.prompt_id, node_id, value, total, preview)
        if total > 0:
            quarter = int(4 * value / total)
            if quarter > self._progress_marks.get(node_id, 0):
                self._progress_marks[node_id] = quarter
                self.writer.append_threadsafe(self.prompt_id, [NodeProgress(
                    prompt_id=self.prompt_id, node_id=node_id, value=value, max=total)])

    async def _record(self, event: Event) -> None:
        await self.emit_and_wait(event)


# A node run's encoded outputs, values, UI dict and the bytes still to write.
_Collected = tuple[
    list[list[OutputItem]], list[list[Any]], dict[str, Any] | None, list[tuple[str, bytes]]
]


class _DeferredBlobs:
    """A sink for ``encode_value`` that hashes bytes at once and keeps them for a later write."""

    def __init__(self) -> None:
        self.blobs: list[tuple[str, bytes]] = []

    def put(self, data: bytes) -> str:
        digest = ArtifactStore.digest(data)
        self.blobs.append((digest, data))
        return digest


class _SyncCall:
    """The thread-side part of a node run: execute every list call, then encode outputs."""

    def __init__(self, run: _PromptRun, node: Node, cls: type[Node], ctx: NodeContext,
                 calls: list[dict[str, Any]]) -> None:
        self.run = run
        self.node = node
        self.cls = cls
        self.ctx = ctx
        self.calls = calls
        self.seconds = 0.0  # how long execute and encoding took, once run

    def __call__(self) -> _Collected:
        began = time.perf_counter()
        results = [self.node.execute(self.ctx, **kwargs) for kwargs in self.calls]
        collected = self.run._collect(self.cls, results)
        self.seconds = time.perf_counter() - began
        return collected


def _timeout_error(node_id: str, cls: type[Node], timeout: float) -> NodeTimeoutError:
    """Build the error of a node that ran past its ``--node-timeout``."""
    return NodeTimeoutError(
        f"node {node_id} ({cls.class_type}) timed out after {timeout:g} s; "
        f"raise its timeout with --node-timeout {cls.class_type}=SECONDS"
    )


def _placement_ignores(cls: type[Node]) -> frozenset[str]:
    """Name the inputs that do not change a run's cost: declared ones and hidden ones."""
    if not cls.hidden:
        return cls.cost_neutral_inputs
    return cls.cost_neutral_inputs | frozenset(cls.hidden)


_frozen_module_count = 0


def freeze_imported_objects() -> None:
    """Move every object alive now out of the garbage collector's view, once per new import.

    Modules (torch above all) make most of a server's long-lived objects,
    and each full collection walked them all: 85 to 110 ms measured once
    torch was loaded, a pause in the middle of a burst of prompts. Nodes import their
    libraries on first use, so this runs after a prompt whenever modules were
    added since the last call. The objects still die by reference counting.
    """
    global _frozen_module_count
    if len(sys.modules) != _frozen_module_count:
        _frozen_module_count = len(sys.modules)
        gc.freeze()


def _expand_calls(cls: type[Node], inputs: dict[str, list[Any]]) -> list[dict[str, Any]]:
    """ComfyUI's list semantics: one call per index, shorter lists repeat their last item."""
    if cls.input_is_list:
        return [inputs]
    if not inputs:
        return [{}]
    if any(len(items) == 0 for items in inputs.values()):
        return []
    count = max(len(items) for items in inputs.values())
    return [
        {name: items[min(i, len(items) - 1)] for name, items in inputs.items()}
        for i in range(count)
    ]


class _null_scope:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


def _qualified_name(error: BaseException) -> str:
    cls = type(error)
    module = cls.__module__
    return cls.__qualname__ if module == "builtins" else f"{module}.{cls.__qualname__}"


def _format_traceback(error: BaseException) -> list[str]:
    if isinstance(error, BrushworkError) and not error.__cause__:
        return []
    return traceback.format_exception(error)[-8:]


def _format_inputs(inputs: dict[str, list[Any]]) -> dict[str, list[str]]:
    formatted: dict[str, list[str]] = {}
    for name, items in inputs.items():
        formatted[name] = [_short_repr(item) for item in items[:4]]
    return formatted


def _short_repr(value: Any) -> str:
    shape = getattr(value, "shape", None)
    if shape is not None:
        return f"{type(value).__name__}(shape={tuple(shape)}, dtype={getattr(value, 'dtype', '?')})"
    text = repr(value)
    return text if len(text) <= 200 else text[:197] + "..."


def _audit_inputs(inputs: dict[str, Any]) -> dict[str, Any]:
    """Record constants as given and links as [node_id, index], for the audit."""
    return dict(inputs)
