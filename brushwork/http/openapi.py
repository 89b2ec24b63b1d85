"""The OpenAPI 3.1 document of the routes table, and a self-contained HTML page of it.

Body schemas come from the msgspec Structs in ``schemas.py`` through
``msgspec.json.schema_components``, whose JSON Schema 2020-12 output is
what OpenAPI 3.1 uses.
"""

from __future__ import annotations

import html
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import msgspec

from .. import __version__
from . import schemas

REF = "#/components/schemas/{name}"


@dataclass(frozen=True)
class Param:
    """A query parameter."""

    name: str
    schema: dict[str, Any]
    description: str
    required: bool = False


@dataclass(frozen=True)
class Route:
    """One row of the routes table: the handler, its scope and its OpenAPI description."""

    method: str
    path: str
    handler: str
    scope: str
    summary: str
    body: type | None = None
    body_content: str = "application/json"
    body_required: bool = True
    response: Any = None
    response_content: str = "application/json"
    statuses: tuple[int, ...] = ()
    query: Sequence[Param] = field(default_factory=tuple)
    in_document: bool = True
    operation_id: str | None = None


_STATUS_TEXT = {
    101: "switching to the websocket protocol",
    200: "success",
    400: "invalid request",
    401: "missing, unknown or revoked API token",
    403: "the token lacks the scope, or the path or origin is not allowed",
    404: "not found",
    413: "body or upload larger than the configured limit",
    415: "unsupported media type",
    429: "queue full; retry after Retry-After seconds",
    503: "not ready",
}


def build_document(routes: Sequence[Route], *, auth_required: bool) -> dict[str, Any]:
    """Build the OpenAPI 3.1 document of ``routes``; security appears only with auth on."""
    types: list[Any] = [
        schemas.ErrorBody,
        schemas.PromptValidationFailure,
        schemas.HistoryEntry,
        schemas.Health,
    ]
    for route in routes:
        if route.body is not None:
            types.append(route.body)
        if isinstance(route.response, type):
            types.append(route.response)
    unique_types = list(dict.fromkeys(types))
    _, components = msgspec.json.schema_components(unique_types, ref_template=REF)
    paths: dict[str, dict[str, Any]] = {}
    for route in routes:
        if route.in_document:
            operation = _operation(route, auth_required)
            paths.setdefault(route.path, {})[route.method.lower()] = operation
    document: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {
            "title": "brushwork",
            "version": __version__,
            "description": (
                "ComfyUI's HTTP API on a durable event log. Every path also "
                "answers under the /api prefix."
            ),
        },
        "paths": paths,
        "components": {"schemas": components},
    }
    if auth_required:
        document["components"]["securitySchemes"] = {
            "bearerAuth": {
                "type": "http",
                "scheme": "bearer",
                "description": "a token from `brushwork tokens create`",
            }
        }
    return document


def _operation(route: Route, auth_required: bool) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "operationId": route.operation_id or route.handler,
        "summary": route.summary,
        "x-brushwork-scope": route.scope,
        "responses": _responses(route, auth_required),
    }
    if route.query:
        operation["parameters"] = [
            {
                "name": p.name,
                "in": "query",
                "required": p.required,
                "schema": p.schema,
                "description": p.description,
            }
            for p in route.query
        ]
    if _path_parameters(route.path):
        operation.setdefault("parameters", []).extend(
            {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
            for name in _path_parameters(route.path)
        )
    if route.body is not None:
        operation["requestBody"] = {
            "required": route.body_required,
            "content": {route.body_content: {"schema": _ref(route.body)}},
        }
    if auth_required and route.scope != "public":
        operation["security"] = [{"bearerAuth": []}]
    return operation


def _responses(route: Route, auth_required: bool) -> dict[str, Any]:
    responses: dict[str, Any] = {}
    if route.response is None:
        success: dict[str, Any] = {"description": _STATUS_TEXT[200]}
    elif route.response_content == "application/json":
        schema = _ref(route.response) if isinstance(route.response, type) else route.response
        success = {
            "description": _STATUS_TEXT[200],
            "content": {"application/json": {"schema": schema}},
        }
    else:
        success = {
            "description": _STATUS_TEXT[200],
            "content": {route.response_content: {"schema": {"type": "string"}}},
        }
    responses["101" if route.handler == "websocket" else "200"] = success
    statuses = set(route.statuses) | {400}
    if auth_required and route.scope != "public":
        statuses |= {401, 403}
    for status in sorted(statuses):
        responses[str(status)] = {
            "description": _STATUS_TEXT.get(status, "error"),
            "content": {"application/json": {"schema": _error_schema(route, status)}},
        }
    return responses


def _error_schema(route: Route, status: int) -> dict[str, Any]:
    error = _ref(schemas.ErrorBody)
    if route.handler == "post_prompt" and status == 400:
        return {"anyOf": [_ref(schemas.PromptValidationFailure), error]}
    if route.handler == "readyz" and status == 503:
        return _ref(schemas.Health)
    return error


def _ref(struct: type) -> dict[str, str]:
    return {"$ref": REF.format(name=struct.__name__)}


def _path_parameters(path: str) -> list[str]:
    return [part[1:-1] for part in path.split("/") if part.startswith("{")]


def render_docs(document: dict[str, Any]) -> str:
    """Render a static HTML page that lists every operation and loads nothing from elsewhere."""
    rows = []
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            statuses = ", ".join(operation["responses"])
            body = operation.get("requestBody", {}).get("content", {})
            body_text = ", ".join(
                f"{kind}: {content['schema'].get('$ref', '').rsplit('/', 1)[-1]}"
                for kind, content in body.items()
            )
            params = ", ".join(p["name"] for p in operation.get("parameters", []))
            rows.append(
                "<tr>"
                f"<td><code>{html.escape(method.upper())}</code></td>"
                f"<td><code>{html.escape(path)}</code></td>"
                f"<td>{html.escape(operation['summary'])}</td>"
                f"<td>{html.escape(operation['x-brushwork-scope'])}</td>"
                f"<td>{html.escape(params)}</td>"
                f"<td>{html.escape(body_text)}</td>"
                f"<td>{html.escape(statuses)}</td>"
                "</tr>"
            )
    schemas_text = html.escape(json.dumps(document["components"]["schemas"], indent=2))
    title = html.escape(f"{document['info']['title']} {document['info']['version']}")
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{title} API</title>
<style>
body {{ font-family: sans-serif; margin: 2em; }}
table {{ border-collapse: collapse; }}
td, th {{ border: 1px solid #ccc; padding: 4px 8px; text-align: left; vertical-align: top; }}
pre {{ background: #f6f6f6; padding: 1em; overflow: auto; }}
</style>
</head>
<body>
<h1>{title} API</h1>
<p>{html.escape(document["info"]["description"])}
The machine-readable document is at <a href="openapi.json">openapi.json</a>.</p>
<table>
<tr><th>method</th><th>path</th><th>summary</th><th>scope</th><th>parameters</th>
<th>request body</th><th>responses</th></tr>
{chr(10).join(rows)}
</table>
<h2>Schemas</h2>
<pre>{schemas_text}</pre>
</body>
</html>
"""
