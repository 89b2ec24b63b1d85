"""The follower that feeds committed events to the metrics and the tracer."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import structlog

from ..events.notifier import Broadcaster
from ..events.store import EventStore, RecordedEvent

log = structlog.get_logger(__name__)

EventSink = Callable[[Sequence[RecordedEvent]], None]


class EventObserver:
    """Follow the log from ``start_position`` and hand each batch to every sink.

    Events committed before the start are not folded again, so restarting a
    server neither replays spans nor counts old runs twice.
    """

    def __init__(
        self,
        store: EventStore,
        broadcaster: Broadcaster,
        start_position: int,
        sinks: Sequence[EventSink],
    ) -> None:
        self.store = store
        self.broadcaster = broadcaster
        self.position = start_position
        self.sinks = list(sinks)

    async def run(self) -> None:
        subscription = self.broadcaster.subscribe(self.store, after=self.position)
        try:
            while True:
                records = await subscription.next_batch(poll_interval=1.0)
                for sink in self.sinks:
                    try:
                        sink(records)
                    except Exception:  # a broken sink must not stop metrics or the others
                        log.exception(
                            "event_observer_sink_failed",
                            sink=repr(sink),
                            first_position=records[0].position if records else None,
                        )
                if records:
                    self.position = records[-1].position
        finally:
            subscription.close()
