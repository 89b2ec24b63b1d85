from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio

from brushwork.engine.registry import default_registry
from brushwork.events.store import RecordedEvent
from brushwork.events.types import ExecutionFailed, ExecutionInterrupted, ExecutionSucceeded
from brushwork.runtime import Runtime
from brushwork.settings import Settings
from tests.support import nodes as test_nodes

TERMINAL = (ExecutionSucceeded, ExecutionFailed, ExecutionInterrupted)


def make_settings(tmp_path: Path, **overrides: Any) -> Settings:
    settings = Settings(data_dir=tmp_path / "data")
    for key, value in overrides.items():
        setattr(settings, key, value)
    return settings


def make_registry():
    registry = default_registry()
    for cls in test_nodes.NODE_CLASSES:
        registry.register(cls)
    return registry


def open_runtime(tmp_path: Path, **overrides: Any) -> Runtime:
    """A Runtime with the built-in and test nodes; use it as ``async with``.

    (Not a fixture: the Runtime's task group must be entered and left in one task.)
    """
    return Runtime(make_settings(tmp_path, **overrides), make_registry())


async def run_prompt(rt: Runtime, prompt: dict[str, Any], timeout: float = 30,
                     **body: Any) -> tuple[str, list[RecordedEvent]]:
    """Submit a prompt and wait for its terminal event; return its id and its events."""
    subscription = rt.broadcaster.subscribe()
    try:
        answer = await rt.commands.submit({"prompt": prompt, **body})
        prompt_id = answer["prompt_id"]
        with anyio.fail_after(timeout):
            while True:
                batch = await subscription.next_batch()
                if any(isinstance(r.event, TERMINAL) and r.event.prompt_id == prompt_id
                       for r in batch):
                    break
        return prompt_id, await rt.store.read_stream(prompt_id)
    finally:
        subscription.close()


def of_type(records: list[RecordedEvent], cls: type) -> list[Any]:
    return [r.event for r in records if isinstance(r.event, cls)]
