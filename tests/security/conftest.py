from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.server import REPO


def brushwork_cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run(
        [sys.executable, "-m", "brushwork.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        timeout=60,
    )


@pytest.fixture
def make_token(tmp_path: Path):
    """Create a token in the data directory with `brushwork tokens create`; return it."""

    def create(name: str, scopes: str = "read,submit", data_dir: Path | None = None) -> str:
        result = brushwork_cli(
            "tokens",
            "create",
            name,
            "--scopes",
            scopes,
            "--json",
            "--data-dir",
            str(data_dir or tmp_path / "data"),
        )
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)["token"]

    return create


@pytest.fixture(scope="module")
def shared_server(tmp_path_factory):
    """One default server for a module's read-only checks (starting one costs seconds)."""
    from tests.support.server import ServerProcess

    server = ServerProcess(tmp_path_factory.mktemp("shared") / "data").start()
    yield server
    server.stop()
