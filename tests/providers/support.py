"""Helpers for provider tests: fast settings, a harness around one fake, a case per provider."""

from __future__ import annotations

import importlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio

from brushwork.engine.context import NodeContext
from brushwork.events.types import Event
from brushwork.providers.bfl import BFLFluxGenerate
from brushwork.providers.elevenlabs import ElevenLabsTextToSpeech
from brushwork.providers.hub import ProviderHub
from brushwork.providers.luma import LumaVideoGenerate
from brushwork.providers.openai import OpenAIImageGenerate
from brushwork.providers.runway import RunwayImageToVideo
from brushwork.providers.settings import (
    BreakerPolicy,
    PollPolicy,
    ProviderSettings,
    RetryPolicy,
    Timeouts,
)
from brushwork.providers.stability import StabilityImageGenerate
from brushwork.providers.testing import (
    FakeClock,
    FakeProviderServer,
    make_node_context,
)

MiB = 1024 * 1024

# Real network timeouts stay short so that timeout faults end quickly; the
# retry and poll waits run on the fake clock.
FAST_TIMEOUTS = Timeouts(connect_s=2.0, read_s=0.5, total_s=10.0)


def fast_settings(base_urls: dict[str, str], **changes: Any) -> ProviderSettings:
    values: dict[str, Any] = {
        "base_urls": base_urls,
        "timeouts": FAST_TIMEOUTS,
        "retry": RetryPolicy(max_attempts=3, base_delay_s=0.2, max_delay_s=2.0,
                             max_retry_after_s=30.0),
        "breaker": BreakerPolicy(failure_threshold=1000, cooldown_s=30.0),
        "poll": PollPolicy(initial_interval_s=1.0, max_interval_s=4.0, multiplier=2.0,
                           deadline_s=60.0),
        "max_response_bytes": 1 * MiB,
        "max_image_bytes": 1 * MiB,
        "max_download_bytes": 1 * MiB,
    }
    values.update(changes)
    return ProviderSettings(**values)


def image_tensor(height: int = 8, width: int = 10) -> Any:
    import torch

    return torch.rand(1, height, width, 3)


@dataclass
class Harness:
    """A hub wired to one fake, and a node context that records into lists."""

    fake: FakeProviderServer
    hub: ProviderHub
    clock: FakeClock
    root: Path
    events: list[Event]
    progress: list[tuple[float, float]]

    def context(self, **kwargs: Any) -> NodeContext:
        kwargs.setdefault("events", self.events)
        kwargs.setdefault("progress", self.progress)
        return make_node_context(self.root, {"providers": self.hub}, **kwargs)

    def events_of(self, kind: type) -> list[Any]:
        return [event for event in self.events if isinstance(event, kind)]


@dataclass(frozen=True)
class ProviderCase:
    """How the fault, resume and leak suites drive one provider's main node."""

    provider: str
    node: type
    inputs: Callable[[], dict[str, Any]]
    # The phases this node's requests go through, in order.
    phases: tuple[str, ...]
    # The phase whose answer carries the result bytes (the OVERSIZED fault's target).
    result_phase: str

    @property
    def is_async(self) -> bool:
        return "poll" in self.phases


CASES = {
    "openai": ProviderCase(
        "openai", OpenAIImageGenerate, lambda: {"prompt": "a red fox"},
        ("submit",), "submit"),
    "stability": ProviderCase(
        "stability", StabilityImageGenerate, lambda: {"prompt": "a red fox"},
        ("submit",), "submit"),
    "bfl": ProviderCase(
        "bfl", BFLFluxGenerate, lambda: {"prompt": "a red fox"},
        ("submit", "poll", "download"), "download"),
    "luma": ProviderCase(
        "luma", LumaVideoGenerate, lambda: {"prompt": "a red fox running"},
        ("submit", "poll", "download"), "download"),
    "runway": ProviderCase(
        "runway", RunwayImageToVideo,
        lambda: {"image": image_tensor(), "prompt": "the fox runs"},
        ("submit", "poll", "download"), "download"),
    "elevenlabs": ProviderCase(
        "elevenlabs", ElevenLabsTextToSpeech, lambda: {"text": "Hello there."},
        ("submit",), "submit"),
}

# Each group of providers registers its cases in its own module.
for _group in ("cases_group_a", "cases_group_b", "cases_group_c"):
    try:
        CASES.update(importlib.import_module(f"tests.providers.{_group}").CASES)
    except ModuleNotFoundError as _error:
        if _error.name != f"tests.providers.{_group}":
            raise


def assert_output(case: ProviderCase, output: Any) -> None:
    """Check that a node's output is a decoded image, a saved media file, or a text."""
    import torch

    from brushwork.engine.node import NodeOutput

    if isinstance(output, NodeOutput):
        path = Path(output.values[0])
        assert path.is_file()
        assert path.stat().st_size > 0
        assert output.ui
    elif isinstance(output[0], str):
        (text,) = output
        assert text
    else:
        (image,) = output
        assert isinstance(image, torch.Tensor)
        assert image.dtype == torch.float32
        assert image.ndim == 4
        assert image.shape[-1] == 3


class LoopWatchdog:
    """Measures the longest stall of the event loop while it runs."""

    def __init__(self) -> None:
        self.max_lag_s = 0.0

    async def run(self, *, task_status: Any = anyio.TASK_STATUS_IGNORED) -> None:
        task_status.started()
        interval = 0.01
        while True:
            before = time.perf_counter()
            await anyio.sleep(interval)
            self.max_lag_s = max(self.max_lag_s, time.perf_counter() - before - interval)
