"""One process at a time writes an SQLite data directory; a killed one leaves no stale lock."""

from __future__ import annotations

import subprocess
import sys

import pytest

from brushwork.errors import ConflictError
from brushwork.runtime import Runtime
from brushwork.settings import Settings
from tests.support.server import REPO, ServerProcess


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "brushwork.cli", *args], capture_output=True,
                          text=True, cwd=REPO, timeout=120)


def test_second_server_rejected(server_factory, tmp_path):
    first = server_factory()
    second = ServerProcess(tmp_path / "data")
    with pytest.raises(RuntimeError, match="exited with 2") as caught:
        second.start()
    message = str(caught.value)
    assert f"process {first.process.pid}" in message
    assert "--database-url" in message
    assert first.get("/healthz")  # still serving


def test_run_rejected_while_serving(server_factory, tmp_path):
    first = server_factory()
    workflow = tmp_path / "workflow.json"
    workflow.write_text('{"1": {"class_type": "PrimitiveInt", "inputs": {"value": 1}}}')
    result = cli("run", str(workflow), "--data-dir", str(first.data_dir))
    assert result.returncode == 2
    assert "is in use by process" in result.stderr
    assert "Traceback" not in result.stderr


def test_readers_allowed_while_serving(server_factory):
    first = server_factory()
    result = cli("history", "--data-dir", str(first.data_dir))
    assert result.returncode == 0, result.stderr


def test_lock_released_by_sigkill(server_factory, tmp_path):
    first = server_factory()
    first.kill()
    second = server_factory()
    assert second.get("/healthz")


@pytest.mark.asyncio
async def test_second_runtime_rejected(tmp_path):
    settings = Settings(data_dir=tmp_path / "data", run_worker=False)
    async with Runtime(settings):
        with pytest.raises(ConflictError, match="is in use by process"):
            async with Runtime(Settings(data_dir=tmp_path / "data", run_worker=False)):
                pass
    async with Runtime(settings):  # released on exit
        pass


@pytest.mark.parametrize(
    "command", [["history"], ["events", "p1"], ["audit", "p1"], ["replay", "p1"]]
)
def test_inspection_needs_existing_log(tmp_path, command):
    missing = tmp_path / "typo"
    result = cli(*command, "--data-dir", str(missing))
    assert result.returncode == 2
    assert f"no event log at {missing / 'brushwork.db'}" in result.stderr
    assert "Traceback" not in result.stderr
    assert not missing.exists()


def test_invalid_log_level_is_usage_error():
    result = cli("history", "--log-level", "loud")
    assert result.returncode == 2
    assert "invalid log level 'loud'" in result.stderr
    assert "Traceback" not in result.stderr
