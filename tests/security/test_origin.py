"""ComfyUI's loopback origin check, and CORS for configured origins."""

from __future__ import annotations

import json

import pytest
import websocket


def test_foreign_origin_rejected_on_loopback(shared_server):
    status, raw, _ = shared_server.request(
        "GET", "/queue", headers={"Origin": "http://evil.example"}
    )
    assert status == 403
    assert "cross-origin" in json.loads(raw)["error"]["message"]


def test_other_port_is_foreign(shared_server):
    status, _, _ = shared_server.request(
        "POST", "/prompt", {"prompt": {}}, headers={"Origin": "http://127.0.0.1:1"}
    )
    assert status == 403


def test_same_origin_allowed(shared_server):
    origin = f"http://127.0.0.1:{shared_server.port}"
    status, _, headers = shared_server.request("GET", "/queue", headers={"Origin": origin})
    assert status == 200
    assert "Access-Control-Allow-Origin" not in headers


def test_request_without_origin_allowed(shared_server):
    status, _, _ = shared_server.request("GET", "/queue")
    assert status == 200


def test_websocket_foreign_origin_rejected(shared_server):
    ws = websocket.WebSocket()
    with pytest.raises(websocket.WebSocketBadStatusException) as rejected:
        ws.connect(
            f"ws://127.0.0.1:{shared_server.port}/ws?clientId=x",
            origin="http://evil.example",
            timeout=10,
        )
    assert rejected.value.status_code == 403


@pytest.fixture(scope="module")
def cors_server(tmp_path_factory):
    from tests.support.server import ServerProcess

    server = ServerProcess(
        tmp_path_factory.mktemp("cors") / "data", "--cors-origin", "https://app.example"
    ).start()
    yield server
    server.stop()


def test_cors_origin_gets_headers(cors_server):
    status, _, headers = cors_server.request(
        "GET", "/queue", headers={"Origin": "https://app.example"}
    )
    assert status == 200
    assert headers["Access-Control-Allow-Origin"] == "https://app.example"
    assert headers["Vary"] == "Origin"
    assert "X-Request-ID" in headers["Access-Control-Expose-Headers"]


def test_cors_preflight_answers_204(cors_server):
    status, _, headers = cors_server.request(
        "OPTIONS",
        "/prompt",
        headers={
            "Origin": "https://app.example",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type",
        },
    )
    assert status == 204
    assert "POST" in headers["Access-Control-Allow-Methods"]
    assert "Authorization" in headers["Access-Control-Allow-Headers"]


def test_cors_other_origin_still_checked(cors_server):
    status, _, headers = cors_server.request(
        "GET", "/queue", headers={"Origin": "https://other.example"}
    )
    assert status == 403
    assert "Access-Control-Allow-Origin" not in headers


def test_cors_websocket_allowed_origin(cors_server):
    ws = websocket.WebSocket()
    ws.connect(
        f"ws://127.0.0.1:{cors_server.port}/ws?clientId=c", origin="https://app.example", timeout=10
    )
    assert json.loads(ws.recv())["type"] == "status"
    ws.close()
