"""Resume after a crash: an accepted job in prior_events is polled, never submitted again."""

from __future__ import annotations

import pytest

from brushwork.events.types import ProviderCallRecorded, ProviderJobAccepted
from tests.providers.support import CASES, assert_output

ASYNC_PROVIDERS = [name for name, case in CASES.items() if case.is_async]


@pytest.mark.asyncio
@pytest.mark.parametrize("provider", ASYNC_PROVIDERS)
async def test_accepted_job_is_polled_not_resubmitted(harness_factory, provider):
    case = CASES[provider]
    harness = await harness_factory(provider)

    # The first run submits, then "crashes" before the node finishes: keep its events.
    await case.node().execute(harness.context(), **case.inputs())
    (accepted,) = harness.events_of(ProviderJobAccepted)
    assert harness.fake.submissions == 1

    resumed_events: list = []
    ctx = harness.context(events=resumed_events, prior_events=list(harness.events), attempt=2)
    output = await case.node().execute(ctx, **case.inputs())

    assert_output(case, output)
    assert harness.fake.submissions == 1
    assert len(harness.fake.requests_in("submit")) == 1
    assert not [event for event in resumed_events if isinstance(event, ProviderJobAccepted)]
    poll = next(event for event in resumed_events if isinstance(event, ProviderCallRecorded))
    # Rodin's status request is documented as a POST with the key in its body.
    assert poll.method == ("POST" if provider == "rodin" else "GET")
    assert poll.parameters["job_id"] == accepted.job_id
    assert poll.parameters["resumed"] is True


@pytest.mark.asyncio
@pytest.mark.parametrize("provider", ASYNC_PROVIDERS)
async def test_other_nodes_jobs_are_ignored(harness_factory, provider):
    case = CASES[provider]
    harness = await harness_factory(provider)
    foreign = ProviderJobAccepted(prompt_id="prompt-1", node_id="99", provider=provider,
                                  job_id="not-mine", poll_url=harness.fake.base_url + "/x")

    await case.node().execute(harness.context(prior_events=[foreign]), **case.inputs())

    assert harness.fake.submissions == 1


@pytest.mark.asyncio
async def test_list_calls_resume_their_own_jobs(harness_factory):
    # The engine calls a node once per list item with one context; each call has its own job.
    case = CASES["luma"]
    harness = await harness_factory("luma")
    ctx = harness.context()
    first = await case.node().execute(ctx, prompt="first")
    second = await case.node().execute(ctx, prompt="second")
    accepted = harness.events_of(ProviderJobAccepted)
    assert len(accepted) == 2
    assert first.values[0] != second.values[0]

    resumed_events: list = []
    ctx = harness.context(events=resumed_events, prior_events=list(harness.events), attempt=2)
    again_first = await case.node().execute(ctx, prompt="first")
    again_second = await case.node().execute(ctx, prompt="second")

    assert harness.fake.submissions == 2
    polled = [event.parameters["job_id"] for event in resumed_events
              if isinstance(event, ProviderCallRecorded) and event.method == "GET"
              and "job_id" in event.parameters]
    assert polled == [event.job_id for event in accepted]
    assert again_first.values == first.values
    assert again_second.values == second.values
