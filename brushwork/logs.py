"""structlog configuration: console output for people, JSON lines for machines."""

from __future__ import annotations

import logging
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog

_secret_values: set[str] = set()


def register_secret(value: str) -> None:
    """Redact ``value`` from every later log line (API keys resolved at call time)."""
    if value and len(value) >= 6:
        _secret_values.add(value)


def redact_secrets(_logger: Any, _name: str, event: MutableMapping[str, Any]
                   ) -> MutableMapping[str, Any]:
    if not _secret_values:
        return event
    for key, value in list(event.items()):
        if isinstance(value, str):
            for secret in _secret_values:
                if secret in value:
                    value = value.replace(secret, "[REDACTED]")
            event[key] = value
    return event


def configure(fmt: str = "console", level: str = "info") -> None:
    if fmt not in ("console", "json"):
        raise ValueError(f"invalid log format {fmt!r}; use console or json")
    numeric = logging.getLevelName(level.upper())
    if not isinstance(numeric, int):
        raise ValueError(f"invalid log level {level!r}; use debug, info, warning or error")
    renderer: Any = (structlog.processors.JSONRenderer() if fmt == "json"
                     else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty()))
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            redact_secrets,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=True,
    )
