"""Every BrushworkError and aiohttp HTTPException maps to the one JSON error shape."""

from __future__ import annotations

import importlib
import inspect
import json
import pkgutil

import pytest
from aiohttp import http_exceptions, web

import brushwork
from brushwork.errors import BrushworkError, PromptValidationError
from brushwork.http.errors import to_response

SAMPLE_ARGUMENTS = {
    "str": "sample",
    "int": 7,
    "float": 1.5,
    "bool": False,
    "dict": {},
    "list": [],
    "Any": "sample",
}


def import_all_modules() -> None:
    """Import every brushwork module, so subclasses defined anywhere are registered."""
    for module in pkgutil.walk_packages(brushwork.__path__, "brushwork."):
        if ".nodes.sd" in module.name or module.name.endswith("__main__"):
            continue  # torch-only model code defines no error classes
        importlib.import_module(module.name)


def all_subclasses(cls: type) -> list[type]:
    found = []
    for subclass in cls.__subclasses__():
        found.append(subclass)
        found.extend(all_subclasses(subclass))
    return sorted(set(found), key=lambda c: f"{c.__module__}.{c.__qualname__}")


def build(cls: type) -> BaseException:
    """Instantiate ``cls`` with sample values for its required parameters."""
    args, kwargs = [], {}
    for name, parameter in list(inspect.signature(cls.__init__).parameters.items())[1:]:
        if parameter.default is not inspect.Parameter.empty or parameter.kind in (
            inspect.Parameter.VAR_POSITIONAL,
            inspect.Parameter.VAR_KEYWORD,
        ):
            continue
        annotation = str(parameter.annotation)
        value = next((v for k, v in SAMPLE_ARGUMENTS.items() if annotation.startswith(k)), "sample")
        if parameter.kind is inspect.Parameter.KEYWORD_ONLY:
            kwargs[name] = value
        else:
            args.append(value)
    return cls(*args, **kwargs)


import_all_modules()
BRUSHWORK_ERRORS = [BrushworkError, *all_subclasses(BrushworkError)]
HTTP_ERRORS = [
    cls
    for cls in all_subclasses(web.HTTPException)
    if isinstance(getattr(cls, "status_code", None), int) and cls.status_code >= 400
]


def body_of(response: web.Response) -> dict:
    assert response.body is not None
    return json.loads(response.body)


def test_error_classes_found():
    assert len(BRUSHWORK_ERRORS) >= 15
    assert len(HTTP_ERRORS) >= 30


@pytest.mark.parametrize("cls", BRUSHWORK_ERRORS, ids=lambda c: c.__qualname__)
def test_brushwork_error_maps_to_json(cls):
    error = build(cls)
    response = to_response(error, "rid")
    assert response is not None
    assert 400 <= response.status < 600
    assert response.content_type == "application/json"
    body = body_of(response)
    assert set(body) == {"error"}
    assert set(body["error"]) == {"type", "message", "details"}
    assert body["error"]["type"] == error.code
    assert "Traceback" not in json.dumps(body)


@pytest.mark.parametrize("cls", HTTP_ERRORS, ids=lambda c: c.__qualname__)
def test_http_exception_maps_to_json(cls):
    error = build(cls)
    response = to_response(error, "rid")
    assert response is not None
    assert response.status == cls.status_code
    body = body_of(response)
    assert set(body) == {"error"}
    assert set(body["error"]) == {"type", "message", "details"}
    assert body["error"]["message"]


PARSER_ERRORS = [
    http_exceptions.HttpProcessingError,
    *all_subclasses(http_exceptions.HttpProcessingError),
]


@pytest.mark.parametrize("cls", PARSER_ERRORS, ids=lambda c: c.__qualname__)
def test_parser_error_maps_to_4xx(cls):
    response = to_response(build(cls), "rid")
    assert response is not None
    assert 400 <= response.status < 500
    assert set(body_of(response)["error"]) == {"type", "message", "details"}


def test_redirect_is_not_mapped():
    assert to_response(web.HTTPFound("/elsewhere")) is None


def test_unexpected_exception_hides_details():
    response = to_response(RuntimeError("database password is hunter2"), "rid-1")
    assert response is not None
    assert response.status == 500
    body = body_of(response)
    assert body["error"]["type"] == "internal_error"
    assert "hunter2" not in json.dumps(body)
    assert body["error"]["details"] == {"request_id": "rid-1"}


def test_method_not_allowed_keeps_allow_header():
    response = to_response(web.HTTPMethodNotAllowed("PUT", ["GET", "POST"]))
    assert response is not None
    assert response.headers["Allow"] == "GET,POST"


def test_unknown_route_answers_json(server):
    status, raw, headers = server.request("GET", "/no/such/route")
    assert status == 404
    assert json.loads(raw)["error"]["type"] == "not_found"
    assert headers["Content-Type"].startswith("application/json")


def test_wrong_method_answers_json_405(server):
    status, raw, headers = server.request("DELETE", "/history")
    assert status == 405
    assert json.loads(raw)["error"]["type"] == "method_not_allowed"
    assert "GET" in headers["Allow"]


def test_wrong_body_type_answers_400(server):
    status, answer = server.post("/queue", {"clear": "yes"})
    assert status == 400
    assert answer["error"]["type"] == "invalid_request"
    assert "$.clear" in answer["error"]["message"]


def test_prompt_validation_keeps_comfy_shape():
    body = {
        "error": {"type": "prompt_no_outputs", "message": "m", "details": "", "extra_info": {}},
        "node_errors": {},
    }
    response = to_response(PromptValidationError(body))
    assert response is not None
    assert response.status == 400
    assert body_of(response) == body
