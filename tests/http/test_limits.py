"""Body, nesting and prompt graph limits answer clear 4xx errors (limits set by serve flags)."""

from __future__ import annotations

import json

import pytest

from tests.support.server import ServerProcess


@pytest.fixture(scope="module")
def limited(tmp_path_factory):
    server = ServerProcess(
        tmp_path_factory.mktemp("limits") / "data",
        "--max-body-bytes",
        "4096",
        "--max-prompt-nodes",
        "3",
        "--max-prompt-links",
        "2",
        "--max-string-length",
        "10",
    ).start()
    yield server
    server.stop()


def constant(value: int = 1) -> dict:
    return {"class_type": "TestConstant", "inputs": {"value": value}}


def output(source: str) -> dict:
    return {"class_type": "TestOutput", "inputs": {"value": [source, 0]}}


def test_body_over_limit_answers_413(limited):
    status, answer = limited.post("/prompt", {"prompt": {}, "pad": "x" * 5000})
    assert status == 413
    assert answer["error"]["type"] == "limit_exceeded"
    assert answer["error"]["details"]["limit_bytes"] == 4096
    assert "--max-body-bytes" in answer["error"]["message"]


def test_deep_nesting_answers_400(limited):
    status, raw, _ = limited.request("POST", "/prompt", raw=b"[" * 1000 + b"]" * 1000)
    assert status == 400
    assert json.loads(raw)["error"]["type"] == "invalid_json"


def test_depth_65_answers_400(limited):
    # The object and 64 arrays. Brackets inside the string add to the
    # bracket count but not to the depth.
    body = b'{"prompt": {}, "note": "[[{{", "x": ' + b"[" * 64 + b"]" * 64 + b"}"
    status, raw, _ = limited.request("POST", "/prompt", raw=body)
    assert status == 400
    error = json.loads(raw)["error"]
    assert error["type"] == "invalid_json"
    assert error["details"] == {"max_depth": 64}


def test_depth_64_passes_json_check(limited):
    body = b'{"prompt": {}, "x": ' + b"[" * 63 + b"]" * 63 + b"}"
    status, raw, _ = limited.request("POST", "/prompt", raw=body)
    assert json.loads(raw)["error"]["type"] != "invalid_json", raw
    assert status == 400  # an empty prompt, rejected by validation


def test_shallow_brackets_pass_json_check(limited):
    body = json.dumps({"prompt": {}, "x": [[] for _ in range(200)]}).encode()
    status, raw, _ = limited.request("POST", "/prompt", raw=body)
    assert json.loads(raw)["error"]["type"] != "invalid_json", raw
    assert status == 400  # an empty prompt, rejected by validation


def test_nan_answers_400(limited):
    status, raw, _ = limited.request("POST", "/prompt", raw=b'{"prompt": {}, "number": NaN}')
    assert status == 400
    assert json.loads(raw)["error"]["type"] == "invalid_json"


def test_invalid_utf8_answers_400(limited):
    status, raw, _ = limited.request("POST", "/prompt", raw=b'{"prompt": "\xff"}')
    assert status == 400
    assert "UTF-8" in json.loads(raw)["error"]["message"]


def test_too_many_nodes_answers_400(limited):
    prompt = {str(i): constant(i) for i in range(1, 4)} | {"4": output("1")}
    status, answer = limited.post("/prompt", {"prompt": prompt})
    assert status == 400
    assert answer["error"]["type"] == "invalid_prompt"
    assert "limit of 3" in answer["error"]["message"]


def test_too_many_links_answers_400(limited):
    prompt = {"1": constant(), "2": output("1"), "3": output("1")}
    prompt["3"] = {"class_type": "TestAdd", "inputs": {"a": ["1", 0], "b": ["1", 0]}}
    status, answer = limited.post("/prompt", {"prompt": prompt})
    assert status == 400
    assert answer["error"]["extra_info"] == {"links": 3, "max_links": 2}
    assert "--max-prompt-links" in answer["error"]["details"]


def test_long_string_answers_400(limited):
    prompt = {
        "1": constant(),
        "2": {"class_type": "TestFail", "inputs": {"value": ["1", 0], "message": "x" * 11}},
        "3": output("2"),
    }
    status, answer = limited.post("/prompt", {"prompt": prompt})
    assert status == 400
    errors = answer["node_errors"]["2"]["errors"]
    assert "limit of 10 characters" in json.dumps(errors)


def test_within_limits_accepted(limited):
    status, answer = limited.post("/prompt", {"prompt": {"1": constant(), "2": output("1")}})
    assert status == 200
    assert answer["node_errors"] == {}


def test_huge_query_integer_answers_400(limited):
    status, raw, _ = limited.request("GET", "/history?max_items=99999999999999999999")
    assert status == 400
    assert "max_items" in json.loads(raw)["error"]["message"]


def test_features_report_upload_limit(limited):
    assert limited.get("/features")["max_upload_size"] == 100 * 1024 * 1024


def test_websocket_feature_flags_report_upload_limit(tmp_path):
    server = ServerProcess(tmp_path / "data", "--max-upload-bytes", "5000").start()
    try:
        ws = server.websocket("flags")
        ws.recv()
        ws.send(json.dumps({"type": "feature_flags", "data": {}}))
        flags = json.loads(ws.recv())
        ws.close()
    finally:
        server.stop()
    assert flags["type"] == "feature_flags"
    assert flags["data"]["max_upload_size"] == 5000
