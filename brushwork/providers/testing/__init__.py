"""The provider test kit: fake provider servers, faults, a fake clock, a node context.

Typical use::

    async with FakeRunway(api_key=secret_key("runway")) as fake:
        clock = FakeClock()
        hub = ProviderHub(ProviderSettings(base_urls={"runway": fake.base_url}),
                          MappingSecrets({"runway": secret_key("runway")}),
                          clock=clock, sleep=clock.sleep)
        ctx = make_node_context(tmp_path, {"providers": hub}, events=events)
        output = await RunwayImageToVideo().execute(ctx, image=image, prompt="a cat")
        assert fake.rejections == []
        await hub.close()

Importing this package imports aiohttp but not torch.
"""

from __future__ import annotations

from .bfl import FakeBFL
from .elevenlabs import FakeElevenLabs
from .faults import Fault, FaultKind
from .luma import FakeLuma
from .openai import FakeOpenAI
from .runway import FakeRunway
from .server import FakeProviderServer, RecordedRequest, RequestProblem, UploadedFile
from .stability import FakeStability
from .support import SAMPLE_MP3, SAMPLE_MP4, FakeClock, make_node_context, sample_image, secret_key

FAKE_SERVERS: dict[str, type[FakeProviderServer]] = {
    "openai": FakeOpenAI,
    "stability": FakeStability,
    "bfl": FakeBFL,
    "luma": FakeLuma,
    "runway": FakeRunway,
    "elevenlabs": FakeElevenLabs,
}


def _discover_fakes() -> None:
    """Add the fake of every other provider module in this package to FAKE_SERVERS."""
    import importlib
    import pkgutil

    for info in pkgutil.iter_modules(__path__):
        if info.name in ("demo", "server", "faults", "support"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        for value in vars(module).values():
            if (isinstance(value, type) and issubclass(value, FakeProviderServer)
                    and value.__module__ == module.__name__ and value.provider != "fake"):
                FAKE_SERVERS.setdefault(value.provider, value)


_discover_fakes()

__all__ = [
    "FAKE_SERVERS",
    "SAMPLE_MP3",
    "SAMPLE_MP4",
    "FakeBFL",
    "FakeClock",
    "FakeElevenLabs",
    "FakeLuma",
    "FakeOpenAI",
    "FakeProviderServer",
    "FakeRunway",
    "FakeStability",
    "Fault",
    "FaultKind",
    "RecordedRequest",
    "RequestProblem",
    "UploadedFile",
    "make_node_context",
    "sample_image",
    "secret_key",
]
