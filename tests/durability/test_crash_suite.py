"""SIGKILL a real server at seeded random moments and check what survives.

One server at a time runs chains of slow nodes (one prompt at a time, as
ComfyUI does) while a client thread submits more. The process is killed
with SIGKILL at a moment drawn from the seed: in every other iteration
while the client is submitting, otherwise while the queue runs, and
sometimes again while the next process starts up and resumes. After each restart:

1. every acknowledged prompt (a 200 answer reached the client) is finished,
   running or queued, and prompts finish in the order they were submitted;
2. no node with a NodeCompleted event is started again later in its stream,
   no node runs again after its completion was committed, and every run cut
   by the kill resumes (its stream gets ExecutionStarted with resumed=true);
3. at the end, the projections equal a rebuild of a copy of the database
   by ``brushwork projections rebuild``, table by table and row by row.

Set BRUSHWORK_CRASH_SEED to replay one sequence of kill moments (the
moments are seeded; how far the server got by then depends on the machine).
"""

from __future__ import annotations

import http.client
import os
import random
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from brushwork.projections.schema import PROJECTION_TABLES
from tests.support.log import read_events, run_log
from tests.support.server import REPO, ServerProcess, wait_for

SEED = int(os.environ.get("BRUSHWORK_CRASH_SEED", "20261204"))
ITERATIONS = 8
SERVER_ARGS = ("--max-crash-resumes", "1000")  # kills here are not the run's fault
TERMINAL = {"ExecutionSucceeded", "ExecutionFailed", "ExecutionInterrupted", "PromptDeleted"}


def chain(value: int, first: float, second: float) -> dict[str, Any]:
    return {
        "1": {"class_type": "TestConstant", "inputs": {"value": value}},
        "2": {"class_type": "TestSlowAdd", "inputs": {"a": ["1", 0], "b": 1, "seconds": first}},
        "3": {"class_type": "TestSlowAdd", "inputs": {"a": ["2", 0], "b": 2,
                                                      "seconds": second}},
        "4": {"class_type": "TestOutput", "inputs": {"value": ["3", 0]}},
    }


@dataclass
class Submissions:
    """Prompts in the order the client sent them, and those that got a 200 response."""

    attempted: list[tuple[str, int]] = field(default_factory=list)
    acknowledged: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


class Submitter(threading.Thread):
    """Posts prompts one after another until done or until the server dies under it."""

    def __init__(self, server: ServerProcess, submissions: Submissions, count: int,
                 rng: random.Random) -> None:
        super().__init__(daemon=True)
        self.server = server
        self.submissions = submissions
        self.count = count
        self.rng = rng

    def run(self) -> None:
        for _ in range(self.count):
            prompt_id = str(uuid.UUID(int=self.rng.getrandbits(128), version=4))
            value = len(self.submissions.attempted)
            body = {"prompt": chain(value, self.rng.uniform(0.05, 0.3),
                                    self.rng.uniform(0.05, 0.3)),
                    "prompt_id": prompt_id}
            self.submissions.attempted.append((prompt_id, value))
            try:
                status, answer = self.server.post("/prompt", body)
            except (OSError, http.client.HTTPException):
                return  # killed under the request: not acknowledged
            if status != 200:
                self.submissions.errors.append(f"POST /prompt answered {status}: {answer}")
                return
            self.submissions.acknowledged.append(prompt_id)
            time.sleep(self.rng.uniform(0, 0.15))  # client pacing, not a check


def streams_cut(events: list[dict[str, Any]]) -> set[str]:
    """Streams with a run started and not ended: the kill cut them."""
    started: set[str] = set()
    ended: set[str] = set()
    for event in events:
        if event["type"] == "ExecutionStarted":
            started.add(event["stream"])
        elif event["type"] in TERMINAL:
            ended.add(event["stream"])
    return started - ended


def resumed_after(events: list[dict[str, Any]], stream: str, position: int) -> bool:
    return any(e["stream"] == stream and e["type"] == "ExecutionStarted" and e.get("resumed")
               and e["position"] > position for e in events)


def starts_after_completion(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    completed: set[tuple[str, str]] = set()
    violations = []
    for event in events:
        key = (event["stream"], event.get("node_id"))
        if event["type"] == "NodeCompleted":
            completed.add(key)
        elif event["type"] == "NodeStarted" and key in completed:
            violations.append(event)
    return violations


def runs_after_completion(events: list[dict[str, Any]], runs: Path) -> list[tuple]:
    """Executions recorded by the nodes with an attempt later than the committed completion."""
    completed_attempt = {(e["stream"], e["node_id"]): e.get("attempt", 1)
                         for e in events if e["type"] == "NodeCompleted"}
    return [(prompt_id, node_id, attempt) for prompt_id, node_id, _, attempt in run_log(runs)
            if attempt > completed_attempt.get((prompt_id, node_id), attempt)]


def queued_or_finished(server: ServerProcess) -> set[str]:
    queue = server.get("/queue")  # read before /history: a prompt can only move forward
    history = server.get("/history")
    active = {item[1] for item in queue["queue_running"] + queue["queue_pending"]}
    return active | set(history)


def table_rows(database: Path) -> dict[str, list[tuple]]:
    tables = [t for name in ("prompts", "audit") for t in PROJECTION_TABLES[name]]
    with sqlite3.connect(database) as conn:
        return {
            table.name: conn.execute(
                f"SELECT * FROM {table.name} ORDER BY "
                + ", ".join(c.name for c in table.primary_key.columns)).fetchall()
            for table in tables
        }


def rebuilt_copy(data_dir: Path, copy_dir: Path) -> Path:
    copy_dir.mkdir()
    with sqlite3.connect(data_dir / "brushwork.db") as source, \
            sqlite3.connect(copy_dir / "brushwork.db") as target:
        source.backup(target)
    result = subprocess.run(
        [sys.executable, "-m", "brushwork.cli", "projections", "rebuild", "--data-dir",
         str(copy_dir)], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    return copy_dir / "brushwork.db"


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_crash_suite(server_factory, tmp_path):
    rng = random.Random(SEED)
    print(f"crash suite seed {SEED} (set BRUSHWORK_CRASH_SEED to replay)")
    data_dir = tmp_path / "data"
    runs = tmp_path / "runs.log"
    env = {"BRUSHWORK_TEST_RUN_LOG": str(runs)}

    def start(**kwargs: Any) -> ServerProcess:
        return server_factory(*SERVER_ARGS, data_dir=data_dir, env=env, **kwargs)

    submissions = Submissions()
    kills_while_submitting = 0
    runs_cut = 0
    server = start()
    for iteration in range(ITERATIONS):
        # Even iterations kill the server while the client is still submitting;
        # odd ones send a few prompts, then kill while the queue runs.
        during_submission = iteration % 2 == 0
        count = 10_000 if during_submission else rng.randint(2, 5)
        submitter = Submitter(server, submissions, count, random.Random(rng.getrandbits(64)))
        submitter.start()
        if not during_submission:
            submitter.join(30)
        delay = rng.uniform(0.1, 0.8) if during_submission else rng.uniform(0.0, 1.5)
        time.sleep(delay)  # the kill moment, drawn from the seed
        submitting = submitter.is_alive()
        server.kill()
        submitter.join(30)
        assert not submitter.is_alive(), "the client thread hung on a killed server"
        assert submissions.errors == []

        events = read_events(data_dir)
        killed_at = max((e["position"] for e in events), default=0)
        cut = streams_cut(events)
        kills_while_submitting += submitting
        runs_cut += len(cut)
        startup_kill = rng.random() < 0.3
        print(f"iteration {iteration}: kill after {delay:.2f} s, submitting={submitting}, "
              f"runs cut={len(cut)}, kill during next startup={startup_kill}")
        if startup_kill:
            doomed = start(wait_ready=False)
            time.sleep(rng.uniform(0.3, 2.0))  # a moment during start-up or resume
            doomed.kill()
        server = start()

        present = queued_or_finished(server)
        lost = [p for p in submissions.acknowledged if p not in present]
        assert lost == [], f"acknowledged prompts lost by the kill (seed {SEED})"
        for prompt_id in cut:
            wait_for(lambda p=prompt_id, k=killed_at: resumed_after(read_events(data_dir), p, k))
        assert starts_after_completion(read_events(data_dir)) == []

    wait_for(lambda: server.get("/prompt")["exec_info"]["queue_remaining"] == 0, timeout=120)
    events = read_events(data_dir)
    history = server.get("/history")
    queued = [e["stream"] for e in events if e["type"] == "PromptQueued"]
    sent_order = [prompt_id for prompt_id, _ in submissions.attempted]

    assert kills_while_submitting >= 1
    assert runs_cut >= 2
    assert set(submissions.acknowledged) <= set(history)
    assert set(history) == set(queued)
    assert list(history) == [p for p in sent_order if p in history]
    values = dict(submissions.attempted)
    for prompt_id, entry in history.items():
        assert entry["status"]["status_str"] == "success", entry["status"]
        assert entry["outputs"]["4"] == {"text": [str(values[prompt_id] + 3)]}
    assert starts_after_completion(events) == []
    assert runs_after_completion(events, runs) == []
    completions = [(e["stream"], e["node_id"]) for e in events if e["type"] == "NodeCompleted"]
    assert len(completions) == len(set(completions)) == 4 * len(history)

    server.stop()
    live = table_rows(data_dir / "brushwork.db")
    rebuilt = table_rows(rebuilt_copy(data_dir, tmp_path / "rebuilt"))
    for name, rows in live.items():
        assert rows == rebuilt[name], f"table {name} differs from its rebuild"
    assert len(live["prompt_view"]) == len(history)
