"""Restart time on a big log: from process start to the first NodeStarted of the resumed run.

    python benchmarks/bench_restart.py [--prompts 41666] [--runs 5] [--db PATH]

Builds a SQLite log of about one million events: 41,666 finished ten-node
runs of 24 events each, then one run cut by a crash (its first node
completed, its second node started). The events are inserted in bulk with
sqlite3, then brushwork's own projection code folds them (the same catch-up
a server runs on start), so the queue, history and audit tables are up to
date, as after a crash. ``--db`` keeps the built database for later runs.

Then it measures, ``--runs`` times each:

- serve: a `brushwork serve` process, from Popen to the resumed run's
  NodeStarted being committed (polled in the database every 2 ms);
- runtime: ``Runtime`` entered in this process (imports already done), to
  the same NodeStarted;
- imports: a Python process that only imports what `brushwork serve`
  imports, the share of the serve figure that no log size changes.

Each measurement leaves the run cut again, because the process is killed
or the Runtime is left while the node sleeps. The next measurement resumes
it too, and --max-crash-resumes 1000 keeps any resume from being refused.
Figures depend on the machine, its disk and its page cache (warm here,
as after a process crash; a reboot would make the first read slower).
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import anyio

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from brushwork import db  # noqa: E402
from brushwork.engine.registry import NodeRegistry  # noqa: E402
from brushwork.events.codec import encode_event  # noqa: E402
from brushwork.events.database import create_engine, sqlite_url  # noqa: E402
from brushwork.events.sql import SqlEventStore  # noqa: E402
from brushwork.events.types import (  # noqa: E402
    Event,
    ExecutionStarted,
    NodeCached,
    NodeCompleted,
    NodeStarted,
    OutputItem,
    PromptQueued,
)
from brushwork.logs import configure  # noqa: E402
from brushwork.projections.runner import catch_up, default_projections  # noqa: E402
from brushwork.runtime import Runtime  # noqa: E402
from brushwork.settings import Settings  # noqa: E402

sys.path.insert(0, str(REPO / "benchmarks"))
from bench_append import run_events  # noqa: E402

CUT_PROMPT = "00000000-0000-4000-8000-00000000c0de"
CUT_GRAPH = {
    "1": {"class_type": "TestConstant", "inputs": {"value": 5}},
    "2": {"class_type": "TestAsyncSleep", "inputs": {"value": ["1", 0], "seconds": 60}},
    "3": {"class_type": "TestOutput", "inputs": {"value": ["2", 0]}},
}
SERVE_ARGS = ("--extra-nodes", "tests.support.nodes", "--max-crash-resumes", "1000",
              "--log-level", "warning")


def cut_run(number: int) -> list[Event]:
    """Return the events of a run that a crash cut while its second node ran."""
    return [
        PromptQueued(prompt_id=CUT_PROMPT, number=number, prompt=CUT_GRAPH, extra_data={},
                     outputs_to_execute=["3"]),
        ExecutionStarted(prompt_id=CUT_PROMPT, worker_id="crashed"),
        NodeCached(prompt_id=CUT_PROMPT, node_ids=[]),
        NodeStarted(prompt_id=CUT_PROMPT, node_id="1", class_type="TestConstant"),
        NodeCompleted(prompt_id=CUT_PROMPT, node_id="1", class_type="TestConstant",
                      outputs=[[OutputItem("inline", "INT", None, 5)]]),
        NodeStarted(prompt_id=CUT_PROMPT, node_id="2", class_type="TestAsyncSleep"),
    ]


def rows_of(stream_id: str, events: list[Event], position: int) -> list[tuple[Any, ...]]:
    return [(position + offset, uuid.uuid4().hex, stream_id, version, type(event).__name__,
             event.schema_version, encode_event(event), 1_700_000_000.0 + position + offset)
            for offset, (version, event) in enumerate(enumerate(events, start=1))]


def insert_events(path: Path, prompts: int) -> int:
    """Insert the runs with plain sqlite3, 100,000 rows per transaction; return the count."""
    insert = ("INSERT INTO events (position, event_id, stream_id, version, type, "
              "schema_version, payload, recorded_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)")
    position = 1
    pending: list[tuple[Any, ...]] = []
    with sqlite3.connect(path) as conn:
        for number in range(prompts):
            prompt_id = str(uuid.UUID(int=number + 1, version=4))
            pending += rows_of(prompt_id, run_events(prompt_id, number), position)
            position += 24
            if len(pending) >= 100_000:
                conn.executemany(insert, pending)
                conn.commit()
                pending.clear()
        pending += rows_of(CUT_PROMPT, cut_run(prompts), position)
        conn.executemany(insert, pending)
        conn.commit()
        return pending[-1][0]


async def build(path: Path, prompts: int) -> tuple[int, float, float]:
    engine = create_engine(sqlite_url(path))
    try:
        await db.upgrade(engine)
        began = time.perf_counter()
        count = await anyio.to_thread.run_sync(insert_events, path, prompts)
        inserted = time.perf_counter() - began
        began = time.perf_counter()
        await catch_up(engine, SqlEventStore(engine), default_projections())
        return count, inserted, time.perf_counter() - began
    finally:
        await engine.dispose()


def resumed_node_started(conn: sqlite3.Connection, after: int) -> bool:
    row = conn.execute(
        "SELECT 1 FROM events WHERE stream_id = ? AND position > ? AND type = 'NodeStarted' "
        "LIMIT 1", (CUT_PROMPT, after)).fetchone()
    return row is not None


def log_end(path: Path) -> int:
    with sqlite3.connect(path) as conn:
        return conn.execute("SELECT max(position) FROM events").fetchone()[0]


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def time_serve(data_dir: Path) -> float:
    after = log_end(data_dir / "brushwork.db")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    command = [sys.executable, "-m", "brushwork.cli", "serve", "--port", str(free_port()),
               "--data-dir", str(data_dir), *SERVE_ARGS]
    with sqlite3.connect(data_dir / "brushwork.db") as conn:
        began = time.perf_counter()
        process = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL)
        try:
            while not resumed_node_started(conn, after):
                if process.poll() is not None:
                    raise RuntimeError(f"brushwork serve exited with {process.returncode}")
                if time.perf_counter() - began > 120:
                    raise RuntimeError("the run did not resume within 120 s")
                time.sleep(0.002)
            return time.perf_counter() - began
        finally:
            process.send_signal(signal.SIGKILL)
            process.wait()


async def time_runtime(data_dir: Path) -> float:
    from tests.support import nodes as test_nodes

    after = log_end(data_dir / "brushwork.db")
    settings = Settings(data_dir=data_dir, max_crash_resumes=1000)
    began = time.perf_counter()
    async with Runtime(settings, NodeRegistry(test_nodes.NODE_CLASSES)) as rt:
        while True:
            records = await rt.store.read_all(after=after, limit=100)
            if any(isinstance(r.event, NodeStarted) for r in records):
                return time.perf_counter() - began
            await anyio.sleep(0.001)


def time_imports() -> float:
    began = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import brushwork.cli, brushwork.cli_impl, "
                    "brushwork.runtime, brushwork.http.app, tests.support.nodes"],
                   cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)}, check=True)
    return time.perf_counter() - began


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--prompts", type=int, default=41_666,
                        help="finished runs of 24 events in the log (default 41666: about "
                             "one million events)")
    parser.add_argument("--runs", type=int, default=5, help="measurements of each kind")
    parser.add_argument("--db", type=Path, default=None,
                        help="keep the built database here and reuse it when it exists")
    args = parser.parse_args()
    configure("console", "warning")

    with tempfile.TemporaryDirectory(prefix="brushwork-restart-") as scratch:
        data_dir = Path(scratch) / "data"
        Settings(data_dir=data_dir).paths.create()
        database = data_dir / "brushwork.db"
        if args.db is not None and args.db.exists():
            shutil.copy(args.db, database)
            print(f"reused {args.db}")
        else:
            count, inserted, folded = anyio.run(build, database, args.prompts)
            print(f"built a log of {count} events: {inserted:.1f} s to insert, "
                  f"{folded:.1f} s to fold the projections")
            if args.db is not None:
                shutil.copy(database, args.db)
        events = log_end(database)
        size = database.stat().st_size / 2**20

        results = {"serve": [], "runtime": [], "imports": []}
        for _ in range(args.runs):
            results["serve"].append(time_serve(data_dir))
            results["runtime"].append(anyio.run(time_runtime, data_dir))
            results["imports"].append(time_imports())

    print(f"log: {events} events, {size:.0f} MiB; {args.runs} runs each; seconds")
    print(f"{'measure':10} {'median':>7} {'min':>7} {'max':>7}")
    for name, values in results.items():
        print(f"{name:10} {statistics.median(values):>7.3f} {min(values):>7.3f} "
              f"{max(values):>7.3f}")


if __name__ == "__main__":
    main()
