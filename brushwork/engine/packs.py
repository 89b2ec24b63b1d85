"""Append-only pack files: many artifacts in one file, found by their sha256.

Creating and renaming a file per artifact cost 100 to 280 us of CPU on our
2-core test VM, against about 20 us to append the same bytes to an open file,
and every executed node stores its outputs. So each process appends the
artifacts it writes to a pack file of its own under ``packs/`` and starts a
new pack past a size limit.

A record is a 44-byte header (magic, raw sha256, length) followed by the
bytes. Records are only appended, never changed. A reader in another
process may therefore index a pack while its writer appends to it: it
indexes whole records and stops at a partial one, which is either still
being written or was torn by a crash. A process appends only to packs it
created, so a torn record is always the last one of its pack.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import struct
import threading
import time
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path

import structlog

from ..errors import StorageError

log = structlog.get_logger(__name__)

_MAGIC = b"BWA1"
_HEADER = struct.Struct("<4s32sQ")  # magic, raw sha256 digest, length in bytes
_CORRUPT = -1  # scan offset of a pack whose records cannot be read further

# Digests this process wrote last; a digest among them is not written again.
# Bounded, so memory stays flat however many prompts run. A repeat outside
# this window is stored twice, which wastes space but reads the same.
_RECENT_LIMIT = 1024


class PackFiles:
    """The pack files in one folder: appends by this process, reads of any pack.

    The index of digests is built on the first lookup, by reading the
    record headers of every pack, and a lookup that misses reads the records
    appended since. A process that only writes (the common case) keeps no index.
    """

    def __init__(
        self, folder: Path, *, fsync: bool = False, max_pack_bytes: int = 256 * 1024 * 1024
    ) -> None:
        self.folder = folder
        self.fsync = fsync
        self.max_pack_bytes = max_pack_bytes
        self._lock = threading.Lock()
        self._fd: int | None = None
        self._pack: str | None = None  # file name of the pack this process appends to
        self._size = 0
        self._recent: OrderedDict[str, None] = OrderedDict()
        # digest -> (pack, offset, length) of each copy, oldest first
        self._index: dict[str, list[tuple[str, int, int]]] | None = None
        self._scanned: dict[str, int] = {}  # pack name -> offset indexed so far
        self._rewritten: set[str] = set()  # damaged digests that may have a newer copy

    # -- writing ------------------------------------------------------------

    def append(self, blobs: Sequence[tuple[str, bytes]]) -> None:
        """Append the blobs not stored yet, in one write; ``fsync`` flushes it before returning."""
        with self._lock:
            fresh: list[tuple[str, bytes]] = []
            seen: set[str] = set()
            for digest, data in blobs:
                if digest not in seen and not self._known(digest):
                    seen.add(digest)
                    fresh.append((digest, data))
            if not fresh:
                return
            parts = []
            for digest, data in fresh:
                parts.append(_HEADER.pack(_MAGIC, bytes.fromhex(digest), len(data)))
                parts.append(data)
            chunk = b"".join(parts)
            if self._fd is None or (self._size and self._size + len(chunk) > self.max_pack_bytes):
                self._start_pack()
            assert self._fd is not None and self._pack is not None
            start = self._size
            try:
                _write_all(self._fd, chunk)
                if self.fsync:
                    os.fsync(self._fd)
            except OSError as exc:
                # The pack may now end in a partial record, so no later record
                # may follow it: the next append starts a new pack.
                self._close_pack()
                raise StorageError(
                    f"writing {len(fresh)} artifact(s) to pack {self._pack_path(start)} "
                    f"failed: {exc}"
                ) from exc
            self._size += len(chunk)
            self._remember(fresh)

    def _known(self, digest: str) -> bool:
        if digest in self._recent:
            return True
        indexed = self._index is not None and digest in self._index
        return indexed and digest not in self._rewritten

    def _remember(self, fresh: list[tuple[str, bytes]]) -> None:
        # Not added to the index: a lookup that misses reads them from the
        # pack, so memory grows with lookups (resumes, replays), not with writes.
        for digest, _ in fresh:
            self._recent[digest] = None
        while len(self._recent) > _RECENT_LIMIT:
            self._recent.popitem(last=False)

    def _start_pack(self) -> None:
        self._close_pack()
        self.folder.mkdir(parents=True, exist_ok=True)
        # Names sort by creation time; the random part keeps two processes
        # with the same PID (in two containers sharing the folder) apart.
        name = f"{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}-{secrets.token_hex(4)}.pack"
        try:
            self._fd = os.open(self.folder / name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            if self.fsync:
                _fsync_folder(self.folder)
        except OSError as exc:
            self._close_pack()
            raise StorageError(
                f"creating artifact pack {self.folder / name} failed: {exc}"
            ) from exc
        self._pack = name
        self._size = 0
        log.info("artifact_pack_started", pack=name)

    def _close_pack(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
        self._fd = None

    def _pack_path(self, offset: int) -> str:
        return f"{self.folder / (self._pack or '?')} at byte {offset}"

    def close(self) -> None:
        with self._lock:
            self._close_pack()

    # -- reading ------------------------------------------------------------

    def locate(self, digest: str) -> tuple[Path, int, int] | None:
        """Return the pack file, offset and length of a digest's newest copy, or None."""
        copies = self._copies(digest)
        return copies[-1] if copies else None

    def _copies(self, digest: str) -> list[tuple[Path, int, int]]:
        with self._lock:
            if self._index is None:
                self._index = {}
                self._scanned = {}
            found = self._index.get(digest)
            if found is None or digest in self._rewritten:
                # Written since the last scan, perhaps by another process.
                self._rewritten.discard(digest)
                self._scan()
                found = self._index.get(digest, [])
            return [(self.folder / pack, offset, length) for pack, offset, length in found]

    def read(self, digest: str) -> bytes | None:
        """Return the stored bytes of a digest, or None when no pack contains it.

        A digest stored more than once (rewritten after its first copy was
        found damaged) returns its newest copy that matches the digest.
        """
        copies = self._copies(digest)
        if len(copies) > 1:
            for location in reversed(copies):
                data = self._read_at(digest, location)
                if hashlib.sha256(data).hexdigest() == digest:
                    return data
        return self._read_at(digest, copies[-1]) if copies else None

    @staticmethod
    def _read_at(digest: str, location: tuple[Path, int, int]) -> bytes:
        path, offset, length = location
        try:
            with open(path, "rb") as handle:
                data = os.pread(handle.fileno(), length, offset)
        except OSError as exc:
            raise StorageError(f"reading artifact {digest} from {path} failed: {exc}") from exc
        if len(data) != length:
            raise StorageError(
                f"artifact {digest} in {path} is truncated: {len(data)} of {length} bytes"
            )
        return data

    def forget(self, digest: str) -> None:
        """Drop a digest whose stored bytes are damaged, so that the next write stores it again."""
        with self._lock:
            self._recent.pop(digest, None)
            # The next lookup scans again, to index the new copy beside the damaged one.
            self._rewritten.add(digest)

    def _scan(self) -> None:
        """Index the records appended to any pack since the last scan (caller holds the lock)."""
        assert self._index is not None
        try:
            entries = sorted(os.scandir(self.folder), key=lambda entry: entry.name)
        except FileNotFoundError:
            return
        except OSError as exc:
            raise StorageError(f"listing artifact packs in {self.folder} failed: {exc}") from exc
        for entry in entries:
            # A folder or FIFO under a pack's name would fail or block the read.
            if not entry.name.endswith(".pack") or not entry.is_file(follow_symlinks=False):
                continue
            offset = self._scanned.get(entry.name, 0)
            if offset == _CORRUPT:
                continue
            try:
                self._scanned[entry.name] = self._scan_pack(entry.name, offset)
            except OSError as exc:
                raise StorageError(f"reading artifact pack {entry.path} failed: {exc}") from exc

    def _scan_pack(self, name: str, offset: int) -> int:
        assert self._index is not None
        with open(self.folder / name, "rb") as handle:
            fd = handle.fileno()
            size = os.fstat(fd).st_size
            while offset + _HEADER.size <= size:
                magic, raw_digest, length = _HEADER.unpack(os.pread(fd, _HEADER.size, offset))
                if magic != _MAGIC:
                    log.warning(
                        "artifact_pack_corrupt",
                        pack=name,
                        offset=offset,
                        detail="bad record header; the rest of this pack is ignored",
                    )
                    return _CORRUPT
                end = offset + _HEADER.size + length
                if end > size:
                    # Still being written, or torn by a crash. NOTE: a damaged
                    # length field looks the same and hides the records after it.
                    break
                self._index.setdefault(raw_digest.hex(), []).append(
                    (name, offset + _HEADER.size, length)
                )
                offset = end
        return offset


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def _fsync_folder(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
