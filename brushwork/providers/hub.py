"""The provider hub: the engine service that nodes reach as ``ctx.service("providers")``.

    hub = ProviderHub(ProviderSettings(base_urls={"openai": "http://127.0.0.1:8081/v1"}),
                      default_secrets(paths.secrets_file))
    services["providers"] = hub
    ...
    await hub.close()

The hub owns one ``ProviderClient`` per provider (created on first use, with
its aiohttp session created on its first request), the settings and the
secrets source. ``clock``, ``sleep``, ``wall_clock`` and ``random`` are
injectable so that tests run retries and polling without real waits.
"""

from __future__ import annotations

import random as _random
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

import anyio

from .call import ProviderCall
from .client import ProviderClient, ProviderSpec
from .secrets import EnvSecrets, SecretsSource, resolve_secret
from .settings import ProviderSettings

if TYPE_CHECKING:
    from ..engine.context import NodeContext


class ProviderHub:
    def __init__(
        self,
        settings: ProviderSettings | None = None,
        secrets: SecretsSource | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
        wall_clock: Callable[[], float] = time.time,
        random: Callable[[], float] = _random.random,
    ) -> None:
        self.settings = settings or ProviderSettings()
        self.secrets: SecretsSource = secrets if secrets is not None else EnvSecrets()
        self.clock = clock
        self.sleep = sleep
        self.wall_clock = wall_clock
        self.random = random
        self._clients: dict[str, ProviderClient] = {}
        self._closed = False

    def client(self, spec: ProviderSpec) -> ProviderClient:
        """Return the provider's client, creating it on first use."""
        if self._closed:
            raise RuntimeError("the provider hub is closed")
        client = self._clients.get(spec.name)
        if client is None:
            client = ProviderClient(
                spec, self.settings, clock=self.clock, sleep=self.sleep,
                wall_clock=self.wall_clock, random=self.random,
            )
            self._clients[spec.name] = client
        return client

    def connect(
        self, ctx: NodeContext, spec: ProviderSpec, secret_name: str | None = None
    ) -> ProviderCall:
        """Resolve the node's secret for its principal and bind the provider's client to ``ctx``.

        Raises SecretAccessDeniedError when the policy forbids the secret to
        ``ctx.principal``, and SecretNotFoundError when no source has it.
        """
        name = secret_name or spec.name
        key = resolve_secret(
            self.secrets, name, principal=ctx.principal, policy=self.settings.secret_policy
        )
        return ProviderCall(self, ctx, self.client(spec), name, key)

    def breaker_state(self, provider: str) -> str:
        """The breaker state of ``provider``: "closed", "open" or "half_open"."""
        client = self._clients.get(provider)
        return client.breaker.state.value if client is not None else "closed"

    def breaker_states(self) -> dict[str, str]:
        """The breaker state of every provider used since start (for metrics)."""
        return {name: client.breaker.state.value for name, client in self._clients.items()}

    async def close(self) -> None:
        """Close every provider's session; the hub cannot be used afterwards."""
        self._closed = True
        clients = list(self._clients.values())
        self._clients.clear()
        for client in clients:
            await client.close()
