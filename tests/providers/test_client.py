"""The shared client layer: Retry-After, backoff, key hosts, downloads, concurrency."""

from __future__ import annotations

import email.utils

import anyio
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from brushwork.errors import ProviderError
from brushwork.providers.bfl import SPEC as BFL_SPEC
from brushwork.providers.call import audit_parameters
from brushwork.providers.client import FormField, ProviderClient, default_error_message
from brushwork.providers.openai import SPEC as OPENAI_SPEC
from brushwork.providers.openai import OpenAIImageGenerate
from brushwork.providers.retry import backoff_delay, parse_retry_after
from brushwork.providers.settings import (
    PollPolicy,
    ProviderOverrides,
    ProviderSettings,
    RetryPolicy,
)
from brushwork.providers.testing import FakeClock, sample_image


def test_retry_after_seconds_and_ms():
    assert parse_retry_after({"retry-after": "7"}, now=0) == 7.0
    assert parse_retry_after({"retry-after": "1.5"}, now=0) == 1.5
    assert parse_retry_after({"retry-after-ms": "250", "retry-after": "9"}, now=0) == 0.25
    assert parse_retry_after({}, now=0) is None
    assert parse_retry_after({"retry-after": "soon"}, now=0) is None


def test_retry_after_http_date():
    now = 1_700_000_000.0
    header = email.utils.formatdate(now + 42, usegmt=True)
    assert parse_retry_after({"retry-after": header}, now=now) == pytest.approx(42.0)
    past = email.utils.formatdate(now - 42, usegmt=True)
    assert parse_retry_after({"retry-after": past}, now=now) == 0.0


def test_backoff_full_jitter_bounds():
    policy = RetryPolicy(base_delay_s=0.5, max_delay_s=4.0)
    assert backoff_delay(1, policy, lambda: 1.0) == 0.5
    assert backoff_delay(3, policy, lambda: 1.0) == 2.0
    assert backoff_delay(10, policy, lambda: 1.0) == 4.0
    assert backoff_delay(10, policy, lambda: 0.0) == 0.0
    assert backoff_delay(2, policy, lambda: 0.25) == 0.25


def make_client(spec=OPENAI_SPEC, settings: ProviderSettings | None = None) -> ProviderClient:
    clock = FakeClock()
    return ProviderClient(spec, settings or ProviderSettings(), clock=clock, sleep=clock.sleep,
                          random=lambda: 0.5)


def test_key_sent_only_to_trusted_hosts():
    client = make_client()
    assert client.may_send_key("https://api.openai.com/v1/images/generations")
    assert not client.may_send_key("http://api.openai.com/v1/x")
    assert not client.may_send_key("https://api.openai.com:8443/v1/x")
    assert not client.may_send_key("https://cdn.example.com/x.png")

    bfl = make_client(BFL_SPEC)
    assert bfl.may_send_key("https://api.eu.bfl.ai/v1/get_result?id=1")
    assert bfl.may_send_key("https://api.bfl.ml/v1/get_result?id=1")
    assert not bfl.may_send_key("http://api.eu.bfl.ai/v1/get_result?id=1")
    assert not bfl.may_send_key("https://bfl.ai.evil.example/v1/get_result")


def test_per_provider_overrides():
    settings = ProviderSettings(
        base_urls={"openai": "http://127.0.0.1:1/v1"},
        per_provider={"bfl": ProviderOverrides(base_url="http://127.0.0.1:2", concurrency=2,
                                               poll=PollPolicy(deadline_s=5.0))},
    )
    assert make_client(settings=settings).base_url == "http://127.0.0.1:1/v1"
    bfl = make_client(BFL_SPEC, settings)
    assert bfl.base_url == "http://127.0.0.1:2"
    assert bfl.concurrency == 2
    assert bfl.poll_policy.deadline_s == 5.0
    # Without overrides the provider module's poll policy applies.
    assert make_client(BFL_SPEC).poll_policy == BFL_SPEC.poll


def test_endpoint_labels_drop_queries():
    client = make_client()
    assert client.endpoint_for("https://api.openai.com/v1/images/generations") == \
        "/images/generations"
    assert client.endpoint_for("https://cdn.example.com/a.png?sig=secret") == \
        "https://cdn.example.com/a.png"


def test_default_error_messages():
    assert default_error_message({"error": {"message": "bad key", "type": "x"}}) == "bad key"
    assert default_error_message({"detail": {"status": "system_busy", "message": "later"}}) == \
        "system_busy: later"
    assert default_error_message({"detail": [{"msg": "too long"}]}) == "too long"
    assert default_error_message({"id": "1", "name": "bad_request", "errors": ["a", "b"]}) == \
        "a; b"
    assert default_error_message("<html>oops</html>") == "<html>oops</html>"
    assert default_error_message(None) is None


def test_audit_parameters_drop_blobs():
    data_uri = "data:image/png;base64," + "A" * 5000
    parameters = audit_parameters(
        {"prompt": "hi", "promptImage": data_uri, "nested": {"long": "x" * 3000}},
        [FormField("image", b"\x89PNG....", filename="image.png", content_type="image/png"),
         FormField("seed", "5")],
    )
    assert parameters["prompt"] == "hi"
    assert parameters["promptImage"].startswith("<data URI, ")
    assert parameters["nested"]["long"] == "<3000 chars>"
    assert parameters["image"] == "<file, 8 bytes>"
    assert parameters["seed"] == "5"


@pytest.mark.asyncio
async def test_concurrency_limit_per_provider(harness_factory):
    harness = await harness_factory(
        "openai", settings={"per_provider": {"openai": ProviderOverrides(concurrency=2)}})
    harness.fake.response_delay_s = 0.05

    with anyio.fail_after(10):
        async with anyio.create_task_group() as group:
            for index in range(5):
                group.start_soon(
                    lambda index=index: OpenAIImageGenerate().execute(
                        harness.context(node_id=str(index)), prompt="x"))

    assert harness.fake.submissions == 5
    assert harness.fake.peak_active_requests == 2


@pytest.mark.asyncio
async def test_download_writes_file_atomically(harness_factory, tmp_path):
    harness = await harness_factory("bfl")
    call = harness.hub.connect(harness.context(), BFL_SPEC)
    dest = tmp_path / "out.jpeg"

    body, media_type = await call.download(harness.fake.file_url("x.jpeg"),
                                           content_types=("image/",), dest=dest)

    assert body is None
    assert media_type == "image/jpeg"
    assert dest.read_bytes() == sample_image(image_format="JPEG")
    assert not list(tmp_path.glob(".*.part"))


@pytest.mark.asyncio
async def test_download_rejects_non_http_urls(harness_factory):
    harness = await harness_factory("bfl")
    call = harness.hub.connect(harness.context(), BFL_SPEC)

    with pytest.raises(ProviderError, match="not HTTP"):
        await call.download("file:///etc/passwd", content_types=("image/",))


@pytest.mark.asyncio
async def test_closed_hub_rejects_use(harness_factory):
    harness = await harness_factory("openai")
    await harness.hub.close()

    with pytest.raises(RuntimeError, match="closed"):
        harness.hub.connect(harness.context(), OPENAI_SPEC)


@settings(max_examples=200, deadline=None)
@given(attempt=st.integers(min_value=1, max_value=60),
       fraction=st.floats(min_value=0.0, max_value=1.0))
def test_backoff_stays_within_ceiling(attempt, fraction):
    policy = RetryPolicy(base_delay_s=0.5, max_delay_s=30.0)
    delay = backoff_delay(attempt, policy, lambda: fraction)
    assert 0.0 <= delay <= 30.0
    assert delay <= 0.5 * 2 ** (attempt - 1)


@settings(max_examples=200, deadline=None)
@given(prefix=st.text(max_size=40), suffix=st.text(max_size=40))
def test_redacted_text_never_contains_key(prefix, suffix):
    from brushwork.providers.redact import redact_text, register_secret

    key = "sk-hypothesis-key-5f0c2a9e"
    register_secret(key)
    assert key not in redact_text(prefix + key + suffix + key)
