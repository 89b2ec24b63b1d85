"""Fixtures for provider tests."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest_asyncio

from brushwork.providers.hub import ProviderHub
from brushwork.providers.secrets import MappingSecrets
from brushwork.providers.testing import (
    FAKE_SERVERS,
    FakeClock,
    FakeProviderServer,
    secret_key,
)
from tests.providers.support import Harness, MiB, fast_settings


@pytest_asyncio.fixture
async def harness_factory(
    tmp_path: Path,
) -> AsyncIterator[Callable[..., Any]]:
    """Start a fake for a provider and return a Harness around it (closed after the test)."""
    opened: list[tuple[FakeProviderServer, ProviderHub]] = []

    async def build(provider: str, *, settings: dict[str, Any] | None = None,
                    fake_options: dict[str, Any] | None = None,
                    base_url: str | None = None) -> Harness:
        fake = FAKE_SERVERS[provider](api_key=secret_key(provider), oversize_bytes=3 * MiB,
                                      hang_s=5.0, **(fake_options or {}))
        await fake.start()
        clock = FakeClock()
        hub = ProviderHub(
            fast_settings({provider: base_url or fake.base_url}, **(settings or {})),
            MappingSecrets({provider: secret_key(provider),
                            f"{provider}/team-a": secret_key(provider) + "-team-a"}),
            clock=clock, sleep=clock.sleep, wall_clock=clock.wall, random=lambda: 0.5,
        )
        opened.append((fake, hub))
        root = tmp_path / f"data-{len(opened)}"
        return Harness(fake, hub, clock, root, [], [])

    yield build
    for fake, hub in opened:
        await hub.close()
        await fake.close()
