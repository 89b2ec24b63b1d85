"""Settings of the provider layer: base URLs, timeouts, limits, retries, breakers, polling.

Every field has a default, so ``ProviderSettings()`` is a working
configuration. ``per_provider`` overrides any policy for one provider, keyed by
the provider's name ("openai", "bfl", ...).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from .secrets import SecretPolicy

MiB = 1024 * 1024


@dataclass(frozen=True)
class Timeouts:
    """Timeouts of one HTTP attempt, in seconds."""

    connect_s: float = 10.0
    # Maximum gap between two reads of the response, so a stalled server times out.
    read_s: float = 120.0
    # The whole attempt, from connecting to the last byte of the body.
    total_s: float = 600.0
    # The whole attempt for result downloads, which may be large videos.
    download_total_s: float = 3600.0


@dataclass(frozen=True)
class RetryPolicy:
    """Retries of one request after 429, 5xx, timeouts and connection errors.

    Delays use exponential backoff with full jitter: attempt ``n`` waits a
    uniform random time in ``[0, min(max_delay_s, base_delay_s * 2**(n-1))]``.
    A Retry-After header replaces the computed delay. A Retry-After above
    ``max_retry_after_s`` ends the retries at once instead of waiting that long.
    """

    max_attempts: int = 4
    base_delay_s: float = 0.5
    max_delay_s: float = 30.0
    max_retry_after_s: float = 120.0


@dataclass(frozen=True)
class BreakerPolicy:
    """Thresholds of the per-provider circuit breaker.

    ``failure_threshold`` consecutive failed attempts (5xx, timeouts,
    connection errors) open the breaker. After ``cooldown_s`` it lets
    ``half_open_max_calls`` trial requests through: a success closes it, a
    failure opens it again.
    """

    failure_threshold: int = 5
    cooldown_s: float = 30.0
    half_open_max_calls: int = 1


@dataclass(frozen=True)
class PollPolicy:
    """How often and how long an asynchronous job is polled, in seconds."""

    initial_interval_s: float = 2.0
    max_interval_s: float = 15.0
    multiplier: float = 1.5
    # Polling stops with an error this long after it started; the job may still finish.
    deadline_s: float = 1800.0


@dataclass(frozen=True)
class ProviderOverrides:
    """Settings for one provider; a field left as None keeps the global value."""

    base_url: str | None = None
    timeouts: Timeouts | None = None
    retry: RetryPolicy | None = None
    breaker: BreakerPolicy | None = None
    poll: PollPolicy | None = None
    concurrency: int | None = None


@dataclass(frozen=True)
class ProviderSettings:
    """Settings of the whole provider layer, shared by every provider."""

    # Base URL per provider name; tests point these at local fake servers.
    base_urls: Mapping[str, str] = field(default_factory=dict)
    timeouts: Timeouts = field(default_factory=Timeouts)
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    breaker: BreakerPolicy = field(default_factory=BreakerPolicy)
    # The global poll policy; a provider module may set its own default.
    poll: PollPolicy | None = None
    per_provider: Mapping[str, ProviderOverrides] = field(default_factory=dict)
    # Concurrent HTTP requests per provider (each attempt takes one slot).
    concurrency: int = 8
    # Open connections per provider session (aiohttp TCPConnector limit).
    max_connections: int = 32
    # Largest API response body read into memory (JSON with base64 images included).
    max_response_bytes: int = 256 * MiB
    # Largest downloaded image, and largest other download (video, audio, 3D).
    max_image_bytes: int = 100 * MiB
    max_download_bytes: int = 2048 * MiB
    user_agent: str = "brushwork/0.1"
    # Which principal may use which secret; None allows every secret to everyone.
    secret_policy: SecretPolicy | None = None

    def for_provider(self, name: str) -> ProviderOverrides:
        return self.per_provider.get(name) or ProviderOverrides()

    def base_url_override(self, name: str) -> str | None:
        override = self.for_provider(name).base_url
        return override or self.base_urls.get(name)
