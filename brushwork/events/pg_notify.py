"""LISTEN/NOTIFY: wake this process's followers when another process appends."""

from __future__ import annotations

from typing import Any

import anyio
import structlog
from sqlalchemy.ext.asyncio import AsyncEngine

from .notifier import Broadcaster
from .sql import NOTIFY_CHANNEL

log = structlog.get_logger(__name__)


class PgListener:
    """Holds one asyncpg connection that LISTENs and pokes every subscription on NOTIFY.

    A notification is only a hint: subscriptions then read the log after their
    last position, so a notification lost while reconnecting costs latency,
    never an event (followers also poll once a second).
    """

    def __init__(self, engine: AsyncEngine, broadcaster: Broadcaster) -> None:
        self.engine = engine
        self.broadcaster = broadcaster

    async def run(self) -> None:
        while True:
            try:
                await self._listen()
            except anyio.get_cancelled_exc_class():
                raise
            except Exception as exc:  # the connection dropped: listen again shortly
                log.warning("listen_failed", error=repr(exc), retry_in_s=1.0)
                await anyio.sleep(1.0)

    async def _listen(self) -> None:
        async with self.engine.connect() as conn:
            raw = await conn.get_raw_connection()
            driver: Any = raw.driver_connection

            def on_notify(*_args: Any) -> None:
                self.broadcaster.poke_all()

            await driver.add_listener(NOTIFY_CHANNEL, on_notify)
            try:
                while True:
                    await anyio.sleep(30)
                    await driver.execute("SELECT 1")  # keep the connection alive
            finally:
                with anyio.CancelScope(shield=True):
                    await driver.remove_listener(NOTIFY_CHANNEL, on_notify)
