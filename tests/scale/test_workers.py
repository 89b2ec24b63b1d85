"""Two API servers and three workers on one PostgreSQL log, with a worker killed mid-run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections import Counter, defaultdict

import pytest

from tests.support.postgres import read_events
from tests.support.server import REPO, wait_for

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

PROMPTS = 300
WATCHER = "watcher"


def start_worker(url: str, data_dir, log_path, index: int) -> subprocess.Popen:
    command = [sys.executable, "-m", "brushwork.cli", "worker", "--database-url", url,
               "--data-dir", str(data_dir), "--extra-nodes", "tests.support.nodes",
               "--lease-seconds", "3", "--log-level", "warning"]
    log = open(log_path / f"worker-{index}.log", "ab")
    return subprocess.Popen(command, stdout=log, stderr=log, cwd=REPO,
                            env={**os.environ, "PYTHONPATH": str(REPO)})


def chain(index: int) -> dict:
    return {
        "1": {"class_type": "TestConstant", "inputs": {"value": index}},
        "2": {"class_type": "TestSlowAdd", "inputs": {"a": ["1", 0], "b": 1, "seconds": 0.05}},
        "3": {"class_type": "TestOutput", "inputs": {"value": ["2", 0]}},
    }


class Watcher(threading.Thread):
    """A websocket client that records which prompts it saw succeed and finish."""

    def __init__(self, server) -> None:
        super().__init__(daemon=True)
        self.ws = server.websocket(WATCHER)
        self.ws.settimeout(1.0)
        self.seen: dict[str, list[str]] = defaultdict(list)
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                frame = self.ws.recv()
            except Exception:  # recv timeout: look at the stop flag again
                continue
            if isinstance(frame, bytes):
                continue
            message = json.loads(frame)
            prompt_id = message.get("data", {}).get("prompt_id")
            if prompt_id:
                self.seen[prompt_id].append(message["type"])


def test_workers_share_queue_and_survive_kill(server_factory, postgres_url, tmp_path):
    data_dir = tmp_path / "shared"
    api = [server_factory("--no-worker", "--database-url", postgres_url, data_dir=data_dir)
           for _ in range(2)]
    watchers = [Watcher(server) for server in api]
    for watcher in watchers:
        watcher.start()
    workers = [start_worker(postgres_url, data_dir, tmp_path, index) for index in range(3)]
    try:
        ids = []
        for index in range(PROMPTS):
            status, answer = api[index % 2].post(
                "/prompt", {"prompt": chain(index), "client_id": WATCHER})
            assert status == 200
            ids.append(answer["prompt_id"])

        wait_for(lambda: len(api[0].get("/history")) >= PROMPTS // 3, timeout=120)
        workers[0].kill()
        workers[0].wait(10)
        history = wait_for(lambda: (h := api[1].get("/history")) and len(h) >= PROMPTS and h,
                           timeout=240)
        time.sleep(0.5)
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.terminate()
                worker.wait(20)
        for watcher in watchers:
            watcher.stop.set()

    assert sorted(history) == sorted(ids)
    assert all(entry["status"]["completed"] for entry in history.values())
    outputs = {pid: history[pid]["outputs"]["3"]["text"] for pid in ids}
    assert all(outputs[pid] == [str(index + 1)] for index, pid in enumerate(ids))

    events = read_events(postgres_url)
    finished = Counter(e["stream"] for e in events if e["type"] == "ExecutionSucceeded")
    assert set(finished) == set(ids)
    assert max(finished.values()) == 1
    completed: set[tuple[str, str]] = set()
    for event in events:
        key = (event["stream"], event.get("node_id"))
        if event["type"] == "NodeStarted":
            assert key not in completed, f"node {key} ran again after it completed"
        elif event["type"] == "NodeCompleted":
            completed.add(key)
    workers_seen = {e["worker_id"] for e in events if e["type"] == "ExecutionStarted"}
    assert len(workers_seen) == 3

    for watcher in watchers:
        missing = [pid for pid in ids if "execution_success" not in watcher.seen.get(pid, [])]
        assert missing == [], f"a websocket client missed {len(missing)} runs"
