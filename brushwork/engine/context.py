"""What a running node sees of the engine: ids, paths, progress, interrupts, services."""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable
from typing import Any

import structlog

from ..errors import CancelledByUserError, NodeTimeoutError
from ..events.types import Event
from .artifacts import ArtifactStore
from .paths import DataPaths


class InterruptFlag:
    """A thread-safe flag that POST /interrupt sets and nodes check at each progress step."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def set(self) -> None:
        self._event.set()

    def is_set(self) -> bool:
        return self._event.is_set()


class NodeContext:
    """Passed to ``Node.execute``. Safe to use from the worker thread the node runs in."""

    def __init__(
        self,
        *,
        prompt_id: str,
        node_id: str,
        class_type: str,
        attempt: int,
        paths: DataPaths,
        artifacts: ArtifactStore,
        prompt: dict[str, Any],
        extra_data: dict[str, Any],
        interrupt: InterruptFlag,
        on_progress: Callable[[str, float, float, Any], None] | None = None,
        record: Callable[[Event], Any] | None = None,
        prior_events: list[Event] | None = None,
        services: dict[str, Any] | None = None,
        device: str = "cpu",
        principal: str | None = None,
    ) -> None:
        self.prompt_id = prompt_id
        self.node_id = node_id
        self.class_type = class_type
        self.attempt = attempt
        self.paths = paths
        self.artifacts = artifacts
        self.prompt = prompt
        self.extra_data = extra_data
        self.interrupt = interrupt
        self._on_progress = on_progress
        self._record = record
        self.prior_events = prior_events or []
        self.services = services or {}
        self.device = device
        self.principal = principal
        self._log: Any = None
        self._deadline: float | None = None
        self._timeout_error: NodeTimeoutError | None = None

    @property
    def log(self) -> Any:
        """A logger bound to this node's ids (made on first use: most nodes never log)."""
        if self._log is None:
            self._log = structlog.get_logger("brushwork.node").bind(
                prompt_id=self.prompt_id, node_id=self.node_id, class_type=self.class_type,
                attempt=self.attempt,
            )
        return self._log

    @property
    def idempotency_key(self) -> str:
        """A key that is stable for one attempt of one node of one prompt."""
        raw = f"{self.prompt_id}:{self.node_id}:{self.attempt}".encode()
        return hashlib.sha256(raw).hexdigest()[:32]

    def set_timeout(self, deadline: float, error: NodeTimeoutError) -> None:
        """Make progress steps raise ``error`` once ``time.monotonic()`` passes ``deadline``."""
        self._deadline = deadline
        self._timeout_error = error

    def timed_out(self) -> NodeTimeoutError | None:
        """Return the timeout error once the deadline has passed, else None."""
        if self._deadline is not None and time.monotonic() >= self._deadline:
            return self._timeout_error
        return None

    def check_interrupted(self) -> None:
        """Raise if the prompt was interrupted or this node ran past its timeout."""
        if self.interrupt.is_set():
            raise CancelledByUserError(f"prompt {self.prompt_id} was interrupted")
        error = self.timed_out()
        if error is not None:
            raise error

    def progress(self, value: float, total: float, preview: Any = None) -> None:
        """Report progress (value of total); also where an interrupt or a timeout stops the node."""
        self.check_interrupted()
        if self._on_progress is not None:
            self._on_progress(self.node_id, float(value), float(total), preview)

    async def record(self, event: Event) -> None:
        """Append an event to this prompt's stream and wait for its commit (provider audit)."""
        if self._record is not None:
            await self._record(event)

    def service(self, name: str) -> Any:
        try:
            return self.services[name]
        except KeyError:
            raise RuntimeError(f"service {name!r} is not configured in this engine") from None
