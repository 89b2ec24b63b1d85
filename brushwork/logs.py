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
    if fmt not in ("console", "json"):
        raise ValueError(f"invalid log format {fmt!r}; use console or json")
    numeric = logging.getLevelName(level.upper())
    if not isinstance(numeric, int):
        raise ValueError(f"invalid log level {level!r}; use debug, info, warning or error")
    renderer: Any = (structlog.processors.JSONRenderer() if fmt == "json"
                     else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty()))
    structlog.configure(
        processors=[*_processors(), renderer],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=True,
    )
