"""API bearer tokens: created once, stored as SHA-256 digests, checked per request.

A token is ``bw_`` followed by 43 URL-safe base64 characters (32 random
bytes). Only its SHA-256 digest is stored, in ``tokens.json`` in the data
directory (mode 0600). Because a token has 256 bits of entropy, a plain
digest cannot be reversed by guessing, so no salt or slow KDF is needed.
The server rereads the file when its modification time or size changes, so
``brushwork tokens revoke`` takes effect on the next request without a
restart. See docs/adr/0005-api-tokens.md.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import secrets
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ..errors import NotFoundError, ValidationError

SCOPES = ("read", "submit", "admin")
# A public prefix that marks brushwork tokens (and lets scanners spot leaked ones).
TOKEN_PREFIX = "bw_"  # noqa: S105  # nosec B105
TOKENS_FILE = "tokens.json"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@:-]{0,63}$")
_FILE_VERSION = 1


@dataclass(frozen=True)
class TokenRecord:
    """One stored token: its id, principal name, scopes and digest (never the token)."""

    id: str
    name: str
    scopes: tuple[str, ...]
    sha256: str
    created_at: float
    revoked_at: float | None = None

    @property
    def active(self) -> bool:
        return self.revoked_at is None

    def allows(self, scope: str) -> bool:
        """Return whether this token grants ``scope`` (``admin`` grants every scope)."""
        return scope in self.scopes or "admin" in self.scopes

    def public(self) -> dict[str, Any]:
        """Return the record without its digest, for listings."""
        data = asdict(self)
        del data["sha256"]
        data["scopes"] = list(self.scopes)
        return data


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def parse_scopes(text: str | Sequence[str]) -> tuple[str, ...]:
    """Parse "read,submit" (or a list) into a sorted tuple; raise ValidationError if invalid."""
    items = text.split(",") if isinstance(text, str) else list(text)
    scopes = sorted({item.strip() for item in items if item.strip()})
    unknown = [scope for scope in scopes if scope not in SCOPES]
    if unknown or not scopes:
        raise ValidationError(
            f"invalid scopes {text!r}; use a comma-separated list of {', '.join(SCOPES)}",
            details={"unknown": unknown},
        )
    return tuple(scopes)


class TokenStore:
    """The token file of one data directory."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._by_digest: dict[str, TokenRecord] = {}
        self._stamp: tuple[int, int] | None = None

    @classmethod
    def in_data_dir(cls, data_dir: Path) -> TokenStore:
        return cls(data_dir / TOKENS_FILE)

    # -- requests --------------------------------------------------------------------

    def authenticate(self, token: str) -> TokenRecord | None:
        """Return the active record of ``token``, or None when it is unknown or revoked."""
        if not token.startswith(TOKEN_PREFIX) or len(token) > 200:
            return None
        self._reload_if_changed()
        record = self._by_digest.get(digest(token))
        if record is None or not record.active:
            return None
        return record

    def _reload_if_changed(self) -> None:
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            self._by_digest = {}
            self._stamp = None
            return
        stamp = (stat.st_mtime_ns, stat.st_size)
        if stamp != self._stamp:
            self._by_digest = {record.sha256: record for record in self._read()}
            self._stamp = stamp

    # -- management (the ``brushwork tokens`` commands) ------------------------------------

    def create(self, name: str, scopes: Sequence[str]) -> tuple[TokenRecord, str]:
        """Create a token; return its record and the token, which is shown only this once."""
        if not _NAME.match(name):
            raise ValidationError(
                f"invalid token name {name!r}; use 1-64 letters, digits and _ . @ : - "
                "starting with a letter or digit"
            )
        checked = parse_scopes(scopes)
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        record = TokenRecord(
            id=secrets.token_hex(6),
            name=name,
            scopes=checked,
            sha256=digest(token),
            created_at=time.time(),
        )
        with self._locked():
            records = self._read()
            records.append(record)
            self._write(records)
        return record, token

    def records(self) -> list[TokenRecord]:
        """Return every token, revoked ones included, oldest first."""
        return self._read()

    def revoke(self, token_id: str) -> TokenRecord:
        """Mark the token revoked (the record stays, for audits); raise NotFoundError if unknown."""
        with self._locked():
            records = self._read()
            for index, record in enumerate(records):
                if record.id != token_id:
                    continue
                if not record.active:
                    return record
                revoked = TokenRecord(**{**asdict(record), "revoked_at": time.time()})
                records[index] = revoked
                self._write(records)
                return revoked
        raise NotFoundError(
            f"no token with id {token_id!r}; list them with `brushwork tokens list`"
        )

    # -- the file ---------------------------------------------------------------------

    def _read(self) -> list[TokenRecord]:
        try:
            text = self.path.read_text()
        except FileNotFoundError:
            return []
        data = json.loads(text)
        if not isinstance(data, dict) or data.get("version") != _FILE_VERSION:
            raise ValueError(f"{self.path} is not a version {_FILE_VERSION} brushwork token file")
        return [TokenRecord(**{**item, "scopes": tuple(item["scopes"])}) for item in data["tokens"]]

    def _write(self, records: list[TokenRecord]) -> None:
        data = {
            "version": _FILE_VERSION,
            "tokens": [{**asdict(r), "scopes": list(r.scopes)} for r in records],
        }
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump(data, handle, indent=2)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, self.path)

    @contextmanager
    def _locked(self) -> Iterator[None]:
        """Serialize read-modify-write across processes (two CLI calls at once)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        lock_path = self.path.with_name(f".{self.path.name}.lock")
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)
