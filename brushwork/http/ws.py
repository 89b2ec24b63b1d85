"""The websocket hub: ComfyUI's /ws protocol, fed from the log, resumable by position."""

from __future__ import annotations

import asyncio
import struct
import uuid
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any, cast

import anyio
import msgspec
import structlog
from aiohttp import WSMsgType, web

from ..events.notifier import Broadcaster
from ..events.store import EventStore, RecordedEvent
from ..events.types import NodeProgress
from .messages import BROADCAST, MessageTranslator, Outgoing, status_message

log = structlog.get_logger(__name__)

_encoder = msgspec.json.Encoder()
MAX_PENDING_MESSAGES = 10_000
PREVIEW_IMAGE = 1
FEATURE_FLAGS = {"supports_preview_metadata": True, "max_upload_size": 104857600.0}


# A client whose socket has this much unsent data gets no more frames until
# it reads. Its messages wait in its queue, and the queue's bound drops a
# client that stalls.
WRITE_BUFFER_LIMIT = 256 * 1024
# Maximum number of messages joined into one socket write.
MAX_FRAMES_PER_WRITE = 256


class _Client:
    def __init__(
        self, sid: str, ws: web.WebSocketResponse, transport: asyncio.BaseTransport | None = None
    ) -> None:
        self.sid = sid
        self.ws = ws
        self.transport = transport
        self.queue: deque[tuple[int | None, bytes | str]] = deque()
        self.ready = asyncio.Event()
        self.dropped = False

    def push(self, position: int | None, payload: bytes | str) -> None:
        if len(self.queue) >= MAX_PENDING_MESSAGES:
            self.dropped = True
            self.ready.set()
            return
        self.queue.append((position, payload))
        self.ready.set()


class WebSocketHub:
    def __init__(
        self,
        store: EventStore,
        broadcaster: Broadcaster,
        translator: MessageTranslator,
        start_position: int,
        lookup_client: Callable[[str], Awaitable[str | None]] | None = None,
    ) -> None:
        self.lookup_client = lookup_client
        # Whether a prompt runs in this process (its live progress ticks arrive directly).
        self.is_local: Callable[[str], bool] = lambda _prompt_id: False
        self.store = store
        self.broadcaster = broadcaster
        self.translator = translator
        self.position = start_position
        self.clients: dict[str, _Client] = {}
        # Sent in reply to a client's feature_flags message; create_app sets the upload limit.
        self.feature_flags: dict[str, Any] = dict(FEATURE_FLAGS)
        self.running_node: Any = None

    @property
    def client_count(self) -> int:
        return len(self.clients)

    async def run(self) -> None:
        """Follow the log and fan messages out to connected clients."""
        subscription = self.broadcaster.subscribe(self.store, after=self.position)
        try:
            while True:
                for record in await subscription.next_batch(poll_interval=1.0):
                    self.position = record.position
                    for outgoing in self.translator.translate(record):
                        self._deliver(outgoing)
                    event = record.event
                    if isinstance(event, NodeProgress) and not self.is_local(event.prompt_id):
                        # A run on another worker: its coarse marks are all that
                        # reach this server, so they stand in for live ticks.
                        self.progress(event.prompt_id, event.node_id, event.value, event.max, None)
        finally:
            subscription.close()

    def _deliver(self, outgoing: Outgoing) -> None:
        payload = _encoder.encode(outgoing.message).decode()
        if outgoing.target == BROADCAST:
            for client in self.clients.values():
                client.push(outgoing.position, payload)
        elif outgoing.target is not None:
            target = self.clients.get(outgoing.target)
            if target is not None:
                target.push(outgoing.position, payload)

    def progress(
        self, prompt_id: str, node_id: str, value: float, total: float, preview: Any
    ) -> None:
        """A live progress tick (not an event): to the prompt's client, or everyone."""
        target = self.translator.clients.get(prompt_id)
        message = {
            "type": "progress",
            "data": {"value": value, "max": total, "prompt_id": prompt_id, "node": node_id},
            # Ticks are not events: they carry the position of the last event
            # before them, which is where a resuming client picks up.
            "position": self.position,
        }
        self._deliver(Outgoing(target if target is not None else BROADCAST, message, None))
        if isinstance(preview, bytes | bytearray):
            frame = struct.pack(">II", PREVIEW_IMAGE, 1) + bytes(preview)
            clients = (
                [self.clients[target]] if target in self.clients else list(self.clients.values())
            )
            for client in clients:
                client.push(None, frame)

    async def handle(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(heartbeat=30, max_msg_size=1 << 20)
        if "request_id" in request:
            ws.headers["X-Request-ID"] = request["request_id"]
        await ws.prepare(request)
        sid = request.query.get("clientId") or uuid.uuid4().hex
        after_text = request.query.get("after")
        client = _Client(sid, ws, request.transport)
        self.clients[sid] = client
        # Every message after this position reaches the client's queue from now on.
        last_sent = self.position
        bound = log.bind(client_id=sid)
        bound.info("websocket_connected", resume_after=after_text)
        try:
            greeting = status_message(self.translator.queue_remaining(), sid)
            # The position this client is brought up to, so that even a client
            # that saw nothing else can resume from it with ?after=.
            greeting["position"] = last_sent
            await ws.send_str(_encoder.encode(greeting).decode())
            if after_text is not None:
                try:
                    after = int(after_text)
                    if not 0 <= after < 2**63:
                        raise ValueError(after_text)
                except ValueError:
                    await ws.send_json(
                        {
                            "type": "error",
                            "data": {
                                "message": f"invalid after={after_text[:40]!r}; send a log "
                                "position: an integer from 0 to 2**63-1"
                            },
                        }
                    )
                    await ws.close()
                    return ws
                last_sent = await self._catch_up(client, after)
            async with anyio.create_task_group() as tg:
                tg.start_soon(self._sender, client, last_sent)
                await self._receiver(client)
                tg.cancel_scope.cancel()
        finally:
            if self.clients.get(sid) is client:
                del self.clients[sid]
            bound.info("websocket_closed")
        return ws

    async def _catch_up(self, client: _Client, after: int) -> int:
        """Send the missed messages of this client after ``after``; return the last position."""
        translator = MessageTranslator({})
        translator.clients = self.translator.clients
        position = after
        while True:
            records = await self.store.read_all(after=position, limit=2000)
            if not records:
                return position
            await self._resolve_clients(translator, records)
            for record in records:
                if record.position > self.position:
                    return position
                for outgoing in translator.translate(record):
                    if outgoing.message["type"] == "status":
                        continue
                    if outgoing.target in (client.sid, BROADCAST):
                        await client.ws.send_str(_encoder.encode(outgoing.message).decode())
                position = record.position

    async def _resolve_clients(
        self, translator: MessageTranslator, records: list[RecordedEvent]
    ) -> None:
        if self.lookup_client is None:
            return
        for record in records:
            prompt_id = getattr(record.event, "prompt_id", None)
            if prompt_id and prompt_id not in translator.clients:
                translator.clients[prompt_id] = await self.lookup_client(prompt_id)

    async def _sender(self, client: _Client, last_sent: int) -> None:
        while True:
            await client.ready.wait()
            client.ready.clear()
            while client.queue and not client.dropped:
                # uvloop's transports do not subclass asyncio.WriteTransport.
                transport = cast(asyncio.WriteTransport | None, client.transport)
                if transport is None or client.ws.closed or transport.is_closing():
                    return
                if transport.get_write_buffer_size() > WRITE_BUFFER_LIMIT:
                    await anyio.sleep(0.01)
                    continue
                batch: list[bytes | str] = []
                while client.queue and len(batch) < MAX_FRAMES_PER_WRITE:
                    position, payload = client.queue.popleft()
                    if position is None or position > last_sent:
                        batch.append(payload)
                await self._send_batch(client, transport, batch)
            if client.dropped:
                await client.ws.close(code=1013, message=b"client too slow; reconnect with after=")
                return

    @staticmethod
    async def _send_batch(
        client: _Client, transport: asyncio.WriteTransport, batch: list[bytes | str]
    ) -> None:
        if len(batch) > 1 and not client.ws.compress:
            # One write for the whole batch: one system call instead of one per
            # message, so a small batch also reaches the client as one segment
            # and wakes it once. The frames are those aiohttp sends uncompressed.
            transport.write(b"".join(_frame(payload) for payload in batch))
            return
        for payload in batch:
            if isinstance(payload, bytes):
                await client.ws.send_bytes(payload)
            else:
                await client.ws.send_str(payload)

    async def _receiver(self, client: _Client) -> None:
        first = True
        async for message in client.ws:
            if message.type == WSMsgType.TEXT and first:
                first = False
                try:
                    data = msgspec.json.decode(message.data)
                except msgspec.DecodeError:
                    continue
                if isinstance(data, dict) and data.get("type") == "feature_flags":
                    await client.ws.send_str(
                        _encoder.encode(
                            {"type": "feature_flags", "data": self.feature_flags}
                        ).decode()
                    )
            elif message.type in (WSMsgType.ERROR, WSMsgType.CLOSE):
                break


def _frame(payload: bytes | str) -> bytes:
    """Encode one final, unmasked server frame: text for str, binary for bytes (RFC 6455 5.2)."""
    if isinstance(payload, str):
        data, first = payload.encode(), 0x81
    else:
        data, first = payload, 0x82
    length = len(data)
    if length < 126:
        header = struct.pack("!BB", first, length)
    elif length < 1 << 16:
        header = struct.pack("!BBH", first, 126, length)
    else:
        header = struct.pack("!BBQ", first, 127, length)
    return header + data
