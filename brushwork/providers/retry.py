"""Retry delays: exponential backoff with full jitter, and Retry-After parsing."""

from __future__ import annotations

import email.utils
from collections.abc import Callable, Mapping

from .settings import RetryPolicy


def backoff_delay(attempt: int, policy: RetryPolicy, random: Callable[[], float]) -> float:
    """Return the delay before retry number ``attempt`` (1 = the first retry), in seconds."""
    ceiling = min(policy.max_delay_s, policy.base_delay_s * (2 ** max(0, attempt - 1)))
    return ceiling * random()


def parse_retry_after(headers: Mapping[str, str], now: float) -> float | None:
    """Return the wait a response asks for, in seconds, or None when it names none.

    ``retry-after-ms`` (milliseconds, sent by OpenAI and Runway) wins over
    ``Retry-After``, which is either delta-seconds or an HTTP date (RFC 9110,
    section 10.2.3). ``now`` is the wall-clock time in seconds since the epoch,
    used for the date form. A date in the past means no wait.
    """
    milliseconds = headers.get("retry-after-ms")
    if milliseconds is not None:
        try:
            return max(0.0, float(milliseconds) / 1000.0)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value is None:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - now)
