"""Bounded loopback load: 50 websocket clients, 1,000 submissions, no message lost."""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict

import aiohttp
import pytest

CLIENTS = 50
PROMPTS = 1000
SUBMIT_CONCURRENCY = 16
DEADLINE_S = 150
# Status broadcasts per prompt: on PromptQueued, ExecutionStarted and the terminal event.
STATUS_PER_PROMPT = 3


def graph(value: int) -> dict:
    return {
        "1": {"class_type": "TestConstant", "inputs": {"value": value}},
        "2": {"class_type": "TestOutput", "inputs": {"value": ["1", 0]}},
    }


class Client:
    def __init__(self, client_id: str) -> None:
        self.client_id = client_id
        self.messages: list[dict] = []
        self.statuses = 0
        self.finished: set[str] = set()
        self.expected: set[str] = set()

    def complete(self) -> bool:
        return self.statuses >= STATUS_PER_PROMPT * PROMPTS and self.finished >= self.expected

    async def read(self, ws: aiohttp.ClientWebSocketResponse, submitted: asyncio.Event) -> None:
        """Collect messages until every status and this client's runs have arrived."""
        while not (submitted.is_set() and self.complete()):
            try:
                frame = await ws.receive(timeout=0.5)
            except TimeoutError:
                continue
            if frame.type in (
                aiohttp.WSMsgType.CLOSE,
                aiohttp.WSMsgType.CLOSED,
                aiohttp.WSMsgType.ERROR,
            ):
                return
            if frame.type != aiohttp.WSMsgType.TEXT:
                continue
            message = frame.json()
            self.messages.append(message)
            data = message.get("data", {})
            if message["type"] == "status":
                self.statuses += 1
            elif message["type"] == "executing" and data.get("node") is None:
                self.finished.add(data["prompt_id"])


async def drive(base_url: str) -> tuple[list[Client], dict[str, str]]:
    clients = [Client(f"load-{index}") for index in range(CLIENTS)]
    owners: dict[str, str] = {}
    submitted = asyncio.Event()
    ws_url = base_url.replace("http://", "ws://")
    connector = aiohttp.TCPConnector(limit=CLIENTS + SUBMIT_CONCURRENCY)
    async with aiohttp.ClientSession(connector=connector) as session:
        sockets = [
            await session.ws_connect(f"{ws_url}/ws?clientId={client.client_id}")
            for client in clients
        ]
        for ws in sockets:  # the greeting status (no position) arrives first
            assert (await ws.receive_json())["type"] == "status"
        readers = [
            asyncio.create_task(client.read(ws, submitted))
            for client, ws in zip(clients, sockets, strict=True)
        ]
        gate = asyncio.Semaphore(SUBMIT_CONCURRENCY)

        async def submit(index: int) -> None:
            client = clients[index % CLIENTS]
            async with (
                gate,
                session.post(
                    f"{base_url}/prompt",
                    json={"prompt": graph(index), "client_id": client.client_id},
                ) as response,
            ):
                assert response.status == 200, await response.text()
                prompt_id = (await response.json())["prompt_id"]
                owners[prompt_id] = client.client_id
                client.expected.add(prompt_id)

        await asyncio.gather(*(submit(index) for index in range(PROMPTS)))
        submitted.set()
        await asyncio.wait_for(asyncio.gather(*readers), DEADLINE_S)
        for ws in sockets:
            await ws.close()
    return clients, owners


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_fifty_clients_miss_nothing(server):
    started = time.monotonic()
    clients, owners = asyncio.run(drive(server.base_url))
    elapsed = time.monotonic() - started
    assert len(owners) == PROMPTS

    mine: dict[str, set[str]] = defaultdict(set)
    for prompt_id, client_id in owners.items():
        mine[client_id].add(prompt_id)
    reference = [m["position"] for m in clients[0].messages if m["type"] == "status"]
    assert len(reference) == STATUS_PER_PROMPT * PROMPTS

    for client in clients:
        statuses = [m["position"] for m in client.messages if m["type"] == "status"]
        assert statuses == reference, f"{client.client_id} missed or reordered a status"
        positions = [m["position"] for m in client.messages if "position" in m]
        assert positions == sorted(positions), f"{client.client_id} got messages out of order"
        assert client.finished == mine[client.client_id]
        seen = {
            m["data"]["prompt_id"]
            for m in client.messages
            if m["type"] != "status" and "prompt_id" in m.get("data", {})
        }
        assert seen == mine[client.client_id], f"{client.client_id} saw another's prompts"
        for prompt_id in mine[client.client_id]:
            kinds = [
                m["type"]
                for m in client.messages
                if m.get("data", {}).get("prompt_id") == prompt_id
            ]
            assert kinds[0] == "execution_start"
            assert {"executed", "execution_success"} <= set(kinds)
            assert kinds[-1] == "executing"
    history = server.get("/history")
    assert len(history) == PROMPTS
    assert all(entry["status"]["completed"] for entry in history.values())
    print(f"{PROMPTS} prompts, {CLIENTS} clients: {elapsed:.1f} s")
