"""The artifact store's pack files: appends, reads across processes, torn and corrupt packs."""

from __future__ import annotations

import errno
import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from brushwork.engine import packs
from brushwork.engine.artifacts import ArtifactStore
from brushwork.engine.packs import PackFiles
from brushwork.errors import NotFoundError, StorageError


def blob(seed: int, size: int = 1000) -> tuple[str, bytes]:
    data = hashlib.sha256(str(seed).encode()).digest() * (size // 32 + 1)
    data = data[:size]
    return hashlib.sha256(data).hexdigest(), data


def overwrite(store: ArtifactStore, digest: str, at: int, data: bytes) -> Path:
    """Overwrite bytes of a stored record in place, ``at`` bytes into it; return its file."""
    location = store.location(digest)
    assert location is not None
    path, offset, _ = location
    with open(path, "r+b") as handle:
        handle.seek(offset + at)
        handle.write(data)
    return path


def pack_files(root: Path) -> list[Path]:
    return sorted((root / "packs").glob("*.pack"))


def test_round_trip_in_one_pack(tmp_path):
    store = ArtifactStore(tmp_path)
    blobs = [blob(i) for i in range(5)]
    store.write_all(blobs)
    store.write_all([blob(5)])

    (pack,) = pack_files(tmp_path)
    assert pack.stat().st_size == 6 * (44 + 1000)
    for digest, data in [*blobs, blob(5)]:
        assert store.get(digest) == data
        assert store.verify(digest)


def test_put_returns_sha256(tmp_path):
    store = ArtifactStore(tmp_path)
    digest = store.put(b"pixels")
    assert digest == hashlib.sha256(b"pixels").hexdigest()
    assert store.get(digest) == b"pixels"


def test_repeated_digest_is_stored_once(tmp_path):
    store = ArtifactStore(tmp_path)
    digest, data = blob(1)
    store.write_all([(digest, data), (digest, data)])
    store.write(digest, data)
    (pack,) = pack_files(tmp_path)
    assert pack.stat().st_size == 44 + len(data)


def test_missing_digest(tmp_path):
    store = ArtifactStore(tmp_path)
    store.write_all([blob(1)])
    digest, _ = blob(2)
    assert not store.exists(digest)
    assert not store.verify(digest)
    with pytest.raises(NotFoundError, match=digest):
        store.get(digest)


def test_invalid_digest_rejected(tmp_path):
    store = ArtifactStore(tmp_path)
    with pytest.raises(ValueError, match="64 lowercase hex"):
        store.write("ABC", b"x")
    with pytest.raises(ValueError, match=r"'\.\./etc/passwd'"):
        store.get("../etc/passwd")


def test_second_store_reads_later_appends(tmp_path):
    writer = ArtifactStore(tmp_path)
    reader = ArtifactStore(tmp_path)  # another process sharing the folder
    first = blob(1)
    writer.write_all([first])
    assert reader.get(first[0]) == first[1]

    # The reader's index exists now; a later append is found by a fresh scan.
    second = blob(2)
    writer.write_all([second])
    assert reader.get(second[0]) == second[1]


def test_own_appends_after_index_built(tmp_path):
    store = ArtifactStore(tmp_path)
    store.write_all([blob(1)])
    assert store.exists(blob(1)[0])  # builds the index
    store.write_all([blob(2), blob(3)])
    for seed in (1, 2, 3):
        digest, data = blob(seed)
        assert store.get(digest) == data


def test_pack_rotates_past_limit(tmp_path):
    files = PackFiles(tmp_path / "packs", max_pack_bytes=3000)
    blobs = [blob(i) for i in range(7)]
    for item in blobs:
        files.append([item])
    assert len(list((tmp_path / "packs").glob("*.pack"))) == 4  # two records per pack
    reader = ArtifactStore(tmp_path)
    for digest, data in blobs:
        assert reader.get(digest) == data


def test_record_larger_than_limit_gets_own_pack(tmp_path):
    files = PackFiles(tmp_path / "packs", max_pack_bytes=100)
    files.append([blob(1, size=500)])
    files.append([blob(2, size=500)])
    assert len(list((tmp_path / "packs").glob("*.pack"))) == 2


def test_torn_last_record_is_ignored(tmp_path):
    writer = ArtifactStore(tmp_path)
    whole, torn = blob(1), blob(2)
    writer.write_all([whole, torn])
    (pack,) = pack_files(tmp_path)
    os.truncate(pack, pack.stat().st_size - 10)  # a crash in the middle of the second record

    reader = ArtifactStore(tmp_path)
    assert reader.get(whole[0]) == whole[1]
    assert not reader.exists(torn[0])


def test_failed_write_starts_new_pack(tmp_path, monkeypatch):
    store = ArtifactStore(tmp_path)
    store.write_all([blob(1)])
    original = packs._write_all

    def half_then_full(fd: int, data: bytes) -> None:
        os.write(fd, data[: len(data) // 2])
        raise OSError(errno.ENOSPC, "no space left on device")

    monkeypatch.setattr(packs, "_write_all", half_then_full)
    with pytest.raises(StorageError, match="no space left on device"):
        store.write_all([blob(2)])
    monkeypatch.setattr(packs, "_write_all", original)

    store.write_all([blob(2), blob(3)])
    assert len(pack_files(tmp_path)) == 2
    reader = ArtifactStore(tmp_path)
    for seed in (1, 2, 3):
        digest, data = blob(seed)
        assert reader.get(digest) == data


def test_corrupt_header_skips_rest_of_pack(tmp_path):
    writer = ArtifactStore(tmp_path)
    first, second = blob(1), blob(2)
    writer.write_all([first, second])
    (pack,) = pack_files(tmp_path)
    with open(pack, "r+b") as handle:
        handle.seek(44 + 1000)  # the second record's magic
        handle.write(b"XXXX")
    writer.close()
    later = ArtifactStore(tmp_path)
    third = blob(3)
    later.write_all([third])

    reader = ArtifactStore(tmp_path)
    assert reader.get(first[0]) == first[1]
    assert not reader.exists(second[0])
    assert reader.get(third[0]) == third[1]


def test_non_files_named_pack_ignored(tmp_path):
    store = ArtifactStore(tmp_path)
    digest, data = blob(1)
    store.write_all([(digest, data)])
    (tmp_path / "packs" / "folder.pack").mkdir()
    os.mkfifo(tmp_path / "packs" / "zz.pack")  # reading it would block
    reader = ArtifactStore(tmp_path)
    assert reader.get(digest) == data
    assert not reader.exists(blob(2)[0])


def test_corrupt_bytes_fail_verify(tmp_path):
    store = ArtifactStore(tmp_path)
    digest, data = blob(1)
    store.write_all([(digest, data)])
    overwrite(store, digest, 0, b"\x00")
    assert store.exists(digest)
    assert not store.verify(digest)


def test_damaged_copy_replaced_by_rewrite(tmp_path):
    store = ArtifactStore(tmp_path)
    digest, data = blob(1)
    store.write_all([(digest, data)])
    store.write_all([(digest, data)])  # a repeat is not stored again
    path = overwrite(store, digest, 0, b"\x00")

    assert not store.verify(digest)
    store.write_all([(digest, data)])  # stored again once found damaged
    assert store.get(digest) == data
    assert store.verify(digest)
    fresh = ArtifactStore(tmp_path)  # indexes both copies and picks the good one
    assert fresh.get(digest) == data
    assert path.stat().st_size == 2 * (44 + len(data))


def test_loose_files_still_read(tmp_path):
    digest, data = blob(1)
    loose = tmp_path / "sha256" / digest[:2] / digest[2:]
    loose.parent.mkdir(parents=True)
    loose.write_bytes(data)
    store = ArtifactStore(tmp_path)
    assert store.get(digest) == data
    assert store.verify(digest)
    assert store.location(digest) == (loose, 0, len(data))


def test_fsync_store_round_trip(tmp_path):
    store = ArtifactStore(tmp_path, fsync=True)
    blobs = [blob(i) for i in range(3)]
    store.write_all(blobs)
    for digest, data in blobs:
        assert store.get(digest) == data


WRITER = """
import hashlib, sys, time
from pathlib import Path
from brushwork.engine.artifacts import ArtifactStore

store = ArtifactStore(Path(sys.argv[1]))
n = 0
while True:
    data = hashlib.sha256(str(n).encode()).digest() * 200
    store.write_all([(hashlib.sha256(data).hexdigest(), data)])
    n += 1
    if n == 20:
        print("writing", flush=True)
    time.sleep(0.0005)
"""


def test_reader_during_writes_and_after_sigkill(tmp_path):
    """A reader in this process indexes a pack that a live process appends to,
    then what remains once that process is killed mid-write."""
    process = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(tmp_path)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout is not None
        for line in process.stdout:  # log lines come first
            if line.strip() == "writing":
                break
        reader = ArtifactStore(tmp_path)
        seen = 0
        deadline = time.monotonic() + 1.0
        while time.monotonic() < deadline:
            data = hashlib.sha256(str(seen).encode()).digest() * 200
            digest = hashlib.sha256(data).hexdigest()
            if reader.exists(digest):
                assert reader.verify(digest)
                seen += 1
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
    assert seen >= 20

    after = ArtifactStore(tmp_path)
    verified = 0
    while True:
        data = hashlib.sha256(str(verified).encode()).digest() * 200
        digest = hashlib.sha256(data).hexdigest()
        if not after.exists(digest):
            break
        assert after.verify(digest)
        verified += 1
    assert verified >= seen
