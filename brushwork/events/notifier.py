"""In-process publication of committed events to subscribers.

A publication is a hint that carries the events themselves. A subscriber
that sees a gap in positions (events committed by another process) reads
the missing range from the store, so nothing is skipped.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Sequence

from .store import EventStore, RecordedEvent


class Subscription:
    """A queue of committed events, delivered in position order without gaps."""

    def __init__(self, broadcaster: Broadcaster, store: EventStore | None, after: int) -> None:
        self._broadcaster = broadcaster
        self._store = store
        self.position = after
        self._buffer: deque[RecordedEvent] = deque()
        # Plain asyncio primitives, because a subscription waits once per commit
        # and anyio's event and cancel scope add several Python calls to each wait.
        self._ready = asyncio.Event()
        self._poked = False

    def _push(self, records: Sequence[RecordedEvent]) -> None:
        self._buffer.extend(records)
        self._ready.set()

    def poke(self) -> None:
        """Make the subscriber read the store (used by cross-process notifications)."""
        self._poked = True
        self._ready.set()

    async def next_batch(self, poll_interval: float | None = None) -> list[RecordedEvent]:
        """Wait for and return the next committed events after ``position``.

        With ``poll_interval``, the store is read at least that often even
        without a notification: this catches events that another process
        appended to a shared SQLite file, which sends no notification.
        """
        while True:
            batch = self._take(strict=True)
            if batch:
                return batch
            if self._store is not None and (self._buffer or self._poked):
                self._poked = False
                from_store = await self._store.read_all(after=self.position, limit=5000)
                if from_store:
                    self._drop_through(from_store[-1].position)
                    self.position = from_store[-1].position
                    return from_store
            if self._buffer:
                # A gap that the store cannot fill: positions skipped by
                # rolled-back transactions (PostgreSQL sequences do that).
                return self._take(strict=False)
            self._ready.clear()
            if poll_interval is None or self._store is None:
                await self._ready.wait()
                continue
            timer = asyncio.get_running_loop().call_later(poll_interval, self.poke)
            try:
                await self._ready.wait()
            finally:
                timer.cancel()

    def _take(self, *, strict: bool) -> list[RecordedEvent]:
        out: list[RecordedEvent] = []
        while self._buffer:
            record = self._buffer[0]
            if record.position <= self.position:
                self._buffer.popleft()
                continue
            if strict and record.position != self.position + 1 and self._store is not None:
                break
            out.append(self._buffer.popleft())
            self.position = record.position
        return out

    def _drop_through(self, position: int) -> None:
        while self._buffer and self._buffer[0].position <= position:
            self._buffer.popleft()

    def close(self) -> None:
        self._broadcaster._subscriptions.discard(self)


class Broadcaster:
    def __init__(self) -> None:
        self._subscriptions: set[Subscription] = set()

    def subscribe(self, store: EventStore | None = None, after: int = 0) -> Subscription:
        subscription = Subscription(self, store, after)
        self._subscriptions.add(subscription)
        return subscription

    def publish(self, records: Sequence[RecordedEvent]) -> None:
        if not records:
            return
        for subscription in list(self._subscriptions):
            subscription._push(records)

    def poke_all(self) -> None:
        for subscription in list(self._subscriptions):
            subscription.poke()
