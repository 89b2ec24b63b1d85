"""Fault injection over every provider: each fault ends in its documented outcome.

Outcomes (see docs/providers.md):

- 429 with Retry-After: waited out and retried, in every phase.
- 5xx, read timeout, connection reset, truncated or malformed body: retried
  on polls and downloads. On the paid submission (no idempotency key) it ends
  in a ProviderError with ``may_have_charged=True``.
- Connection refused: retried on the submission too (nothing was sent), then
  a ProviderError with ``may_have_charged=False``.
- Oversized result: aborted, ProviderError, not retryable.
- A job that never finishes: ProviderError at the poll deadline naming the job.

Every run is bounded by ``anyio.fail_after`` and watched for event-loop stalls.
"""

from __future__ import annotations

import email.utils
import socket
from dataclasses import dataclass
from typing import Any

import anyio
import pytest

from brushwork.errors import ProviderError
from brushwork.events.types import ProviderCallRecorded
from brushwork.providers.testing import Fault, FaultKind
from tests.providers.support import CASES, LoopWatchdog, ProviderCase, assert_output

# Requests a phase makes without faults (the fakes finish jobs on the second poll).
NORMAL_REQUESTS = {"submit": 1, "poll": 2, "download": 1}
MAX_LOOP_LAG_S = 1.0


@dataclass(frozen=True)
class Scenario:
    provider: str
    kind: FaultKind
    phase: str
    times: int = 1

    @property
    def case(self) -> ProviderCase:
        return CASES[self.provider]

    @property
    def id(self) -> str:
        return f"{self.provider}-{self.kind.value}-{self.phase}"


def _scenarios() -> list[Scenario]:
    scenarios = []
    for provider, case in CASES.items():
        json_phases = [phase for phase in case.phases
                       if phase == "poll" or (phase == "submit" and provider != "elevenlabs")]
        for phase in case.phases:
            scenarios.append(Scenario(provider, FaultKind.RATE_LIMIT, phase, times=2))
            scenarios.append(Scenario(provider, FaultKind.SERVER_ERROR, phase, times=2))
            scenarios.append(Scenario(provider, FaultKind.UNAVAILABLE, phase, times=2))
            scenarios.append(Scenario(provider, FaultKind.READ_TIMEOUT, phase))
            scenarios.append(Scenario(provider, FaultKind.CONNECTION_RESET, phase))
            scenarios.append(Scenario(provider, FaultKind.TRUNCATED_BODY, phase))
        for phase in json_phases:
            scenarios.append(Scenario(provider, FaultKind.MALFORMED_JSON, phase))
        scenarios.append(Scenario(provider, FaultKind.OVERSIZED, case.result_phase))
        if case.is_async:
            scenarios.append(Scenario(provider, FaultKind.NEVER_FINISHES, "poll"))
    return scenarios


SCENARIOS = _scenarios()


async def _run_watched(harness: Any, case: ProviderCase) -> tuple[Any, BaseException | None,
                                                                   LoopWatchdog]:
    """Run the node under a deadline and a loop watchdog; return (output, error, watchdog)."""
    watchdog = LoopWatchdog()
    output: Any = None
    error: BaseException | None = None
    with anyio.fail_after(20):
        async with anyio.create_task_group() as group:
            await group.start(watchdog.run)
            try:
                output = await case.node().execute(harness.context(), **case.inputs())
            except ProviderError as exc:
                error = exc
            group.cancel_scope.cancel()
    return output, error, watchdog


def _expects_success(scenario: Scenario) -> bool:
    if scenario.kind is FaultKind.RATE_LIMIT:
        return True
    if scenario.kind in (FaultKind.OVERSIZED, FaultKind.NEVER_FINISHES):
        return False
    # Transient faults are retried except on the unsafe paid submission.
    return scenario.phase != "submit"


@pytest.mark.asyncio
@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda scenario: scenario.id)
async def test_fault_outcome(harness_factory, scenario: Scenario):
    case = scenario.case
    harness = await harness_factory(scenario.provider)
    harness.fake.inject(Fault(scenario.kind, phase=scenario.phase, times=scenario.times,
                              retry_after="2"))

    output, error, watchdog = await _run_watched(harness, case)

    assert watchdog.max_lag_s < MAX_LOOP_LAG_S
    if _expects_success(scenario):
        assert error is None, error
        assert_output(case, output)
        assert harness.fake.rejections == []
        expected = NORMAL_REQUESTS[scenario.phase] + scenario.times
        assert len(harness.fake.requests_in(scenario.phase)) == expected
        if scenario.kind is FaultKind.RATE_LIMIT:
            assert harness.clock.sleeps.count(2.0) >= scenario.times
        if scenario.phase == "submit":
            assert harness.fake.submissions == 1
        return

    assert isinstance(error, ProviderError)
    assert error.provider == scenario.provider
    assert error.may_have_charged is True
    failed = [event for event in harness.events_of(ProviderCallRecorded)
              if event.outcome == "error"]
    assert len(failed) == 1
    assert failed[0].error
    if scenario.kind is FaultKind.NEVER_FINISHES:
        job_id = next(iter(harness.fake.jobs))
        assert f"job {job_id} did not finish" in error.message
        assert error.retryable is False
        return
    if scenario.kind is FaultKind.OVERSIZED:
        assert "limit" in error.message
        assert error.retryable is False
        return
    # A transient fault on the paid submission: no retry, because it may have been accepted.
    assert scenario.phase == "submit"
    assert error.retryable is True
    assert len(harness.fake.requests_in("submit")) == 1
    assert "may already have charged" in error.message
    assert failed[0].attempts == 1


@pytest.mark.asyncio
@pytest.mark.parametrize("provider", list(CASES))
async def test_retry_after_http_date(harness_factory, provider):
    case = CASES[provider]
    harness = await harness_factory(provider)
    when = email.utils.formatdate(harness.clock.wall() + 5, usegmt=True)
    harness.fake.inject(Fault(FaultKind.RATE_LIMIT, phase="submit", retry_after=when))

    output, error, _ = await _run_watched(harness, case)

    assert error is None, error
    assert_output(case, output)
    assert harness.clock.sleeps[0] == pytest.approx(5.0, abs=1.0)


@pytest.mark.asyncio
@pytest.mark.parametrize("provider", list(CASES))
async def test_retry_after_too_long_fails_fast(harness_factory, provider):
    case = CASES[provider]
    harness = await harness_factory(provider)
    harness.fake.inject(Fault(FaultKind.RATE_LIMIT, phase="submit", retry_after="3600"))

    _, error, _ = await _run_watched(harness, case)

    assert isinstance(error, ProviderError)
    assert error.http_status == 429
    assert "3600 s" in error.message
    assert error.may_have_charged is False
    assert harness.clock.sleeps == []


@pytest.mark.asyncio
@pytest.mark.parametrize("provider", list(CASES))
async def test_connection_refused_retried_then_clear_error(harness_factory, provider):
    case = CASES[provider]
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    harness = await harness_factory(provider, base_url=f"http://127.0.0.1:{closed_port}")

    _, error, _ = await _run_watched(harness, case)

    assert isinstance(error, ProviderError)
    assert error.may_have_charged is False
    assert error.retryable is True
    assert "after 3 attempts" in error.message
    assert "connection failed" in error.message
    (event,) = harness.events_of(ProviderCallRecorded)
    assert event.attempts == 3
    assert event.outcome == "error"


@pytest.mark.asyncio
@pytest.mark.parametrize("provider", [name for name, case in CASES.items()
                                      if case.result_phase == "download"])
async def test_declared_oversize_rejected_before_reading(harness_factory, provider):
    case = CASES[provider]
    harness = await harness_factory(provider)
    harness.fake.inject(Fault(FaultKind.OVERSIZED, phase="download", declare_length=True))

    _, error, _ = await _run_watched(harness, case)

    assert isinstance(error, ProviderError)
    assert "over the 1048576-byte limit" in error.message


@pytest.mark.asyncio
@pytest.mark.parametrize("provider", [name for name, case in CASES.items()
                                      if case.result_phase == "download"])
async def test_error_page_instead_of_result_rejected(harness_factory, provider):
    case = CASES[provider]
    harness = await harness_factory(provider)
    harness.fake.inject(Fault(FaultKind.TRUNCATED_BODY, phase="download",
                              content_type="text/html"))

    _, error, _ = await _run_watched(harness, case)

    assert isinstance(error, ProviderError)
    assert "content type 'text/html'" in error.message
    assert error.retryable is False
