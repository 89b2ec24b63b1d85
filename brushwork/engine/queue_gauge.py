"""The number of queued and running prompts, kept current from the log."""

from __future__ import annotations

from ..events.notifier import Broadcaster
from ..events.store import EventStore, RecordedEvent
from ..events.types import (
    ExecutionFailed,
    ExecutionInterrupted,
    ExecutionSucceeded,
    PromptDeleted,
    PromptQueued,
    ResumeRequested,
)

_DONE = (ExecutionSucceeded, ExecutionFailed, ExecutionInterrupted, PromptDeleted)


class QueueGauge:
    """Counts active prompts by folding events, so a submission needs no count query."""

    def __init__(self, active: set[str], position: int) -> None:
        self.active = set(active)
        self.position = position

    @property
    def count(self) -> int:
        return len(self.active)

    def apply(self, record: RecordedEvent) -> None:
        event = record.event
        if isinstance(event, PromptQueued | ResumeRequested):
            self.active.add(event.prompt_id)
        elif isinstance(event, _DONE):
            self.active.discard(event.prompt_id)
        self.position = record.position

    async def follow(self, broadcaster: Broadcaster, store: EventStore) -> None:
        subscription = broadcaster.subscribe(store, after=self.position)
        try:
            while True:
                for record in await subscription.next_batch(poll_interval=1.0):
                    self.apply(record)
        finally:
            subscription.close()
