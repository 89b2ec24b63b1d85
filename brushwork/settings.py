"""Typed settings of a brushwork process. Only the command line reads the environment."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from .engine.paths import DataPaths
from .events.database import sqlite_url


@dataclass
class Settings:
    data_dir: Path = field(default_factory=lambda: Path("brushwork-data"))
    database_url: str | None = None
    sqlite_synchronous: str = "NORMAL"
    # Seconds that node events no caller awaits may wait to share a commit.
    commit_linger: float = 0.005
    # Seconds from the start of one commit to the start of the next, at least.
    commit_interval: float = 0.005
    # Synchronous nodes whose runs with the same input shapes and settings
    # took less than this many seconds run on the event loop (0: never).
    inline_threshold: float = 0.001
    artifact_fsync: bool = False
    cache_policy: str = "classic"
    cache_max_entries: int = 256
    max_concurrent_prompts: int = 1
    max_queue_size: int = 10_000
    max_prompt_nodes: int = 10_000
    max_prompt_string_length: int = 1_000_000
    max_crash_resumes: int = 3
    cpu_threads: int = 4
    device_concurrency: int = 1
    node_timeouts: dict[str, float] = field(default_factory=dict)
    default_node_timeout: float | None = None
    run_worker: bool = True
    worker_id: str = field(default_factory=lambda: f"{os.uname().nodename}:{os.getpid()}")
    provider_base_urls: dict[str, str] = field(default_factory=dict)
    extra_node_modules: list[str] = field(default_factory=list)
    # Many workers on PostgreSQL: seconds a claim lasts without a heartbeat,
    # and what this worker can run (None: every registered node class).
    lease_seconds: float = 30.0
    worker_devices: list[str] = field(default_factory=lambda: ["cpu"])
    worker_node_classes: list[str] | None = None

    @property
    def paths(self) -> DataPaths:
        return DataPaths(self.data_dir.resolve())

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or sqlite_url(self.paths.database)
