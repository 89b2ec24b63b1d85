"""Faults that every fake provider server can inject."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class FaultKind(StrEnum):
    # 429 with a Retry-After header.
    RATE_LIMIT = "rate_limit"
    # 500 (or ``status``) with the provider's error body.
    SERVER_ERROR = "server_error"
    # 503 (or ``status``) with the provider's error body.
    UNAVAILABLE = "unavailable"
    # The server keeps the request open without responding (until ``hang_s``).
    READ_TIMEOUT = "read_timeout"
    # The server drops the connection without responding.
    CONNECTION_RESET = "connection_reset"
    # 200 whose Content-Length promises more bytes than arrive before the close.
    TRUNCATED_BODY = "truncated_body"
    # 200 with a complete body that is not valid JSON.
    MALFORMED_JSON = "malformed_json"
    # A 200 body larger than ``oversize_bytes``, streamed without Content-Length.
    OVERSIZED = "oversized"
    # Jobs stay queued or running forever.
    NEVER_FINISHES = "never_finishes"


@dataclass
class Fault:
    kind: FaultKind
    # "submit", "poll", "download", "cancel" or "any".
    phase: str = "any"
    # How many matching requests get the fault.
    times: int = 1
    # The Retry-After header value of RATE_LIMIT (seconds or an HTTP date).
    retry_after: str = "1"
    status: int | None = None
    # OVERSIZED: content type sent, and whether Content-Length announces the size.
    content_type: str | None = None
    declare_length: bool = False

    def __post_init__(self) -> None:
        self.remaining = self.times
        self.applied = 0
