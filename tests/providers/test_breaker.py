"""The per-provider circuit breaker, alone and through a node."""

from __future__ import annotations

import pytest
from structlog.testing import capture_logs

from brushwork.errors import ProviderError
from brushwork.providers.breaker import BreakerState, CircuitBreaker
from brushwork.providers.openai import OpenAIImageGenerate
from brushwork.providers.settings import BreakerPolicy
from brushwork.providers.testing import FakeClock, Fault, FaultKind


def make_breaker(threshold: int = 3, cooldown: float = 10.0) -> tuple[CircuitBreaker, FakeClock]:
    clock = FakeClock()
    policy = BreakerPolicy(failure_threshold=threshold, cooldown_s=cooldown)
    return CircuitBreaker("openai", policy, clock), clock


def test_opens_after_threshold():
    breaker, _ = make_breaker(threshold=3)
    for _ in range(2):
        breaker.before_call()
        breaker.record_failure("HTTP 500")
    assert breaker.state is BreakerState.CLOSED

    breaker.before_call()
    breaker.record_failure("HTTP 503")

    assert breaker.state is BreakerState.OPEN
    with pytest.raises(ProviderError) as caught:
        breaker.before_call()
    assert "circuit breaker is open after 3 consecutive failures" in caught.value.message
    assert "HTTP 503" in caught.value.message
    assert caught.value.may_have_charged is False
    assert caught.value.retryable is True


def test_success_resets_count():
    breaker, _ = make_breaker(threshold=2)
    breaker.record_failure("HTTP 500")
    breaker.record_success()
    breaker.record_failure("HTTP 500")
    assert breaker.state is BreakerState.CLOSED


def test_half_open_after_cooldown_then_closes():
    breaker, clock = make_breaker(threshold=1, cooldown=10.0)
    breaker.record_failure("timeout")
    clock.now += 9.9
    assert breaker.state is BreakerState.OPEN

    clock.now += 0.2
    assert breaker.state is BreakerState.HALF_OPEN
    breaker.before_call()
    # Only one trial at a time while half-open.
    with pytest.raises(ProviderError, match="until a trial request finishes"):
        breaker.before_call()
    breaker.record_success()

    assert breaker.state is BreakerState.CLOSED
    breaker.before_call()


def test_half_open_failure_reopens():
    breaker, clock = make_breaker(threshold=1, cooldown=5.0)
    breaker.record_failure("timeout")
    clock.now += 5.0
    breaker.before_call()
    breaker.record_failure("timeout again")

    assert breaker.state is BreakerState.OPEN
    assert breaker.retry_in_s() == pytest.approx(5.0)


def test_cancelled_trial_frees_its_slot():
    breaker, clock = make_breaker(threshold=1, cooldown=1.0)
    breaker.record_failure("timeout")
    clock.now += 1.0
    breaker.before_call()
    breaker.release()
    breaker.before_call()


def test_state_changes_logged():
    breaker, clock = make_breaker(threshold=1, cooldown=1.0)
    with capture_logs() as logs:
        breaker.record_failure("HTTP 502")
        clock.now += 1.0
        assert breaker.state is BreakerState.HALF_OPEN
        breaker.record_success()
    changes = [(line["previous"], line["state"]) for line in logs]
    assert changes == [("closed", "open"), ("open", "half_open"), ("half_open", "closed")]
    assert all(line["provider"] == "openai" for line in logs)


@pytest.mark.asyncio
async def test_node_fails_fast_while_open_and_recovers(harness_factory):
    harness = await harness_factory(
        "openai", settings={"breaker": BreakerPolicy(failure_threshold=2, cooldown_s=30.0)})
    harness.fake.inject(Fault(FaultKind.SERVER_ERROR, phase="submit", times=2))
    node = OpenAIImageGenerate()

    for _ in range(2):
        with pytest.raises(ProviderError, match="HTTP 500"):
            await node.execute(harness.context(), prompt="x")
    assert harness.hub.breaker_state("openai") == "open"

    with pytest.raises(ProviderError, match="circuit breaker is open"):
        await node.execute(harness.context(), prompt="x")
    assert len(harness.fake.requests) == 2

    harness.clock.now += 30.0
    assert harness.hub.breaker_states() == {"openai": "half_open"}
    (image,) = await node.execute(harness.context(), prompt="x")
    assert image.shape[0] == 1
    assert harness.hub.breaker_state("openai") == "closed"


@pytest.mark.asyncio
async def test_rate_limits_do_not_open_breaker(harness_factory):
    harness = await harness_factory(
        "openai", settings={"breaker": BreakerPolicy(failure_threshold=1)})
    harness.fake.inject(Fault(FaultKind.RATE_LIMIT, phase="submit", times=2))

    await OpenAIImageGenerate().execute(harness.context(), prompt="x")

    assert harness.hub.breaker_state("openai") == "closed"


def test_unused_provider_reads_closed():
    from brushwork.providers.hub import ProviderHub

    assert ProviderHub().breaker_state("luma") == "closed"
