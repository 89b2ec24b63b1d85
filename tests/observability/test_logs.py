"""JSON log lines: request ids, one access line per request, run and node ids."""

from __future__ import annotations

import json
import re

from tests.observability.conftest import log_lines
from tests.support.server import follow_until_done, wait_for

FAIL_GRAPH = {
    "1": {"class_type": "TestConstant", "inputs": {"value": 1}},
    "2": {"class_type": "TestFail", "inputs": {"value": ["1", 0], "message": "planned"}},
    "3": {"class_type": "TestOutput", "inputs": {"value": ["2", 0]}},
}


def lines_with(server, **fields) -> list[dict]:
    return [
        line
        for line in log_lines(server)
        if all(line.get(key) == value for key, value in fields.items())
    ]


def test_request_id_echoed(json_server):
    _, _, headers = json_server.request("GET", "/queue", headers={"X-Request-ID": "req-42"})
    assert headers["X-Request-ID"] == "req-42"


def test_request_id_generated(json_server):
    _, _, headers = json_server.request("GET", "/queue")
    assert re.fullmatch(r"[0-9a-f]{32}", headers["X-Request-ID"])


def test_malformed_request_id_replaced(json_server):
    _, _, headers = json_server.request("GET", "/queue", headers={"X-Request-ID": "two words"})
    assert re.fullmatch(r"[0-9a-f]{32}", headers["X-Request-ID"])


def test_access_line_per_request(json_server):
    json_server.request("GET", "/history?max_items=1", headers={"X-Request-ID": "acc-1"})
    (line,) = wait_for(lambda: lines_with(json_server, event="http_request", request_id="acc-1"))
    assert line["level"] == "info"
    assert line["method"] == "GET"
    assert line["path"] == "/history"
    assert line["route"] == "/history"
    assert line["status"] == 200
    assert line["duration_ms"] >= 0


def test_error_answer_logged_with_status(json_server):
    json_server.request("GET", "/missing", headers={"X-Request-ID": "acc-404"})
    (line,) = wait_for(lambda: lines_with(json_server, event="http_request", request_id="acc-404"))
    assert line["status"] == 404
    assert line["route"] == "unmatched"


def test_websocket_handshake_has_request_id(json_server):
    ws = json_server.websocket("logs-client")
    assert re.fullmatch(r"[0-9a-f]{32}", ws.getheaders()["x-request-id"])
    ws.close()


def test_submit_line_carries_request_and_prompt(json_server):
    _, raw, _ = json_server.request(
        "POST", "/prompt", {"prompt": FAIL_GRAPH}, headers={"X-Request-ID": "submit-7"}
    )
    prompt_id = json.loads(raw)["prompt_id"]
    (line,) = wait_for(lambda: lines_with(json_server, event="prompt_queued", prompt_id=prompt_id))
    assert line["request_id"] == "submit-7"


def test_run_lines_carry_prompt_and_node(json_server):
    ws = json_server.websocket("run-client")
    status, answer = json_server.post("/prompt", {"prompt": FAIL_GRAPH, "client_id": "run-client"})
    assert status == 200
    prompt_id = answer["prompt_id"]
    follow_until_done(ws, prompt_id)
    ws.close()
    (node_line,) = wait_for(
        lambda: lines_with(json_server, event="node_failed", prompt_id=prompt_id)
    )
    assert node_line["node_id"] == "2"
    assert node_line["level"] == "warning"
    (run_line,) = wait_for(lambda: lines_with(json_server, event="run_failed", prompt_id=prompt_id))
    assert run_line["node_id"] == "2"
    assert "request_id" not in run_line


def test_every_line_is_json(json_server):
    lines = json_server.log_path.read_text().splitlines()
    assert lines
    for line in lines:
        record = json.loads(line)
        assert {"event", "level", "timestamp"} <= set(record)
