"""Websocket messages carry log positions, so a client that reconnects with ?after= resumes.

A client without ``after`` receives ComfyUI's message sequence. A client that
reconnects with the last position it saw first receives what it missed
(its own prompts' messages and broadcasts, in order, without duplicates),
then live messages.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import anyio

from brushwork.events.database import create_engine, sqlite_url
from brushwork.events.sql import SqlEventStore
from brushwork.http.messages import BROADCAST, MessageTranslator
from tests.support.log import read_events
from tests.support.server import follow_until_done, wait_for


def quick(value: int) -> dict:
    return {
        "1": {"class_type": "TestConstant", "inputs": {"value": value}},
        "2": {"class_type": "TestAdd", "inputs": {"a": ["1", 0], "b": 2}},
        "3": {"class_type": "TestOutput", "inputs": {"value": ["2", 0]}},
    }


def slow(first: float, second: float) -> dict:
    return {
        "1": {"class_type": "TestConstant", "inputs": {"value": 1}},
        "2": {"class_type": "TestSlowAdd", "inputs": {"a": ["1", 0], "b": 1, "seconds": first}},
        "3": {"class_type": "TestSlowAdd", "inputs": {"a": ["2", 0], "b": 1, "seconds": second}},
        "4": {"class_type": "TestOutput", "inputs": {"value": ["3", 0]}},
    }


def submit(server, prompt: dict, client_id: str) -> str:
    status, answer = server.post("/prompt", {"prompt": prompt, "client_id": client_id})
    assert status == 200, answer
    return answer["prompt_id"]


def receive(ws, timeout: float = 30) -> dict[str, Any]:
    ws.settimeout(timeout)
    while True:
        frame = ws.recv()
        if isinstance(frame, str):
            return json.loads(frame)


def receive_until(ws, done: Any, timeout: float = 60) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        messages.append(receive(ws, timeout=deadline - time.monotonic()))
        if done(messages[-1]):
            return messages
    raise AssertionError(f"the expected message did not arrive; last: {messages[-5:]}")


def run_ended(prompt_id: str) -> Any:
    return lambda m: (m["type"] == "executing" and m["data"]["node"] is None
                      and m["data"]["prompt_id"] == prompt_id)


def shape(message: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """A message without its timestamp and position, which vary between runs."""
    data = {k: v for k, v in message["data"].items() if k != "timestamp"}
    return message["type"], data


def queue_status(remaining: int) -> tuple[str, dict[str, Any]]:
    return "status", {"status": {"exec_info": {"queue_remaining": remaining}}}


def comfyui_run(prompt_id: str, nodes: list[str], output_node: str, text: str,
                ) -> list[tuple[str, dict[str, Any]]]:
    """The messages ComfyUI sends a prompt's client from its start to its end."""
    return [
        queue_status(1),
        ("execution_start", {"prompt_id": prompt_id}),
        ("execution_cached", {"nodes": [], "prompt_id": prompt_id}),
        *[("executing", {"node": node, "display_node": node, "prompt_id": prompt_id})
          for node in nodes],
        ("executed", {"node": output_node, "display_node": output_node,
                      "output": {"text": [text]}, "prompt_id": prompt_id}),
        ("execution_success", {"prompt_id": prompt_id}),
        queue_status(0),
        ("executing", {"node": None, "prompt_id": prompt_id}),
    ]


def positions(messages: list[dict[str, Any]]) -> list[int]:
    return [m["position"] for m in messages if "position" in m]


def assert_ordered_once(messages: list[dict[str, Any]]) -> None:
    """Positions never go back; one event may send several messages, but each only once."""
    found = positions(messages)
    assert found == sorted(found)
    keys = [(m["position"], json.dumps(shape(m), sort_keys=True)) for m in messages]
    assert len(keys) == len(set(keys))


def log_position(server) -> int:
    return max((e["position"] for e in read_events(server.data_dir)), default=0)


def test_fresh_client_sees_comfyui_sequence(server):
    client_id = uuid.uuid4().hex
    ws = server.websocket(client_id)
    prompt_id = submit(server, quick(5), client_id)
    messages = follow_until_done(ws, prompt_id)
    ws.close()
    assert [shape(m) for m in messages] == [
        ("status", {"status": {"exec_info": {"queue_remaining": 0}}, "sid": client_id}),
        queue_status(1),
        *comfyui_run(prompt_id, ["1", "2", "3"], "3", "7"),
    ]


def test_event_messages_carry_positions(server):
    client_id = uuid.uuid4().hex
    ws = server.websocket(client_id)
    prompt_id = submit(server, quick(5), client_id)
    messages = follow_until_done(ws, prompt_id)[1:]
    ws.close()
    assert all(isinstance(m.get("position"), int) for m in messages), messages
    assert_ordered_once(messages)
    by_position = {e["position"]: e for e in read_events(server.data_dir)}
    for message in messages:
        prompt = message["data"].get("prompt_id")
        if prompt is not None:
            assert by_position[message["position"]]["stream"] == prompt


def test_every_message_carries_position(server):
    client_id = uuid.uuid4().hex
    ws = server.websocket(client_id)
    prompt_id = submit(server, slow(0.1, 0.1), client_id)
    messages = follow_until_done(ws, prompt_id)
    ws.close()
    assert any(m["type"] == "progress" for m in messages)
    assert [m["type"] for m in messages if "position" not in m] == []


def test_reconnect_receives_missed_then_live(server):
    me, other = uuid.uuid4().hex, uuid.uuid4().hex
    ws = server.websocket(me)
    watcher = server.websocket(other)
    mine = submit(server, slow(0.6, 2.0), me)
    theirs = submit(server, quick(1), other)
    before = receive_until(ws, lambda m: m["type"] == "executing" and m["data"]["node"] == "2")
    last_seen = positions(before)[-1]
    ws.close()

    wait_for(lambda: any(e["type"] == "NodeStarted" and e.get("node_id") == "3"
                         and e["stream"] == mine for e in read_events(server.data_dir)))
    reconnect_position = log_position(server)
    ws = server.websocket(me, after=last_seen)
    after = receive_until(ws, run_ended(mine))
    ws.close()
    watcher.close()

    hello = after[0]
    assert hello["type"] == "status"
    assert hello["data"]["sid"] == me
    resumed = [m for m in after[1:] if m["type"] != "progress"]
    assert_ordered_once(resumed)
    assert positions(resumed)[0] > last_seen
    assert all(m["data"].get("prompt_id") in (mine, None) for m in after), theirs
    missed = [m for m in resumed if m["position"] <= reconnect_position]
    live = [m for m in resumed if m["position"] > reconnect_position]
    assert ("executing", {"node": "3", "display_node": "3", "prompt_id": mine}) in [
        shape(m) for m in missed]
    assert ("execution_success", {"prompt_id": mine}) in [shape(m) for m in live]
    whole = [shape(m) for m in [*before, *resumed]
             if m["type"] not in ("status", "progress")]
    expected = [m for m in comfyui_run(mine, ["1", "2", "3", "4"], "4", "3")
                if m[0] != "status"]
    assert whole == expected


async def expected_messages(server, client_id: str, after: int) -> list[tuple[int, str]]:
    """What a client connected throughout would get after ``after``, by translating the log."""
    engine = create_engine(sqlite_url(server.data_dir / "brushwork.db"))
    try:
        store = SqlEventStore(engine)
        translator = MessageTranslator({})
        expected = []
        position = 0
        while records := await store.read_all(after=position, limit=1000):
            for record in records:
                for outgoing in translator.translate(record):
                    if (record.position > after and outgoing.target in (client_id, BROADCAST)
                            and outgoing.message["type"] != "status"):
                        expected.append((record.position, outgoing.message["type"]))
            position = records[-1].position
        return expected
    finally:
        await engine.dispose()


def test_reconnect_during_burst_has_no_gap(server):
    me, other = uuid.uuid4().hex, uuid.uuid4().hex
    ws = server.websocket(me)
    mine: list[str] = []
    for index in range(30):
        mine.append(submit(server, quick(index), me))
        submit(server, quick(index), other)
    # A slow last run keeps the burst going past the reconnect, however fast
    # the quick ones are, so the client sees live messages after its catch-up.
    mine.append(submit(server, slow(0.1, 1.5), me))
    first = receive_until(ws, lambda m: m["type"] == "execution_start")
    last_seen = positions(first)[-1]
    ws.close()

    wait_for(lambda: log_position(server) > last_seen + 20)
    reconnect_position = log_position(server)
    ws = server.websocket(me, after=last_seen)
    resumed = receive_until(ws, run_ended(mine[-1]))[1:]
    ws.close()

    assert any(m["position"] > reconnect_position for m in resumed), "no live messages"

    assert all(m["data"].get("prompt_id") in (*mine, None) for m in resumed)
    # Progress ticks are live only (not events), so the log cannot list them.
    received = [(m["position"], m["type"]) for m in resumed
                if m["type"] not in ("status", "progress")]
    expected = anyio.run(expected_messages, server, me, last_seen)
    cut = received[-1][0]
    assert received == [item for item in expected if item[0] <= cut]


def test_out_of_range_after_is_rejected(server):
    ws = server.websocket(uuid.uuid4().hex, after=10**20)
    greeting = json.loads(ws.recv())
    error = json.loads(ws.recv())
    ws.close()
    assert greeting["type"] == "status"
    assert error["type"] == "error"
    assert "2**63-1" in error["data"]["message"]
