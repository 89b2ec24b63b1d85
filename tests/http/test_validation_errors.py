"""Every validation error answers HTTP 400 in ComfyUI's shape and queues nothing."""

from __future__ import annotations

import pytest

IMAGE = {"class_type": "EmptyImage", "inputs": {"width": 8, "height": 8, "batch_size": 1,
                                                "color": 0}}
SAVE = {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": "v"}}


def graph(**nodes: dict) -> dict:
    return {"prompt": {key.lstrip("n"): value for key, value in nodes.items()}}


def with_inputs(node: dict, **inputs: object) -> dict:
    return {"class_type": node["class_type"], "inputs": {**node["inputs"], **inputs}}


CASES = [
    ("unknown class", graph(n1={"class_type": "NoSuchNode", "inputs": {}}, n2=SAVE),
     "invalid_prompt", None, None),
    ("missing required input",
     graph(n1=IMAGE, n2={"class_type": "ImageInvert", "inputs": {}},
           n3={"class_type": "SaveImage", "inputs": {"images": ["2", 0]}}),
     "prompt_outputs_failed_validation", "2", "required_input_missing"),
    ("link to missing node",
     graph(n1=IMAGE, n3={"class_type": "SaveImage", "inputs": {"images": ["9", 0]}}),
     "prompt_outputs_failed_validation", "3", "bad_linked_input"),
    ("link to missing output index",
     graph(n1=IMAGE, n3={"class_type": "SaveImage", "inputs": {"images": ["1", 4]}}),
     "prompt_outputs_failed_validation", "3", "bad_linked_input"),
    ("type mismatch across link",
     graph(n1={"class_type": "TestConstant", "inputs": {"value": 1}},
           n3={"class_type": "SaveImage", "inputs": {"images": ["1", 0]}}),
     "prompt_outputs_failed_validation", "3", "return_type_mismatch"),
    ("value below min", graph(n1=with_inputs(IMAGE, width=0), n2=SAVE),
     "prompt_outputs_failed_validation", "1", "value_smaller_than_min"),
    ("value above max", graph(n1=with_inputs(IMAGE, height=10**9), n2=SAVE),
     "prompt_outputs_failed_validation", "1", "value_bigger_than_max"),
    ("value not in list",
     graph(n1=IMAGE, n2={"class_type": "ImageScale", "inputs": {
         "image": ["1", 0], "upscale_method": "sharpest", "width": 4, "height": 4,
         "crop": "disabled"}},
         n3={"class_type": "SaveImage", "inputs": {"images": ["2", 0]}}),
     "prompt_outputs_failed_validation", "2", "value_not_in_list"),
    ("wrong json type string for int", graph(n1=with_inputs(IMAGE, width="wide"), n2=SAVE),
     "prompt_outputs_failed_validation", "1", "invalid_input_type"),
    ("wrong json type object for int", graph(n1=with_inputs(IMAGE, width={"x": 1}), n2=SAVE),
     "prompt_outputs_failed_validation", "1", "invalid_input_type"),
    ("literal for a data input",
     graph(n1=IMAGE, n3={"class_type": "SaveImage", "inputs": {"images": 5}}),
     "prompt_outputs_failed_validation", "3", "invalid_input_type"),
    ("cycle",
     graph(n1={"class_type": "ImageInvert", "inputs": {"image": ["2", 0]}},
           n2={"class_type": "ImageInvert", "inputs": {"image": ["1", 0]}},
           n3={"class_type": "SaveImage", "inputs": {"images": ["2", 0]}}),
     "dependency_cycle", None, None),
    ("no output node", graph(n1=IMAGE), "prompt_no_outputs", None, None),
    ("no prompt", {"client_id": "x"}, "no_prompt", None, None),
    ("malformed prompt id", {**graph(n1=IMAGE, n2=SAVE), "prompt_id": "not-a-uuid"},
     "invalid_prompt_id", None, None),
    ("empty prompt id", {**graph(n1=IMAGE, n2=SAVE), "prompt_id": ""},
     "invalid_prompt_id", None, None),
]


@pytest.mark.parametrize(("body", "error_type", "node_id", "node_error"),
                         [case[1:] for case in CASES], ids=[case[0] for case in CASES])
def test_validation_error_answers_400(server, body, error_type, node_id, node_error):
    status, answer = server.post("/prompt", body)
    assert status == 400
    assert set(answer) == {"error", "node_errors"}
    assert answer["error"]["type"] == error_type
    assert set(answer["error"]) >= {"type", "message", "details", "extra_info"}
    if node_id is not None:
        errors = answer["node_errors"][node_id]["errors"]
        assert errors[0]["type"] == node_error
        assert answer["node_errors"][node_id]["class_type"]
        assert answer["node_errors"][node_id]["dependent_outputs"]
    assert server.get("/queue") == {"queue_running": [], "queue_pending": []}
    assert server.get("/history") == {}


def test_partial_outputs_run_the_valid_one(server):
    body = graph(n1=IMAGE, n2=SAVE,
                 n3={"class_type": "SaveImage", "inputs": {"images": ["1", 7]}})
    status, answer = server.post("/prompt", body)
    assert status == 200
    assert answer["node_errors"]["3"]["errors"][0]["type"] == "bad_linked_input"


def test_invalid_json_body_answers_400(server):
    status, raw, _ = server.request("POST", "/prompt", raw=b"{not json")
    assert status == 400
    assert b'"invalid_json"' in raw


def test_non_string_class_type_is_named(server):
    status, answer = server.post("/prompt", graph(n1={"class_type": 5, "inputs": {}}, n2=SAVE))
    assert status == 400
    assert answer["error"]["type"] == "invalid_prompt"
    assert "not a string" in answer["error"]["message"]
