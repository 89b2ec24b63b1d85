"""Redaction of provider keys from log lines, error messages and audit parameters.

``register_secret`` adds a key (``resolve_secret`` calls it for every key it
returns). ``redact_secrets`` is a structlog processor that replaces every
registered key in an event dict with ``[REDACTED]``. Put it after
``format_exc_info`` and before the renderer, so that rendered tracebacks are
covered too::

    structlog.configure(processors=[..., structlog.processors.format_exc_info,
                                    redact_secrets, structlog.processors.JSONRenderer()])
"""

from __future__ import annotations

import re
import threading
from collections.abc import MutableMapping
from typing import Any

REDACTED = "[REDACTED]"

# Shorter values are not registered: they would redact ordinary words, and no
# provider issues keys that short.
MIN_SECRET_LENGTH = 8

_lock = threading.Lock()
_secrets: set[str] = set()
_pattern: re.Pattern[str] | None = None


def register_secret(value: str) -> None:
    """Add a key to the set that ``redact_text`` and ``redact_secrets`` remove."""
    global _pattern
    if not isinstance(value, str) or len(value) < MIN_SECRET_LENGTH:
        return
    with _lock:
        if value in _secrets:
            return
        _secrets.add(value)
        # Longest first, so a key that contains another key is removed whole.
        ordered = sorted(_secrets, key=len, reverse=True)
        _pattern = re.compile("|".join(re.escape(item) for item in ordered))


def clear_registered_secrets() -> None:
    """Forget every registered key (tests)."""
    global _pattern
    with _lock:
        _secrets.clear()
        _pattern = None


def redact_text(text: str) -> str:
    """Return ``text`` with every registered key replaced by ``[REDACTED]``."""
    pattern = _pattern
    if pattern is None or not text:
        return text
    return pattern.sub(REDACTED, text)


def redact_value(value: Any) -> Any:
    """Redact strings inside dicts, lists and tuples; exceptions become redacted strings."""
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, dict):
        return {key: redact_value(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(redact_value(item) for item in value)
    if isinstance(value, BaseException):
        text = f"{type(value).__name__}: {value}"
        redacted = redact_text(text)
        return redacted if redacted != text else value
    return value


def redact_secrets(
    logger: Any, method_name: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """A structlog processor that removes registered keys from every value of a log line."""
    if _pattern is None:
        return event_dict
    for key, value in list(event_dict.items()):
        event_dict[key] = redact_value(value)
    return event_dict
