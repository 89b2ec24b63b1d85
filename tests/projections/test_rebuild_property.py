"""Projections folded live, batch by batch, equal a rebuild from position 0.

Hypothesis generates well-formed logs over several prompts: the lifecycle a
scheduler and executor produce (queue, start, node attempts, cache hits,
provider calls, crashes and resumes, the three endings), interleaved with
client commands (delete, clear history, resume requests, interrupts). The
events are appended through the SQL store with the inline projections in
random batch sizes, as the group-commit writer does. Then the projections
are rebuilt in place, and every table is compared row by row.
"""

from __future__ import annotations

import shutil
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from brushwork import db
from brushwork.events import AppendRequest
from brushwork.events.database import create_engine, create_sqlite_writer_engine, sqlite_url
from brushwork.events.schema import projection_checkpoints
from brushwork.events.sql import SqlEventStore
from brushwork.events.types import (
    HISTORY_STREAM,
    REJECTIONS_STREAM_PREFIX,
    Event,
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
from brushwork.projections.runner import default_projections, rebuild
from brushwork.projections.schema import PROJECTION_TABLES

NODES = ("1", "2", "3", "4")
GRAPH = {node_id: {"class_type": f"Class{node_id}", "inputs": {"seed": int(node_id)}}
         for node_id in NODES}

small_text = st.text(alphabet="abcxyz ", max_size=6)
json_scalar = st.one_of(st.integers(-5, 5), st.floats(-2, 2, allow_nan=False), small_text,
                        st.booleans(), st.none())


@dataclass
class PromptState:
    prompt_id: str
    status: str = "queued"  # queued, running, finished or cancelled
    runs: int = 0
    attempts: dict[str, int] = field(default_factory=dict)
    running: set[str] = field(default_factory=set)
    completed: set[str] = field(default_factory=set)


class LogBuilder:
    """Draws one lifecycle step at a time, keeping the log well-formed."""

    def __init__(self, data: st.DataObject) -> None:
        self.data = data
        self.prompts: list[PromptState] = []
        self.events: list[tuple[str, Event]] = []
        self.rejections = 0

    def draw(self, strategy: st.SearchStrategy) -> Any:
        return self.data.draw(strategy)

    def emit(self, stream_id: str, event: Event) -> None:
        self.events.append((stream_id, event))

    def in_status(self, *statuses: str) -> list[PromptState]:
        return [p for p in self.prompts if p.status in statuses]

    def step(self) -> None:
        actions = [self.queue, self.reject, self.clear_history]
        if self.in_status("queued"):
            actions += [self.start, self.start, self.delete_queued]
        if self.in_status("running"):
            actions += [self.node_start, self.node_start, self.node_finish, self.node_finish,
                        self.node_progress, self.cached, self.provider, self.crash,
                        self.interrupt, self.end_run]
        if self.in_status("finished"):
            actions += [self.delete_finished, self.resume_request]
        self.draw(st.sampled_from(actions))()

    def pick(self, *statuses: str) -> PromptState:
        return self.draw(st.sampled_from(self.in_status(*statuses)))

    # -- commands --------------------------------------------------------------

    def queue(self) -> None:
        prompt_id = str(uuid.UUID(int=len(self.prompts) + 1))
        self.prompts.append(PromptState(prompt_id))
        extra = self.draw(st.fixed_dictionaries({}, optional={
            "client_id": small_text, "api_key_comfy_org": st.just("secret"),
            "extra_pnginfo": st.dictionaries(small_text, json_scalar, max_size=2)}))
        self.emit(prompt_id, PromptQueued(
            prompt_id=prompt_id, number=self.draw(st.integers(-3, 20)), prompt=GRAPH,
            extra_data=extra, outputs_to_execute=["4"],
            client_id=self.draw(st.none() | st.just("client")),
            principal=self.draw(st.none() | st.just("alice")),
            node_errors=self.draw(st.just({}) | st.just({"3": {"errors": []}}))))

    def reject(self) -> None:
        self.rejections += 1
        self.emit(f"{REJECTIONS_STREAM_PREFIX}{self.rejections}", PromptRejected(
            prompt_id=None, error={"type": "invalid_prompt"}, node_errors={}))

    def clear_history(self) -> None:
        self.emit(HISTORY_STREAM, HistoryCleared())

    def delete_queued(self) -> None:
        prompt = self.pick("queued")
        prompt.status = "cancelled"
        self.emit(prompt.prompt_id, PromptDeleted(prompt_id=prompt.prompt_id))

    def delete_finished(self) -> None:
        prompt = self.pick("finished")
        self.emit(prompt.prompt_id, PromptDeleted(prompt_id=prompt.prompt_id))

    def resume_request(self) -> None:
        prompt = self.pick("finished")
        prompt.status = "queued"
        self.emit(prompt.prompt_id, ResumeRequested(prompt_id=prompt.prompt_id))

    def interrupt(self) -> None:
        prompt = self.pick("running")
        self.emit(prompt.prompt_id, InterruptRequested(prompt_id=prompt.prompt_id))

    # -- the scheduler and executor ----------------------------------------------

    def start(self) -> None:
        prompt = self.pick("queued")
        self.begin_run(prompt)

    def begin_run(self, prompt: PromptState) -> None:
        prompt.status = "running"
        prompt.runs += 1
        prompt.running.clear()
        self.emit(prompt.prompt_id, ExecutionStarted(
            prompt_id=prompt.prompt_id, attempt=prompt.runs, worker_id="w",
            resumed=prompt.runs > 1, skipped_nodes=sorted(prompt.completed)))

    def crash(self) -> None:
        """The process died under the run; the next process resumes it."""
        prompt = self.pick("running")
        self.emit(prompt.prompt_id, ResumeAttempted(
            prompt_id=prompt.prompt_id, crash_count=self.draw(st.integers(1, 3)),
            worker_id="w2"))
        self.begin_run(prompt)

    def cached(self) -> None:
        prompt = self.pick("running")
        idle = [n for n in NODES if n not in prompt.running and n not in prompt.completed]
        node_ids = self.draw(st.lists(st.sampled_from(idle), unique=True)) if idle else []
        ui = {n: {"text": [n]} for n in node_ids if self.draw(st.booleans())}
        prompt.completed.update(node_ids)
        self.emit(prompt.prompt_id, NodeCached(prompt_id=prompt.prompt_id, node_ids=node_ids,
                                               ui=ui))

    def node_start(self) -> None:
        prompt = self.pick("running")
        idle = [n for n in NODES if n not in prompt.running and n not in prompt.completed]
        if not idle:
            return
        node_id = self.draw(st.sampled_from(idle))
        attempt = prompt.attempts.get(node_id, 0) + 1
        prompt.attempts[node_id] = attempt
        prompt.running.add(node_id)
        self.emit(prompt.prompt_id, NodeStarted(
            prompt_id=prompt.prompt_id, node_id=node_id, class_type=f"Class{node_id}",
            attempt=attempt, inputs={"seed": self.draw(json_scalar)}))

    def node_progress(self) -> None:
        prompt = self.pick("running")
        if prompt.running:
            node_id = self.draw(st.sampled_from(sorted(prompt.running)))
            self.emit(prompt.prompt_id, NodeProgress(
                prompt_id=prompt.prompt_id, node_id=node_id, value=self.draw(st.integers(0, 4)),
                max=4))

    def node_finish(self) -> None:
        prompt = self.pick("running")
        if not prompt.running:
            return
        node_id = self.draw(st.sampled_from(sorted(prompt.running)))
        prompt.running.discard(node_id)
        attempt = prompt.attempts[node_id]
        if self.draw(st.integers(0, 3)) == 0:
            self.emit(prompt.prompt_id, NodeFailed(
                prompt_id=prompt.prompt_id, node_id=node_id, class_type=f"Class{node_id}",
                exception_type="RuntimeError", exception_message=self.draw(small_text),
                attempt=attempt, duration_s=0.5, retryable=self.draw(st.booleans())))
            return
        prompt.completed.add(node_id)
        ui = self.draw(st.none() | st.just({"text": [f"{node_id}-{attempt}"]}))
        self.emit(prompt.prompt_id, NodeCompleted(
            prompt_id=prompt.prompt_id, node_id=node_id, class_type=f"Class{node_id}",
            outputs=[[OutputItem("inline", "INT", None, self.draw(st.integers(0, 9)))],
                     [OutputItem("artifact", "IMAGE", "ab" * 32)]],
            ui=ui, attempt=attempt, duration_s=0.25, cache_key=self.draw(st.none() | small_text)))

    def provider(self) -> None:
        prompt = self.pick("running")
        node_id = self.draw(st.sampled_from(NODES))
        if self.draw(st.booleans()):
            self.emit(prompt.prompt_id, ProviderJobAccepted(
                prompt_id=prompt.prompt_id, node_id=node_id, provider="fake", job_id="job"))
            return
        self.emit(prompt.prompt_id, ProviderCallRecorded(
            prompt_id=prompt.prompt_id, node_id=node_id, provider="fake", method="POST",
            endpoint="/v1/generate", model=self.draw(st.none() | st.just("m1")),
            parameters={"steps": self.draw(st.integers(1, 50))},
            status=self.draw(st.sampled_from([200, 429, 500, None])),
            outcome=self.draw(st.sampled_from(["ok", "retried", "failed"])), latency_s=0.1,
            attempts=self.draw(st.integers(1, 3)), cost=self.draw(st.none() | st.just(0.02)),
            cost_unit="usd", idempotency_key=self.draw(st.none() | st.just("key"))))

    def end_run(self) -> None:
        prompt = self.pick("running")
        endings = ["failed", "interrupted"] + (["succeeded"] if not prompt.running else [])
        ending = self.draw(st.sampled_from(endings))
        executed = sorted(prompt.completed)
        if ending == "succeeded":
            event: Event = ExecutionSucceeded(prompt_id=prompt.prompt_id, executed=executed,
                                              duration_s=1.0)
        elif ending == "failed":
            node_id = self.draw(st.none() | st.sampled_from(NODES))
            event = ExecutionFailed(
                prompt_id=prompt.prompt_id, node_id=node_id,
                node_type=f"Class{node_id}" if node_id else None, exception_type="E",
                exception_message=self.draw(small_text), executed=executed)
        else:
            node_id = min(prompt.running) if prompt.running else None
            event = ExecutionInterrupted(prompt_id=prompt.prompt_id, node_id=node_id,
                                         node_type=f"Class{node_id}" if node_id else None,
                                         executed=executed)
        prompt.status = "finished"
        prompt.running.clear()
        self.emit(prompt.prompt_id, event)


def batches(events: list[tuple[str, Event]], sizes: list[int]) -> Iterator[list[AppendRequest]]:
    """Cut the log into append batches; each is one request per run of one stream's events."""
    index = 0
    for size in sizes:
        chunk = events[index:index + size]
        index += size
        if not chunk:
            return
        requests: list[AppendRequest] = []
        for stream_id, event in chunk:
            if requests and requests[-1].stream_id == stream_id:
                requests[-1].events.append(event)  # type: ignore[attr-defined]
                requests[-1].event_ids.append(uuid.uuid4().hex)
            else:
                requests.append(AppendRequest(stream_id, [event]))
        yield requests
    if index < len(events):
        yield from batches(events[index:], [len(events) - index])


TABLES = [table for name in ("prompts", "audit") for table in PROJECTION_TABLES[name]]


async def dump(engine: Any) -> dict[str, list[tuple]]:
    tables = {}
    async with engine.connect() as conn:
        for table in [*TABLES, projection_checkpoints]:
            query = sa.select(table).order_by(*table.primary_key.columns)
            tables[table.name] = [tuple(row) for row in await conn.execute(query)]
    return tables


async def live_then_rebuilt(path: Path, events: list[tuple[str, Event]], sizes: list[int]
                            ) -> tuple[dict[str, list[tuple]], dict[str, list[tuple]]]:
    url = sqlite_url(path)
    engine = create_engine(url)
    writer_engine = create_sqlite_writer_engine(url)
    try:
        store = SqlEventStore(engine, default_projections(), sync_engine=writer_engine)
        appended = 0
        for requests in batches(events, sizes):
            groups = await store.append_batch(requests)
            appended += sum(len(group) for group in groups)
        assert appended == len(events)
        live = await dump(engine)
        await rebuild(engine, SqlEventStore(engine), default_projections())
        return live, await dump(engine)
    finally:
        writer_engine.dispose()
        await engine.dispose()


@pytest.fixture(scope="module")
def template_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated, empty database that each example copies (faster than migrating each time)."""
    path = tmp_path_factory.mktemp("template") / "brushwork.db"

    async def migrate() -> None:
        engine = create_engine(sqlite_url(path))
        try:
            await db.upgrade(engine)
        finally:
            await engine.dispose()

    anyio.run(migrate)
    return path


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
def test_live_projections_equal_rebuild(template_db: Path, data: st.DataObject):
    builder = LogBuilder(data)
    for _ in range(data.draw(st.integers(1, 80), label="steps")):
        builder.step()
    sizes = data.draw(st.lists(st.integers(1, 12), max_size=40), label="batch sizes")
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "brushwork.db"
        shutil.copy(template_db, path)
        live, rebuilt = anyio.run(live_then_rebuilt, path, builder.events, sizes)
    for name in live:
        assert live[name] == rebuilt[name], f"table {name} differs after rebuild"


@pytest.fixture(scope="module")
def postgres_engine_url() -> Iterator[str]:
    """One migrated PostgreSQL database for the module (skipped when none is reachable)."""
    from tests.support.postgres import fresh_database

    databases = fresh_database()
    url = next(databases)

    async def migrate() -> None:
        engine = create_engine(url)
        try:
            await db.upgrade(engine)
        finally:
            await engine.dispose()

    anyio.run(migrate)
    yield url
    databases.close()


PG_TABLES = [*TABLES, *PROJECTION_TABLES["leases"]]


async def live_then_rebuilt_postgres(url: str, events: list[tuple[str, Event]], sizes: list[int]
                                     ) -> tuple[dict[str, list[tuple]], dict[str, list[tuple]]]:
    engine = create_engine(url)
    try:
        async with engine.begin() as conn:
            names = ", ".join(t.name for t in [*PG_TABLES, projection_checkpoints])
            await conn.execute(sa.text(f"TRUNCATE events, {names} RESTART IDENTITY"))
        projections = default_projections(leases=True)
        store = SqlEventStore(engine, projections)
        for requests in batches(events, sizes):
            await store.append_batch(requests)
        live = await dump_tables(engine, PG_TABLES)
        await rebuild(engine, SqlEventStore(engine), default_projections(leases=True))
        return live, await dump_tables(engine, PG_TABLES)
    finally:
        await engine.dispose()


async def dump_tables(engine: Any, tables: list[sa.Table]) -> dict[str, list[tuple]]:
    dumped = {}
    async with engine.connect() as conn:
        for table in [*tables, projection_checkpoints]:
            query = sa.select(table).order_by(*table.primary_key.columns)
            dumped[table.name] = [tuple(row) for row in await conn.execute(query)]
    return dumped


@pytest.mark.postgres
@settings(max_examples=20, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
def test_live_projections_equal_rebuild_postgres(postgres_engine_url: str,
                                                 data: st.DataObject):
    builder = LogBuilder(data)
    for _ in range(data.draw(st.integers(1, 60), label="steps")):
        builder.step()
    sizes = data.draw(st.lists(st.integers(1, 12), max_size=40), label="batch sizes")
    live, rebuilt = anyio.run(live_then_rebuilt_postgres, postgres_engine_url, builder.events,
                              sizes)
    for name in live:
        assert live[name] == rebuilt[name], f"table {name} differs after rebuild"
