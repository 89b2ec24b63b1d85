"""Logs written under schema version 1 of NodeCompleted, read by today's code.

Version 1 stored a flat ``output_hashes`` list (one artifact hash or inline
scalar per output slot). The rows here are written straight into the events
table, as an older brushwork would have left them; nothing rewrites them.
"""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import anyio
import pytest
import sqlalchemy as sa

from brushwork import db
from brushwork.engine.artifacts import ArtifactStore
from brushwork.engine.registry import NodeRegistry
from brushwork.events.codec import encode_event
from brushwork.events.database import create_engine, sqlite_url
from brushwork.events.schema import events as events_table
from brushwork.events.sql import SqlEventStore
from brushwork.events.types import (
    Event,
    ExecutionStarted,
    ExecutionSucceeded,
    NodeCached,
    NodeCompleted,
    NodeStarted,
    OutputItem,
    PromptQueued,
)
from brushwork.runtime import Runtime
from brushwork.settings import Settings
from tests.support import nodes as test_nodes
from tests.support.server import REPO

PROMPT = {
    "1": {"class_type": "TestConstant", "inputs": {"value": 5}},
    "2": {"class_type": "TestAdd", "inputs": {"a": ["1", 0], "b": 2}},
    "3": {"class_type": "TestOutput", "inputs": {"value": ["2", 0]}},
}


def v1_completed(prompt_id: str, node_id: str, class_type: str, output_hashes: list[Any],
                 ui: dict[str, Any] | None = None) -> dict[str, Any]:
    """A NodeCompleted payload as schema version 1 encoded it."""
    payload: dict[str, Any] = {"type": "NodeCompleted", "prompt_id": prompt_id,
                               "node_id": node_id, "class_type": class_type,
                               "output_hashes": output_hashes, "attempt": 1,
                               "duration_s": 0.01}
    if ui is not None:
        payload["ui"] = ui
    return payload


def write_log(data_dir: Path, prompt_id: str, entries: list[Event | dict[str, Any]]) -> None:
    """Write one stream straight into a fresh log; dicts are version-1 NodeCompleted payloads."""

    async def write() -> None:
        Settings(data_dir=data_dir).paths.create()
        engine = create_engine(sqlite_url(data_dir / "brushwork.db"))
        try:
            await db.upgrade(engine)
            rows = []
            for version, entry in enumerate(entries, start=1):
                if isinstance(entry, dict):
                    kind, schema_version, payload = "NodeCompleted", 1, json.dumps(entry).encode()
                else:
                    kind, schema_version = type(entry).__name__, entry.schema_version
                    payload = encode_event(entry)
                rows.append({"event_id": uuid.uuid4().hex, "stream_id": prompt_id,
                             "version": version, "type": kind,
                             "schema_version": schema_version, "payload": payload,
                             "recorded_at": 1_700_000_000.0 + version})
            async with engine.begin() as conn:
                await conn.execute(sa.insert(events_table), rows)
        finally:
            await engine.dispose()

    anyio.run(write)


def queued(prompt_id: str, prompt: dict[str, Any]) -> PromptQueued:
    return PromptQueued(prompt_id=prompt_id, number=0, prompt=prompt, extra_data={},
                        outputs_to_execute=["3"])


def finished_v1_run(prompt_id: str) -> list[Event | dict[str, Any]]:
    return [
        queued(prompt_id, PROMPT),
        ExecutionStarted(prompt_id=prompt_id),
        NodeCached(prompt_id=prompt_id, node_ids=[]),
        NodeStarted(prompt_id=prompt_id, node_id="1", class_type="TestConstant"),
        v1_completed(prompt_id, "1", "TestConstant", [5]),
        NodeStarted(prompt_id=prompt_id, node_id="2", class_type="TestAdd"),
        v1_completed(prompt_id, "2", "TestAdd", [7]),
        NodeStarted(prompt_id=prompt_id, node_id="3", class_type="TestOutput"),
        v1_completed(prompt_id, "3", "TestOutput", [], ui={"text": ["7"]}),
        ExecutionSucceeded(prompt_id=prompt_id, executed=["1", "2", "3"]),
    ]


async def read(data_dir: Path, prompt_id: str) -> tuple[list, list]:
    engine = create_engine(sqlite_url(data_dir / "brushwork.db"))
    try:
        store = SqlEventStore(engine)
        return await store.read_stream(prompt_id), await store.read_all(after=0, limit=100)
    finally:
        await engine.dispose()


def brushwork(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "brushwork.cli", *args], capture_output=True,
                          text=True, cwd=REPO, timeout=60)


def test_read_stream_upcasts_outputs(tmp_path):
    prompt_id = str(uuid.uuid4())
    digest = "ab" * 32
    write_log(tmp_path, prompt_id, [
        queued(prompt_id, PROMPT),
        v1_completed(prompt_id, "1", "LoadImage", [digest, 5, 0.5, True, None]),
    ])
    records, _ = anyio.run(read, tmp_path, prompt_id)
    event = records[1].event
    assert isinstance(event, NodeCompleted)
    assert event.outputs == [
        [OutputItem("artifact", "*", digest, None)],
        [OutputItem("inline", "*", None, 5)],
        [OutputItem("inline", "*", None, 0.5)],
        [OutputItem("inline", "*", None, True)],
        [OutputItem("inline", "*", None, None)],
    ]
    assert (event.node_id, event.class_type, event.attempt) == ("1", "LoadImage", 1)


def test_inline_string_stays_inline(tmp_path):
    """A version-1 string that is not a sha256 was an inline scalar, not an artifact name."""
    prompt_id = str(uuid.uuid4())
    write_log(tmp_path, prompt_id, [
        queued(prompt_id, PROMPT),
        v1_completed(prompt_id, "1", "TestConstant", ["a cat, oil painting"]),
    ])
    records, _ = anyio.run(read, tmp_path, prompt_id)
    assert records[1].event.outputs == [[OutputItem("inline", "*", None, "a cat, oil painting")]]


def test_read_all_upcasts_outputs(tmp_path):
    prompt_id = str(uuid.uuid4())
    write_log(tmp_path, prompt_id, finished_v1_run(prompt_id))
    by_stream, everything = anyio.run(read, tmp_path, prompt_id)
    assert [r.event for r in everything] == [r.event for r in by_stream]
    completed = [r.event for r in everything if isinstance(r.event, NodeCompleted)]
    assert [e.outputs for e in completed] == [
        [[OutputItem("inline", "*", None, 5)]],
        [[OutputItem("inline", "*", None, 7)]],
        [],
    ]
    assert completed[2].ui == {"text": ["7"]}


def test_replay_verifies_v1_artifacts(tmp_path):
    data_dir = tmp_path / "data"
    digest = ArtifactStore(data_dir / "artifacts").put(b"pixels of an old run")
    prompt_id = str(uuid.uuid4())
    prompt = {"1": {"class_type": "OldLoader", "inputs": {}}}
    write_log(data_dir, prompt_id, [
        queued(prompt_id, prompt),
        ExecutionStarted(prompt_id=prompt_id),
        NodeStarted(prompt_id=prompt_id, node_id="1", class_type="OldLoader"),
        v1_completed(prompt_id, "1", "OldLoader", [digest, 3]),
        ExecutionSucceeded(prompt_id=prompt_id, executed=["1"]),
    ])
    result = brushwork("replay", prompt_id, "--data-dir", str(data_dir), "--json")
    assert result.returncode == 0, result.stderr
    replay = json.loads(result.stdout)
    assert replay["status"] == "success"
    assert replay["missing_or_corrupt_artifacts"] == []
    (node,) = replay["nodes"]
    assert node["outcome"] == "completed"
    assert node["verified"] is True
    assert node["outputs"] == [[{"kind": "artifact", "type": "*", "sha256": digest}],
                               [{"kind": "inline", "type": "*", "value": 3}]]


def test_replay_reports_missing_v1_artifact(tmp_path):
    data_dir = tmp_path / "data"
    prompt_id = str(uuid.uuid4())
    digest = "cd" * 32
    write_log(data_dir, prompt_id, [
        queued(prompt_id, {"1": {"class_type": "OldLoader", "inputs": {}}}),
        v1_completed(prompt_id, "1", "OldLoader", [digest]),
    ])
    result = brushwork("replay", prompt_id, "--data-dir", str(data_dir), "--json")
    assert result.returncode == 1, result.stderr
    assert json.loads(result.stdout)["missing_or_corrupt_artifacts"] == [digest]


def test_replay_re_executes_v1_run(tmp_path):
    data_dir = tmp_path / "data"
    prompt_id = str(uuid.uuid4())
    write_log(data_dir, prompt_id, finished_v1_run(prompt_id))
    result = brushwork("replay", prompt_id, "--data-dir", str(data_dir), "--re-execute",
                       "--extra-nodes", "tests.support.nodes")
    assert result.returncode == 0, result.stdout + result.stderr
    verdicts = [line.split() for line in result.stdout.splitlines()
                if line.strip()[:1].isdigit() and ("match" in line or "differs" in line)]
    assert [(v[0], v[2]) for v in verdicts] == [("1", "match"), ("2", "match"), ("3", "match")]


@pytest.mark.asyncio
async def test_crashed_v1_run_resumes(tmp_path):
    """A run cut by a crash under version 1 resumes from its version-1 completions."""
    data_dir = tmp_path / "data"
    prompt_id = str(uuid.uuid4())
    await anyio.to_thread.run_sync(write_log, data_dir, prompt_id, [
        queued(prompt_id, PROMPT),
        ExecutionStarted(prompt_id=prompt_id),
        NodeCached(prompt_id=prompt_id, node_ids=[]),
        NodeStarted(prompt_id=prompt_id, node_id="1", class_type="TestConstant"),
        v1_completed(prompt_id, "1", "TestConstant", [5]),
        NodeStarted(prompt_id=prompt_id, node_id="2", class_type="TestAdd"),
    ])
    registry = NodeRegistry(test_nodes.NODE_CLASSES)
    async with Runtime(Settings(data_dir=data_dir), registry) as rt:
        with anyio.fail_after(30):
            await rt.scheduler.wait_idle()
        records = await rt.store.read_stream(prompt_id)
        history = await rt.reader.history(prompt_id=prompt_id)

    resumed = [r.event for r in records if isinstance(r.event, ExecutionStarted)][-1]
    assert resumed.resumed
    assert resumed.skipped_nodes == ["1"]
    started = [r.event.node_id for r in records if isinstance(r.event, NodeStarted)]
    assert started == ["1", "2", "2", "3"]
    assert history[prompt_id]["outputs"]["3"] == {"text": ["7"]}
