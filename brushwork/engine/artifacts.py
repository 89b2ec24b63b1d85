"""The content-addressed artifact store: bytes named by their sha256."""

from __future__ import annotations

import asyncio
import hashlib
import re
from pathlib import Path

from ..errors import NotFoundError
from ..events.worker_threads import WorkerThreads
from .packs import PackFiles

_SHA256 = re.compile(r"^[0-9a-f]{64}$")


class ArtifactStore:
    """Bytes named by their sha256, appended to pack files under ``root/packs``.

    Reads also find loose files under ``root/sha256/ab/cdef...``, the layout
    that data directories written before pack files use. ``fsync=True``
    flushes each batch of new bytes before ``write_all`` returns, so an
    event that names a hash never outlives the bytes.
    """

    def __init__(self, root: Path, *, fsync: bool = False) -> None:
        self.root = root
        self.fsync = fsync
        self.packs = PackFiles(root / "packs", fsync=fsync)

    def _loose_path(self, digest: str) -> Path:
        return self.root / "sha256" / digest[:2] / digest[2:]

    @staticmethod
    def digest(data: bytes) -> str:
        return hashlib.sha256(data).hexdigest()

    def put(self, data: bytes) -> str:
        digest = self.digest(data)
        self.write(digest, data)
        return digest

    def write(self, digest: str, data: bytes) -> None:
        """Store ``data`` under ``digest``, which the caller computed with ``digest()``."""
        self.write_all([(digest, data)])

    def write_all(self, blobs: list[tuple[str, bytes]]) -> None:
        """Store several blobs with one write (and one fsync); raise StorageError on failure."""
        for digest, _ in blobs:
            _check_digest(digest)
        self.packs.append(blobs)

    def get(self, digest: str) -> bytes:
        _check_digest(digest)
        data = self.packs.read(digest)
        if data is not None:
            return data
        try:
            return self._loose_path(digest).read_bytes()
        except FileNotFoundError:
            raise NotFoundError(f"artifact {digest} is missing from {self.root}") from None

    def exists(self, digest: str) -> bool:
        return self.location(digest) is not None

    def location(self, digest: str) -> tuple[Path, int, int] | None:
        """Return the file that contains a digest's bytes, their offset and length, or None."""
        _check_digest(digest)
        found = self.packs.locate(digest)
        if found is not None:
            return found
        loose = self._loose_path(digest)
        try:
            return loose, 0, loose.stat().st_size
        except FileNotFoundError:
            return None

    def verify(self, digest: str) -> bool:
        """Return True if the stored bytes still hash to ``digest``.

        Damaged bytes are forgotten, so that the next write of the digest stores them again.
        """
        try:
            data = self.get(digest)
        except NotFoundError:
            return False
        if hashlib.sha256(data).hexdigest() != digest:
            self.packs.forget(digest)  # so that a node that runs again stores it anew
            return False
        return True

    def close(self) -> None:
        self.packs.close()


def _check_digest(digest: str) -> None:
    if not _SHA256.match(digest):
        raise ValueError(f"invalid sha256 digest {digest!r}; expected 64 lowercase hex digits")


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
