from __future__ import annotations

import pytest

from tests.support.server import ServerProcess


@pytest.fixture(scope="module")
def shared_http_server(tmp_path_factory):
    """One default server for a module's read-only checks (starting one costs seconds)."""
    server = ServerProcess(tmp_path_factory.mktemp("shared") / "data").start()
    yield server
    server.stop()
