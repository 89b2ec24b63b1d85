"""A circuit breaker per provider: closed, open, half-open.

Only failures that say the service is unhealthy count: 5xx responses,
timeouts and connection errors. A 4xx response (429 included) shows that the
service is up, so it counts as a success.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum

import structlog

from ..errors import ProviderError
from .settings import BreakerPolicy

log = structlog.get_logger("brushwork.providers")


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class CircuitBreaker:
    """The breaker of one provider; all calls come from one event loop."""

    def __init__(
        self, provider: str, policy: BreakerPolicy, clock: Callable[[], float]
    ) -> None:
        self.provider = provider
        self.policy = policy
        self._clock = clock
        self._state = BreakerState.CLOSED
        self.consecutive_failures = 0
        self.opened_at: float | None = None
        self.last_failure: str | None = None
        self._trials_in_flight = 0

    @property
    def state(self) -> BreakerState:
        """The current state; an open breaker whose cooldown has passed reads as half-open."""
        if self._state is BreakerState.OPEN and self.retry_in_s() <= 0:
            self._change(BreakerState.HALF_OPEN)
        return self._state

    def retry_in_s(self) -> float:
        """Seconds until an open breaker lets a trial request through (0 unless open)."""
        if self._state is not BreakerState.OPEN or self.opened_at is None:
            return 0.0
        return max(0.0, self.opened_at + self.policy.cooldown_s - self._clock())

    def before_call(self) -> None:
        """Admit one attempt or raise a ProviderError that fails it fast."""
        state = self.state
        if state is BreakerState.CLOSED:
            return
        if state is BreakerState.HALF_OPEN and (
            self._trials_in_flight < self.policy.half_open_max_calls
        ):
            self._trials_in_flight += 1
            return
        wait = self.retry_in_s()
        when = f"for another {wait:.0f} s" if wait > 0 else "until a trial request finishes"
        raise ProviderError(
            f"{self.provider}: circuit breaker is open after {self.consecutive_failures} "
            f"consecutive failures (last: {self.last_failure}); requests fail fast {when}. "
            "Retry later or check the provider's status page.",
            provider=self.provider,
            retryable=True,
            may_have_charged=False,
            details={"breaker": state.value, "retry_in_s": round(wait, 3)},
        )

    def record_success(self) -> None:
        self._release_trial()
        self.consecutive_failures = 0
        if self._state is not BreakerState.CLOSED:
            self._change(BreakerState.CLOSED)

    def record_failure(self, reason: str) -> None:
        self._release_trial()
        self.consecutive_failures += 1
        self.last_failure = reason
        if self._state is BreakerState.HALF_OPEN or (
            self._state is BreakerState.CLOSED
            and self.consecutive_failures >= self.policy.failure_threshold
        ):
            self.opened_at = self._clock()
            self._change(BreakerState.OPEN)

    def release(self) -> None:
        """End an attempt that neither succeeded nor failed (it was cancelled)."""
        self._release_trial()

    def _release_trial(self) -> None:
        if self._state is BreakerState.HALF_OPEN and self._trials_in_flight > 0:
            self._trials_in_flight -= 1

    def _change(self, state: BreakerState) -> None:
        previous = self._state
        self._state = state
        self._trials_in_flight = 0
        log.warning(
            "provider circuit breaker state changed",
            provider=self.provider,
            previous=previous.value,
            state=state.value,
            consecutive_failures=self.consecutive_failures,
            last_failure=self.last_failure,
            cooldown_s=self.policy.cooldown_s,
        )
