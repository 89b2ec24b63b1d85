"""Fault injection at the commit point of an append, for tests of ambiguous commits."""

from __future__ import annotations


class InjectedFault(Exception):
    """A failure raised on purpose by ``FaultInjector``."""


class FaultInjector:
    """Fail the next appends before their commit, or after it.

    ``fail_before_commit(n)`` makes the next n appends roll back and raise.
    ``fail_after_commit(n)`` lets the next n appends commit, then raises to the
    caller as if the commit had failed: the ambiguous case that event ids
    make safe to retry.
    """

    def __init__(self) -> None:
        self._before = 0
        self._after = 0

    def fail_before_commit(self, times: int = 1) -> None:
        self._before += times

    def fail_after_commit(self, times: int = 1) -> None:
        self._after += times

    def clear(self) -> None:
        """Stop failing appends."""
        self._before = 0
        self._after = 0

    def before_commit(self) -> None:
        if self._before:
            self._before -= 1
            raise InjectedFault("injected failure before commit")

    def after_commit_point(self) -> None:
        if self._after:
            self._after -= 1
            raise InjectedFault("injected failure after commit")
