"""The composition root: wires the store, projections, engine and scheduler together.

The CLI and the HTTP server both start a ``Runtime``. It is the only place
that knows which store and which projections are in use.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from contextlib import AsyncExitStack
from typing import Any

import anyio
import structlog

from . import db
from .engine.artifacts import ArtifactStore
from .engine.cache import OutputCache
from .engine.commands import CommandSettings, PromptCommands
from .engine.datadir_lock import DataDirLock
from .engine.executor import Executor, ExecutorSettings
from .engine.lanes import Lanes
from .engine.placement import InlinePlacement
from .engine.queue_gauge import QueueGauge
from .engine.registry import NodeRegistry, default_registry
from .engine.runtime import set_data_paths
from .engine.scheduler import Scheduler, SchedulerSettings
from .engine.validation import PromptValidator
from .events.database import create_engine, create_sqlite_writer_engine, is_sqlite
from .events.notifier import Broadcaster
from .events.pg_notify import PgListener
from .events.sql import SqlEventStore
from .events.writer import EventWriter
from .projections.leases import Capabilities, LeaseStore
from .projections.reader import ProjectionReader, load_active_with_checkpoint, max_number
from .projections.runner import catch_up, default_projections
from .settings import Settings

log = structlog.get_logger(__name__)

ProgressListener = Callable[[str, str, float, float, Any], None]


class Runtime:
    """Everything one brushwork process runs, started and stopped as one unit."""

    def __init__(self, settings: Settings, registry: NodeRegistry | None = None) -> None:
        self.settings = settings
        self.paths = settings.paths
        self.registry = registry or default_registry()
        for module_name in settings.extra_node_modules:
            load_node_module(self.registry, module_name)
        self.progress_listeners: list[ProgressListener] = []
        self.services: dict[str, Any] = {}
        self._stack = AsyncExitStack()
        self._loop: asyncio.AbstractEventLoop | None = None
        # True while the scheduler task runs (readiness checks read it).
        self.scheduler_running = False

    async def __aenter__(self) -> Runtime:
        settings = self.settings
        self._loop = asyncio.get_running_loop()
        if is_sqlite(settings.resolved_database_url):
            # Taken before the temp folder is cleared, which would pull files
            # from under a process that already uses this directory.
            lock = DataDirLock(self.paths.root)
            lock.acquire()
            self._stack.callback(lock.release)
        self.paths.create(clear_temp=True)
        set_data_paths(self.paths)
        self.engine = create_engine(
            settings.resolved_database_url, sqlite_synchronous=settings.sqlite_synchronous)
        self._stack.push_async_callback(self.engine.dispose)
        await db.upgrade(self.engine)
        postgres = not is_sqlite(settings.resolved_database_url)
        self.projections = default_projections(leases=postgres)
        sync_engine = None
        if is_sqlite(settings.resolved_database_url):
            sync_engine = create_sqlite_writer_engine(
                settings.resolved_database_url, sqlite_synchronous=settings.sqlite_synchronous)
            self._stack.callback(sync_engine.dispose)
        self.store = SqlEventStore(self.engine, self.projections, sync_engine=sync_engine)
        await catch_up(self.engine, self.store, self.projections)
        self.broadcaster = Broadcaster()
        self.writer = EventWriter(self.store, self.broadcaster, linger=settings.commit_linger,
                                  min_interval=settings.commit_interval)
        self.reader = ProjectionReader(self.engine)
        self.artifacts = ArtifactStore(self.paths.artifacts, fsync=settings.artifact_fsync)
        self.validator = PromptValidator(
            self.registry, max_nodes=settings.max_prompt_nodes,
            max_string_length=settings.max_prompt_string_length)
        active, checkpoint = await load_active_with_checkpoint(self.engine)
        self.queue_gauge = QueueGauge({row.prompt_id for row in active}, checkpoint)

        async def queue_size() -> int:
            return self.queue_gauge.count

        self.commands = PromptCommands(
            validator=self.validator, writer=self.writer, find_prompt=self.reader.prompt,
            queue_size=queue_size,
            settings=CommandSettings(max_queue_size=settings.max_queue_size),
            next_number=int(await max_number(self.engine)) + 1,
        )
        self.cache = OutputCache(settings.cache_policy, settings.cache_max_entries)
        self.lanes = Lanes(cpu_threads=settings.cpu_threads,
                           device_concurrency=settings.device_concurrency)
        self._start_services()
        self.executor = Executor(
            registry=self.registry, writer=self.writer, artifacts=self.artifacts,
            paths=self.paths, cache=self.cache, lanes=self.lanes,
            settings=ExecutorSettings(
                node_timeouts=settings.node_timeouts,
                default_node_timeout=settings.default_node_timeout,
                worker_id=settings.worker_id, device=_default_device()),
            services=self.services, progress_sink=self._progress,
            placement=InlinePlacement(settings.inline_threshold),
        )
        leases, capabilities = None, None
        if postgres:
            leases = LeaseStore(self.engine, settings.worker_id, settings.lease_seconds)
            classes = settings.worker_node_classes
            capabilities = Capabilities(
                frozenset(classes) if classes is not None
                else frozenset(cls.class_type for cls in self.registry),
                tuple(settings.worker_devices))
        self.scheduler = Scheduler(
            executor=self.executor, writer=self.writer, store=self.store,
            broadcaster=self.broadcaster,
            load_active=lambda: load_active_with_checkpoint(self.engine),
            settings=SchedulerSettings(
                max_concurrent_prompts=settings.max_concurrent_prompts,
                max_crash_resumes=settings.max_crash_resumes, worker_id=settings.worker_id),
            leases=leases, capabilities=capabilities,
        )
        self.task_group = await self._stack.enter_async_context(anyio.create_task_group())
        self._stack.push_async_callback(self._stop)
        self.task_group.start_soon(self.writer.run)
        if postgres:
            self.task_group.start_soon(PgListener(self.engine, self.broadcaster).run)
        self.task_group.start_soon(self.queue_gauge.follow, self.broadcaster, self.store)
        if settings.run_worker:
            await self.task_group.start(self._run_scheduler)
        log.info("runtime_started", data_dir=str(self.paths.root), worker=settings.run_worker)
        return self

    def _start_services(self) -> None:
        from .providers.hub import ProviderHub
        from .providers.secrets import default_secrets
        from .providers.settings import ProviderSettings

        secrets_file = self.paths.secrets_file
        hub = ProviderHub(
            ProviderSettings(base_urls=dict(self.settings.provider_base_urls)),
            default_secrets(secrets_file if secrets_file.exists() else None),
        )
        self.services["providers"] = hub
        self._stack.push_async_callback(hub.close)

    async def _run_scheduler(
            self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        self.scheduler_running = True
        try:
            with anyio.CancelScope() as scope:
                self._scheduler_scope = scope
                await self.scheduler.run(task_status=task_status)
        finally:
            self.scheduler_running = False

    async def _stop(self) -> None:
        """Stop running prompts without ending them (they resume on the next start),
        commit what is queued, then stop every task."""
        scope = getattr(self, "_scheduler_scope", None)
        if scope is not None:
            scope.cancel()
            # Thread-lane nodes stop at their next progress step; their results
            # are discarded because their tasks are already cancelled.
            self.executor.stop_threads()
        await anyio.to_thread.run_sync(self.executor.close)
        self.lanes.close()
        self.artifacts.close()
        await self.writer.close()
        self.task_group.cancel_scope.cancel()

    async def __aexit__(self, *exc_info: object) -> None:
        await self._stack.aclose()

    def _progress(self, prompt_id: str, node_id: str, value: float, total: float,
                  preview: Any) -> None:
        loop = self._loop
        if loop is None:
            return
        for listener in self.progress_listeners:
            loop.call_soon_threadsafe(listener, prompt_id, node_id, value, total, preview)


def load_node_module(registry: NodeRegistry, module_name: str) -> None:
    """Import a module of custom nodes and register its NODE_CLASSES."""
    import importlib

    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise ValueError(f"cannot import node module {module_name!r}: {error}") from error
    classes = getattr(module, "NODE_CLASSES", None)
    if not isinstance(classes, list | tuple):
        raise ValueError(f"node module {module_name!r} has no NODE_CLASSES list")
    for cls in classes:
        registry.register(cls)


def _default_device() -> str:
    """The device nodes run on: "auto" lets torch nodes pick CUDA when present.

    Deciding here would import torch at start-up; the torch nodes resolve
    "auto" when they first run instead.
    """
    return "auto"
