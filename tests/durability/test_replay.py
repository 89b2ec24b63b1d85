"""brushwork replay and audit on real runs: hashes verified, re-execution compared."""

from __future__ import annotations

import json
import subprocess
import sys

from brushwork.engine.artifacts import ArtifactStore
from tests.support.log import read_events
from tests.support.server import REPO, wait_for

WORKFLOW = {
    "1": {"class_type": "EmptyImage",
          "inputs": {"width": 16, "height": 16, "batch_size": 1, "color": 0x204080}},
    "2": {"class_type": "ImageBlur", "inputs": {"image": ["1", 0], "blur_radius": 2,
                                                 "sigma": 1.0}},
    "3": {"class_type": "ImageInvert", "inputs": {"image": ["2", 0]}},
    "4": {"class_type": "SaveImage", "inputs": {"images": ["3", 0], "filename_prefix": "r"}},
}


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "brushwork.cli", *args], capture_output=True,
                          text=True, cwd=REPO, timeout=120)


def finished_run(server_factory) -> tuple[object, str]:
    server = server_factory()
    prompt_id = server.post("/prompt", {"prompt": WORKFLOW})[1]["prompt_id"]
    wait_for(lambda: server.get(f"/history/{prompt_id}"))
    server.stop()
    return server, prompt_id


def test_replay_verifies_and_reexecutes(server_factory):
    server, prompt_id = finished_run(server_factory)
    result = cli("replay", prompt_id, "--data-dir", str(server.data_dir), "--re-execute")
    assert result.returncode == 0, result.stderr
    assert "hashes ok" in result.stdout
    for node_id in ("1", "2", "3"):
        line = next(li for li in result.stdout.splitlines()
                    if li.split()[:1] == [node_id] and "match" in li)
        assert "differs" not in line


def test_replay_detects_corrupt_artifact(server_factory):
    server, prompt_id = finished_run(server_factory)
    completed = [e for e in read_events(server.data_dir)
                 if e["type"] == "NodeCompleted" and e["node_id"] == "2"]
    digest = completed[0]["outputs"][0][0][2]
    location = ArtifactStore(server.data_dir / "artifacts").location(digest)
    assert location is not None
    path, offset, length = location
    with open(path, "r+b") as handle:  # flip the record's last byte in its pack file
        handle.seek(offset + length - 1)
        last = handle.read(1)
        handle.seek(offset + length - 1)
        handle.write(bytes([last[0] ^ 0xFF]))
    result = cli("replay", prompt_id, "--data-dir", str(server.data_dir), "--json")
    assert result.returncode == 1
    report = json.loads(result.stdout)
    assert report["missing_or_corrupt_artifacts"] == [digest]
    node = next(n for n in report["nodes"] if n["node_id"] == "2")
    assert node["verified"] is False
    assert node["problem"] == "hash mismatch"


def test_replay_reports_missing_artifacts(server_factory):
    server, prompt_id = finished_run(server_factory)
    for pack in (server.data_dir / "artifacts" / "packs").glob("*.pack"):
        pack.unlink()
    result = cli("replay", prompt_id, "--data-dir", str(server.data_dir))
    assert result.returncode == 1
    line = next(li for li in result.stdout.splitlines() if li.split()[:1] == ["2"])
    assert "ARTIFACT MISSING" in line


def test_audit_jsonl_lists_attempts(server_factory):
    server, prompt_id = finished_run(server_factory)
    result = cli("audit", prompt_id, "--data-dir", str(server.data_dir), "--jsonl")
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert lines[0]["kind"] == "run"
    assert lines[0]["graph"]["2"]["class_type"] == "ImageBlur"
    attempts = [line for line in lines if line["kind"] == "node_attempt"]
    assert sorted(a["node_id"] for a in attempts) == ["1", "2", "3", "4"]
    assert all(a["status"] == "completed" and a["duration_s"] >= 0 for a in attempts)
    blur = next(a for a in attempts if a["node_id"] == "2")
    assert blur["inputs"]["blur_radius"] == 2
    assert len(blur["outputs"][0][0]["sha256"]) == 64
