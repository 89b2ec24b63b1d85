"""The provider example runs end to end against the local fakes with one command.

The run is also a secret-leak check: the test key must not appear in the
logs (at debug level), the database, the artifacts or the output files.
"""

from __future__ import annotations

import subprocess
import sys

from PIL import Image

from tests.support.log import read_events
from tests.support.server import REPO


def test_provider_chain_example_runs_on_fakes(tmp_path):
    data_dir = tmp_path / "data"
    result = subprocess.run(
        [sys.executable, "-m", "brushwork.providers.testing.demo",
         "examples/provider-chain.json", "--no-progress", "--data-dir", str(data_dir),
         "--log-level", "debug"],
        capture_output=True, text=True, cwd=REPO, timeout=120)
    assert result.returncode == 0, result.stderr
    paths = [line for line in result.stdout.splitlines() if line.endswith(".png")]
    assert len(paths) == 1
    with Image.open(paths[0]) as image:
        assert image.width == 256

    events = read_events(data_dir)
    calls = [e for e in events if e["type"] == "ProviderCallRecorded"]
    assert calls and calls[0]["provider"] == "bfl"
    completed = {e["node_id"] for e in events if e["type"] == "NodeCompleted"}
    assert completed == {"1", "2", "3", "4"}
    key = b"test-bfl-key"
    assert key not in (result.stdout + result.stderr).encode()
    leaked = [path for path in data_dir.rglob("*") if path.is_file() and key in path.read_bytes()]
    assert leaked == []
