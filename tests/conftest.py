from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.server import ServerProcess


@pytest.fixture
def server_factory(tmp_path: Path) -> Iterator:
    """Start brushwork servers on free ports; every one is stopped after the test."""
    started: list[ServerProcess] = []

    def start(*args: str, data_dir: Path | None = None, wait_ready: bool = True,
              **kwargs) -> ServerProcess:
        server = ServerProcess(data_dir or tmp_path / "data", *args, **kwargs)
        started.append(server)
        return server.start(wait_ready=wait_ready)

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def server(server_factory) -> ServerProcess:
    return server_factory()


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh PostgreSQL database for one test (skips when none is reachable)."""
    from tests.support.postgres import fresh_database

    yield from fresh_database()
