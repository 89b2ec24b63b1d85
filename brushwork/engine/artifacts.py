"""The content-addressed artifact store: bytes named by their sha256."""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import os
import re
from pathlib import Path

from ..errors import NotFoundError, StorageError
from ..events.worker_threads import WorkerThreads

_SHA256 = re.compile(r"^[0-9a-f]{64}$")


class ArtifactStore:
    """Files under ``root/sha256/ab/cdef...``; a write is atomic (temp file, then rename).

    ``fsync=True`` flushes each new file and its directory before ``put``
    returns, so an event that names the hash never outlives the bytes.
    """

    def __init__(self, root: Path, *, fsync: bool = False) -> None:
        self.root = root
        self.fsync = fsync
        self._known_dirs: set[Path] = set()
        self._counter = itertools.count()

    def path_for(self, digest: str) -> Path:
        if not _SHA256.match(digest):
            raise ValueError(f"invalid sha256 digest {digest!r}")
        return self.root / "sha256" / digest[:2] / digest[2:]

    @staticmethod
    def digest(data: bytes) -> str:
        return hashlib.sha256(data).hexdigest()

    def put(self, data: bytes) -> str:
        digest = self.digest(data)
        self.write(digest, data)
        return digest

    def write_all(self, blobs: list[tuple[str, bytes]]) -> None:
        for digest, data in blobs:
            self.write(digest, data)

    def write(self, digest: str, data: bytes) -> None:
        """Store ``data`` under ``digest``, which the caller computed with ``digest()``."""
        path = self.path_for(digest)
        if path.exists():
            return
        try:
            if path.parent not in self._known_dirs:
                path.parent.mkdir(parents=True, exist_ok=True)
                self._known_dirs.add(path.parent)
            # A unique temporary name per process and call; the rename is atomic,
            # so a reader sees either no file or the whole file.
            tmp_name = path.parent / f".tmp-{os.getpid()}-{next(self._counter)}"
            fd = os.open(tmp_name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                if self.fsync:
                    handle.flush()
                    os.fsync(handle.fileno())
            os.replace(tmp_name, path)
            if self.fsync:
                dir_fd = os.open(path.parent, os.O_RDONLY)
                try:
                    os.fsync(dir_fd)
                finally:
                    os.close(dir_fd)
        except OSError as exc:
            raise StorageError(f"writing artifact {digest} failed: {exc}") from exc

    def get(self, digest: str) -> bytes:
        path = self.path_for(digest)
        try:
            return path.read_bytes()
        except FileNotFoundError:
            raise NotFoundError(f"artifact {digest} is missing from {self.root}") from None

    def exists(self, digest: str) -> bool:
        return self.path_for(digest).exists()

    def verify(self, digest: str) -> bool:
        """Return True if the stored bytes still hash to ``digest``."""
        try:
            data = self.get(digest)
        except NotFoundError:
            return False
        return hashlib.sha256(data).hexdigest() == digest


class ArtifactWriter:
    """One thread that writes artifacts for the event loop, in submission order.

    ``submit`` returns an asyncio future that resolves once the bytes are
    stored. The writes happen in that thread, off the event loop and the node threads.
    """

    def __init__(self, store: ArtifactStore) -> None:
        self.store = store
        self._thread = WorkerThreads("brushwork-artifacts")

    def submit(self, blobs: list[tuple[str, bytes]]) -> asyncio.Future[None]:
        return self._thread.submit(self.store.write_all, blobs)

    def close(self) -> None:
        """Finish the queued writes, then stop the thread (call from any thread)."""
        self._thread.close()
