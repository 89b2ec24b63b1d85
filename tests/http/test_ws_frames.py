"""The websocket hub joins queued messages into one write, with valid frames and a bound."""

from __future__ import annotations

import asyncio
import base64
import os
import socket
import struct
from typing import Any

import aiohttp
import pytest
from aiohttp import WSMsgType, web
from aiohttp.test_utils import TestServer

from brushwork.http import ws as ws_module
from brushwork.http.messages import BROADCAST, MessageTranslator, Outgoing
from brushwork.http.ws import WebSocketHub, _frame

SIZES = (5, 125, 126, 300, 65535, 65536, 70000)


def message(index: int, size: int) -> dict[str, Any]:
    return {"type": "probe", "data": {"index": index, "text": "x" * size}}


async def hub_server() -> tuple[WebSocketHub, TestServer]:
    hub = WebSocketHub(None, None, MessageTranslator({}), start_position=0)  # type: ignore[arg-type]
    app = web.Application()
    app.router.add_get("/ws", hub.handle)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    return hub, server


async def connected(hub: WebSocketHub) -> None:
    for _ in range(200):
        if hub.clients:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the client did not register with the hub")


@pytest.mark.parametrize(
    ("payload", "header"),
    [
        ("a" * 5, b"\x81\x05"),
        ("a" * 125, b"\x81\x7d"),
        ("a" * 126, b"\x81\x7e\x00\x7e"),
        ("a" * 65535, b"\x81\x7e\xff\xff"),
        ("a" * 65536, b"\x81\x7f" + struct.pack("!Q", 65536)),
        (b"\x00\x01", b"\x82\x02"),
    ],
)
def test_frame_header(payload, header):
    frame = _frame(payload)
    data = payload.encode() if isinstance(payload, str) else payload
    assert frame == header + data


@pytest.mark.parametrize("compress", [0, 15])
@pytest.mark.asyncio
async def test_batch_arrives_in_order(compress):
    """Every size class of frame header, with and without permessage-deflate."""
    hub, server = await hub_server()
    try:
        async with aiohttp.ClientSession() as session:
            url = f"http://127.0.0.1:{server.port}/ws?clientId=c1"
            async with session.ws_connect(url, compress=compress) as client:
                greeting = await client.receive_json(timeout=10)
                assert greeting["type"] == "status"
                await connected(hub)
                assert bool(hub.clients["c1"].ws.compress) == bool(compress)
                for index, size in enumerate(SIZES, start=1):
                    hub._deliver(Outgoing(BROADCAST, message(index, size), index))
                received = [await client.receive(timeout=10) for _ in SIZES]
    finally:
        await server.close()
    assert [m.type for m in received] == [WSMsgType.TEXT] * len(SIZES)
    decoded = [m.json() for m in received]
    assert [m["data"]["index"] for m in decoded] == list(range(1, len(SIZES) + 1))
    assert [len(m["data"]["text"]) for m in decoded] == list(SIZES)


def raw_handshake(port: int) -> socket.socket:
    """Open a websocket that never reads after the handshake (a stalled client)."""
    sock = socket.create_connection(("127.0.0.1", port))
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    key = base64.b64encode(os.urandom(16)).decode()
    handshake = (
        f"GET /ws?clientId=stalled HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    sock.sendall(handshake.encode())
    return sock


@pytest.mark.asyncio
async def test_stalled_client_is_bounded_then_dropped(monkeypatch):
    monkeypatch.setattr(ws_module, "MAX_PENDING_MESSAGES", 2000)
    hub, server = await hub_server()
    sock = raw_handshake(server.port)
    try:
        await connected(hub)
        client = hub.clients["stalled"]
        transport = client.transport
        assert transport is not None
        largest = 0
        for index in range(1, 6000):
            hub._deliver(Outgoing(BROADCAST, message(index, 10_000), index))
            if index % 50 == 0:
                await asyncio.sleep(0)  # the sender writes what it may
                largest = max(largest, transport.get_write_buffer_size())
        for _ in range(300):
            if client.ws.closed or transport.is_closing():
                break
            await asyncio.sleep(0.01)
        assert client.dropped
        # At most one batch of frames past the limit waits in the transport.
        limit = ws_module.WRITE_BUFFER_LIMIT + ws_module.MAX_FRAMES_PER_WRITE * 10_100
        assert largest <= limit
    finally:
        sock.close()
        await server.close()
