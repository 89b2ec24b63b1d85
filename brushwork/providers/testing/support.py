"""Helpers for provider tests: a fake clock, a node context, sample media."""

from __future__ import annotations

import functools
import io
from pathlib import Path
from typing import Any

import anyio
import anyio.lowlevel

from ...engine.artifacts import ArtifactStore
from ...engine.context import InterruptFlag, NodeContext
from ...engine.paths import DataPaths
from ...events.types import Event


class FakeClock:
    """A monotonic clock that only ``sleep`` advances; pass it to ProviderHub.

    ``sleep`` records each delay, advances the clock and yields to the event
    loop once, so retries and polls run at full speed and stay cancellable.
    """

    def __init__(self, start: float = 1000.0, wall_offset: float = 1_700_000_000.0) -> None:
        self.now = start
        self.wall_offset = wall_offset
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def wall(self) -> float:
        return self.wall_offset + self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += max(0.0, seconds)
        await anyio.lowlevel.checkpoint()


def make_node_context(
    root: Path,
    services: dict[str, Any],
    *,
    events: list[Event] | None = None,
    progress: list[tuple[float, float]] | None = None,
    prior_events: list[Event] | None = None,
    prompt_id: str = "prompt-1",
    node_id: str = "7",
    class_type: str = "ProviderNode",
    attempt: int = 1,
    principal: str | None = None,
    interrupt: InterruptFlag | None = None,
) -> NodeContext:
    """Return a NodeContext whose recorded events and progress go to the given lists."""
    paths = DataPaths(root)
    paths.create()
    recorded = events if events is not None else []
    ticks = progress if progress is not None else []

    async def record(event: Event) -> None:
        recorded.append(event)

    def on_progress(node_id: str, value: float, total: float, preview: Any) -> None:
        ticks.append((value, total))

    return NodeContext(
        prompt_id=prompt_id,
        node_id=node_id,
        class_type=class_type,
        attempt=attempt,
        paths=paths,
        artifacts=ArtifactStore(paths.artifacts),
        prompt={},
        extra_data={},
        interrupt=interrupt or InterruptFlag(),
        on_progress=on_progress,
        record=record,
        prior_events=prior_events,
        services=services,
        principal=principal,
    )


@functools.lru_cache(maxsize=16)
def sample_image(width: int = 16, height: int = 12, image_format: str = "PNG",
                 color: tuple[int, int, int] = (255, 128, 0)) -> bytes:
    """Return a small solid-colour image, encoded as PNG, JPEG or WEBP."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (width, height), color).save(buffer, format=image_format)
    return buffer.getvalue()


# A minimal ISO base media file header: enough for a content check, not a playable video.
SAMPLE_MP4 = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom" + b"\x00" * 64
# An ID3 tag header followed by one silent MPEG frame header and padding.
SAMPLE_MP3 = b"ID3\x04\x00\x00\x00\x00\x00\x00" + b"\xff\xfb\x90\x64" + b"\x00" * 413


def secret_key(provider: str) -> str:
    """Return a fake key that is long enough to be registered for redaction."""
    return f"test-{provider}-key-0123456789abcdef"

