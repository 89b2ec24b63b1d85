"""Crash resume, poison runs and idempotent submission against real server processes."""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections import Counter
from pathlib import Path

from tests.support.log import read_events, run_log
from tests.support.server import REPO, wait_for


def slow_chain(first: float, second: float) -> dict:
    return {
        "1": {"class_type": "TestConstant", "inputs": {"value": 2}},
        "2": {"class_type": "TestSlowAdd", "inputs": {"a": ["1", 0], "b": 3, "seconds": first}},
        "3": {"class_type": "TestSlowAdd", "inputs": {"a": ["2", 0], "b": 4, "seconds": second}},
        "4": {"class_type": "TestOutput", "inputs": {"value": ["3", 0]}},
    }


def node_completed(data_dir: Path, prompt_id: str, node_id: str) -> bool:
    return any(e["type"] == "NodeCompleted" and e["stream"] == prompt_id
               and e["node_id"] == node_id for e in read_events(data_dir))


def test_crash_resumes_at_first_unfinished_node(server_factory, tmp_path):
    runs = tmp_path / "runs.log"
    env = {"BRUSHWORK_TEST_RUN_LOG": str(runs)}
    server = server_factory(env=env)
    status, answer = server.post("/prompt", {"prompt": slow_chain(0.2, 4.0)})
    assert status == 200
    prompt_id = answer["prompt_id"]
    wait_for(lambda: node_completed(server.data_dir, prompt_id, "2"))
    wait_for(lambda: any(e["type"] == "NodeStarted" and e.get("node_id") == "3"
                         for e in read_events(server.data_dir)))
    server.kill()

    again = server_factory(data_dir=server.data_dir, env=env)
    entry = wait_for(lambda: again.get(f"/history/{prompt_id}").get(prompt_id))
    assert entry["status"]["status_str"] == "success"
    assert entry["outputs"]["4"] == {"text": ["9"]}
    counts = Counter((node, name) for pid, node, name, _ in run_log(runs) if pid == prompt_id)
    assert counts[("2", "TestSlowAdd")] == 1
    assert counts[("3", "TestSlowAdd")] == 1  # the killed attempt never reached its log line
    attempts = again.get(f"/audit/{prompt_id}")["node_attempts"]
    third = [(a["attempt"], a["status"]) for a in attempts if a["node_id"] == "3"]
    assert third == [(1, "aborted"), (2, "completed")]


def test_poison_run_fails_then_resumes_by_hand(server_factory, tmp_path):
    marker = tmp_path / "crash-marker"
    marker.write_text("present")
    prompt = {
        "1": {"class_type": "TestConstant", "inputs": {"value": 5}},
        "2": {"class_type": "TestCrashProcess", "inputs": {"value": ["1", 0],
                                                           "marker": str(marker)}},
        "3": {"class_type": "TestOutput", "inputs": {"value": ["2", 0]}},
    }
    server = server_factory("--max-crash-resumes", "2")
    prompt_id = server.post("/prompt", {"prompt": prompt})[1]["prompt_id"]
    wait_for(lambda: server.process.poll() is not None)

    def finished(candidate):
        try:
            return candidate.get(f"/history/{prompt_id}").get(prompt_id)
        except OSError:
            return None  # not listening yet

    # Each resume brings the process down again, until the limit fails the run.
    # The first run did not wait for its ExecutionStarted commit, so the crash
    # may have beaten that commit: then one more start crashes first.
    crashes_after_restart = 0
    while True:
        candidate = server_factory("--max-crash-resumes", "2", data_dir=server.data_dir,
                                   wait_ready=False)
        entry = wait_for(lambda c=candidate: c.process.poll() is not None or finished(c))
        if candidate.process.poll() is None:
            survivor = candidate
            break
        crashes_after_restart += 1
        assert crashes_after_restart <= 3
    assert crashes_after_restart in (2, 3)
    error = entry["status"]["messages"][-1][1]
    assert entry["status"]["status_str"] == "error"
    assert "resumed 2 times" in error["exception_message"]
    assert f"brushwork resume {prompt_id}" in error["exception_message"]
    survivor.stop()

    marker.unlink()
    result = subprocess.run(
        [sys.executable, "-m", "brushwork.cli", "resume", prompt_id, "--data-dir",
         str(server.data_dir)], capture_output=True, text=True, cwd=REPO, timeout=60)
    assert result.returncode == 0, result.stderr
    final = server_factory("--max-crash-resumes", "2", data_dir=server.data_dir)
    entry = wait_for(lambda: (h := final.get(f"/history/{prompt_id}").get(prompt_id))
                     and h["status"]["completed"] and h)
    assert entry["outputs"]["3"] == {"text": ["5"]}


def test_same_prompt_id_queues_once_across_restarts(server_factory):
    server = server_factory()
    prompt_id = str(uuid.uuid4())
    body = {"prompt": slow_chain(0.0, 0.0), "prompt_id": prompt_id}
    first = server.post("/prompt", body)
    second = server.post("/prompt", body)
    assert first == second
    assert first[0] == 200
    wait_for(lambda: server.get(f"/history/{prompt_id}"))
    server.stop()
    again = server_factory(data_dir=server.data_dir)
    assert again.post("/prompt", body) == first
    assert len(again.get("/history")) == 1
    queued = [e for e in read_events(again.data_dir) if e["type"] == "PromptQueued"]
    assert len(queued) == 1


def test_concurrent_same_prompt_id_queues_once(server_factory):
    import threading

    server = server_factory()
    prompt_id = str(uuid.uuid4())
    body = {"prompt": slow_chain(0.05, 0.0), "prompt_id": prompt_id}
    answers: list[tuple[int, object]] = []

    def submit() -> None:
        answers.append(server.post("/prompt", body))

    threads = [threading.Thread(target=submit) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [status for status, _ in answers] == [200] * 16
    assert {answer["prompt_id"] for _, answer in answers} == {prompt_id}
    wait_for(lambda: server.get(f"/history/{prompt_id}"))
    queued = [e for e in read_events(server.data_dir) if e["type"] == "PromptQueued"]
    assert len(queued) == 1
