"""An exclusive lock on a data directory, for processes that write an SQLite log.

SQLite allows one writer process, and two processes running one queue would
both run every prompt. ``flock`` is released by the kernel when the process
ends, even on SIGKILL, so a crashed server never leaves a stale lock.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import IO

from ..errors import ConflictError

LOCK_NAME = "brushwork.lock"


class DataDirLock:
    """Hold ``<root>/brushwork.lock`` while a process writes the data directory."""

    def __init__(self, root: Path) -> None:
        self.path = root / LOCK_NAME
        self._handle: IO[str] | None = None

    def acquire(self) -> None:
        """Take the lock or raise ConflictError naming the process that holds it."""
        if sys.platform == "win32":
            return  # NOTE: no lock on Windows; run one process per data directory there
        import fcntl

        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(self.path, "a+", encoding="utf-8")
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            handle.close()
            raise ConflictError(
                f"the data directory {self.path.parent} is in use by {holder}; stop that "
                "process or pass another --data-dir. Several processes can share a data "
                "directory only with PostgreSQL (--database-url)"
            ) from None
        handle.seek(0)
        handle.truncate()
        command = " ".join([Path(sys.argv[0]).name, *sys.argv[1:2]]) if sys.argv else "python"
        handle.write(f"process {os.getpid()} ({command})\n")
        handle.flush()
        self._handle = handle

    def release(self) -> None:
        if self._handle is not None:
            self._handle.close()  # closing the file releases the flock
            self._handle = None
