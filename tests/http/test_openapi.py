"""/openapi.json and /docs describe the routes table, and schemathesis finds no failure."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest

from brushwork.http.app import ROUTES
from brushwork.http.openapi import build_document


def refs(value) -> set[str]:
    found = set()
    if isinstance(value, dict):
        if "$ref" in value:
            found.add(value["$ref"].rsplit("/", 1)[-1])
        for item in value.values():
            found |= refs(item)
    elif isinstance(value, list):
        for item in value:
            found |= refs(item)
    return found


def test_document_lists_every_route():
    document = build_document(ROUTES, auth_required=False)
    assert document["openapi"] == "3.1.0"
    for route in ROUTES:
        if route.in_document:
            assert route.method.lower() in document["paths"][route.path], route.path


def test_every_reference_resolves():
    document = build_document(ROUTES, auth_required=True)
    assert refs(document) <= set(document["components"]["schemas"])


def test_security_only_with_auth():
    assert "securitySchemes" not in build_document(ROUTES, auth_required=False)["components"]
    secured = build_document(ROUTES, auth_required=True)
    assert secured["paths"]["/prompt"]["post"]["security"] == [{"bearerAuth": []}]
    assert "security" not in secured["paths"]["/healthz"]["get"]


def test_prompt_body_from_struct():
    document = build_document(ROUTES, auth_required=False)
    schema = document["components"]["schemas"]["PromptRequest"]
    assert schema["required"] == ["prompt"]
    assert "client_id" in schema["properties"]


def test_served_document_matches(shared_http_server):
    served = shared_http_server.get("/api/openapi.json")
    assert served == json.loads(json.dumps(build_document(ROUTES, auth_required=False)))


def test_docs_page_is_self_contained(shared_http_server):
    status, body, headers = shared_http_server.request("GET", "/docs")
    assert status == 200
    assert headers["Content-Type"].startswith("text/html")
    page = body.decode()
    assert "/upload/image" in page
    assert not re.search(r"(src|href)=\"(https?:)?//", page)
    assert "<script" not in page


@pytest.mark.slow
def test_schemathesis_finds_no_failures(server_factory, tmp_path):
    """Fuzz every documented operation with a token; any 5xx or schema mismatch fails.

    positive_data_acceptance is skipped: the server rejects schema-valid
    bodies on purpose when the graph, the path or the image bytes are invalid.
    """
    from tests.security.conftest import brushwork_cli

    data_dir = tmp_path / "data"
    created = brushwork_cli(
        "tokens", "create", "fuzzer", "--scopes", "admin", "--json", "--data-dir", str(data_dir)
    )
    token = json.loads(created.stdout)["token"]
    server = server_factory("--auth", "required", data_dir=data_dir)
    command = [
        sys.executable,
        "-m",
        "schemathesis.cli",
        "run",
        f"{server.base_url}/openapi.json",
        "--checks",
        "all",
        "--exclude-checks",
        "positive_data_acceptance",
        "--max-examples",
        "60",
        "--seed",
        "20261204",
        "--workers",
        "2",
        "--request-timeout",
        "20",
        "-H",
        f"Authorization: Bearer {token}",
    ]
    result = subprocess.run(command, capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    assert "Server error" not in result.stdout
    assert token not in server.log_path.read_text()
