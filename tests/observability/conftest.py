from __future__ import annotations

import json

import pytest

from tests.support.server import ServerProcess


@pytest.fixture(scope="module")
def json_server(tmp_path_factory):
    """A server that writes JSON log lines, shared by a module's tests."""
    server = ServerProcess(tmp_path_factory.mktemp("json") / "data", "--log-format", "json")
    server.start()
    yield server
    server.stop()


def log_lines(server: ServerProcess) -> list[dict]:
    return [
        json.loads(line)
        for line in server.log_path.read_text().splitlines()
        if line.startswith("{")
    ]
