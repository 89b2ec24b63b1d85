"""Request limits: body size, JSON nesting and prompt graph size, each a clear 4xx answer."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from ..engine.validation import is_link
from ..errors import InvalidJSONError, LimitExceededError, PromptValidationError
from .options import HttpOptions


def payload_too_large(what: str, size: int | None, limit: int, flag: str) -> LimitExceededError:
    sent = f" ({size} bytes)" if size is not None else ""
    return LimitExceededError(
        f"{what}{sent} is larger than the limit of {limit} bytes; send less or raise {flag}",
        status=413,
        details={"limit_bytes": limit, "size_bytes": size},
    )


def check_content_length(
    request: web.Request, limit: int, flag: str, what: str, overhead: int = 0
) -> None:
    """Reject a declared body over ``limit`` plus ``overhead`` before reading any of it.

    ``overhead`` allows for framing, such as multipart headers around an upload.
    """
    size = request.content_length
    if size is not None and size > limit + overhead:
        raise payload_too_large(what, size, limit, flag)


_REQUIRED: Any = object()
# RFC 8259 whitespace; str.strip() would also remove characters JSON rejects.
JSON_WHITESPACE = " \t\r\n"


async def read_json(
    request: web.Request, options: HttpOptions, *, if_empty: Any = _REQUIRED
) -> Any:
    """Read and parse a JSON body within the body and nesting limits.

    An empty body is an error unless ``if_empty`` is given, which is then returned.
    """
    check_content_length(request, options.max_body_bytes, "--max-body-bytes", "the request body")
    try:
        raw = await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise payload_too_large(
            "the request body", None, options.max_body_bytes, "--max-body-bytes"
        ) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise InvalidJSONError(
            "request body is not valid UTF-8", details={"reason": str(error)}
        ) from None
    if not text.strip(JSON_WHITESPACE):
        if if_empty is not _REQUIRED:
            return if_empty
        raise InvalidJSONError("request body is empty; send a JSON object")
    try:
        value = json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as error:
        raise InvalidJSONError(
            "request body is not valid JSON",
            details={"reason": error.msg, "line": error.lineno, "column": error.colno},
        ) from None
    except (RecursionError, ValueError) as error:
        raise InvalidJSONError(
            "request body is not valid JSON", details={"reason": str(error)[:200]}
        ) from None
    # Nesting needs one bracket per level, so a body with few brackets
    # (a typical prompt) cannot be too deep and skips the walk.
    limit = options.max_json_depth
    if text.count("[") + text.count("{") > limit:
        check_depth(value, limit)
    return value


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def check_depth(value: Any, limit: int) -> None:
    """Reject arrays and objects nested deeper than ``limit`` (checked without recursion)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > limit:
            raise InvalidJSONError(
                f"request body nests arrays and objects more than {limit} levels deep",
                details={"max_depth": limit},
            )
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))


def check_prompt_links(body: Any, max_links: int) -> None:
    """Reject a POST /prompt body whose graph has more than ``max_links`` links.

    The error keeps ComfyUI's validation shape (``error`` and ``node_errors``).
    """
    if not isinstance(body, dict) or not isinstance(body.get("prompt"), dict):
        return
    links = 0
    for node in body["prompt"].values():
        inputs = node.get("inputs") if isinstance(node, dict) else None
        if isinstance(inputs, dict):
            links += sum(1 for value in inputs.values() if is_link(value))
    if links > max_links:
        raise PromptValidationError(
            {
                "error": {
                    "type": "invalid_prompt",
                    "message": f"Prompt has {links} links, more than the limit of {max_links}",
                    "details": "split the workflow or raise --max-prompt-links",
                    "extra_info": {"links": links, "max_links": max_links},
                },
                "node_errors": {},
            }
        )
