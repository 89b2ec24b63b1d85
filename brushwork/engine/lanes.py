"""Execution lanes: a device lane per device, a CPU thread pool and provider limits."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio

from ..events.worker_threads import WorkerThreads


class Lanes:
    def __init__(self, *, cpu_threads: int = 4, device_concurrency: int = 1,
                 provider_limits: dict[str, int] | None = None,
                 default_provider_limit: int = 16) -> None:
        # CPU-lane runs go to these threads, which also bound how many run at once.
        self.cpu_threads = WorkerThreads("brushwork-cpu", cpu_threads)
        self.device_concurrency = device_concurrency
        self._devices: dict[str, anyio.CapacityLimiter] = {}
        self._provider_limits = provider_limits or {}
        self._default_provider_limit = default_provider_limit
        self._providers: dict[str, anyio.CapacityLimiter] = {}

    def device_limiter(self, device: str) -> anyio.CapacityLimiter:
        limiter = self._devices.get(device)
        if limiter is None:
            limiter = anyio.CapacityLimiter(self.device_concurrency)
            self._devices[device] = limiter
        return limiter

    def close(self) -> None:
        """Let the CPU threads end after their current runs, without waiting for them."""
        self.cpu_threads.close(wait=False)

    @asynccontextmanager
    async def io(self, provider: str | None) -> AsyncIterator[None]:
        key = provider or "_default"
        limiter = self._providers.get(key)
        if limiter is None:
            limit = self._provider_limits.get(key, self._default_provider_limit)
            limiter = anyio.CapacityLimiter(limit)
            self._providers[key] = limiter
        async with limiter:
            yield
