"""One JSON error shape for every 4xx and 5xx response, and the middleware that enforces it.

Every error response is ``{"error": {"type", "message", "details"}}``, except a
prompt that fails validation, which keeps ComfyUI's body (``error`` plus
``node_errors``) so that ComfyUI clients can show it. No answer carries a
traceback. An unexpected exception is logged with the request id and
answered 500 with that id.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import structlog
from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

from ..errors import AuthenticationError, BrushworkError, LimitExceededError

log = structlog.get_logger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

# Headers of an aiohttp HTTPException worth keeping on the JSON response.
_KEPT_HEADERS = ("Allow", "Retry-After", "WWW-Authenticate", "Location")

_HTTP_KINDS = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    408: "request_timeout",
    409: "conflict",
    411: "length_required",
    413: "payload_too_large",
    414: "uri_too_long",
    415: "unsupported_media_type",
    429: "too_many_requests",
    431: "request_header_fields_too_large",
    500: "internal_error",
    501: "not_implemented",
    502: "bad_gateway",
    503: "service_unavailable",
    504: "gateway_timeout",
}


def error_response(
    status: int,
    kind: str,
    message: str,
    details: object = None,
    headers: dict[str, str] | None = None,
) -> web.Response:
    body = {"error": {"type": kind, "message": message, "details": details or {}}}
    return web.json_response(body, status=status, headers=headers)


def brushwork_error_response(error: BrushworkError) -> web.Response:
    """Build the response for a BrushworkError: its status, code, message and details."""
    status = error.status if isinstance(error.status, int) and 400 <= error.status < 600 else 500
    headers: dict[str, str] = {}
    if isinstance(error, LimitExceededError) and error.retry_after is not None:
        headers["Retry-After"] = str(max(1, round(error.retry_after)))
    if isinstance(error, AuthenticationError):
        headers["WWW-Authenticate"] = 'Bearer realm="brushwork"'
    body = error.to_json()
    if not isinstance(body, dict) or not isinstance(body.get("error"), dict):
        body = {"error": {"type": error.code, "message": error.message, "details": error.details}}
    return web.json_response(body, status=status, headers=headers or None)


def http_error_response(error: web.HTTPException) -> web.Response:
    """Build the JSON response for an aiohttp HTTPException of status 400 or more."""
    headers = {name: error.headers[name] for name in _KEPT_HEADERS if name in error.headers}
    message = (
        error.text if error.text and not error.text.startswith(f"{error.status}:") else error.reason
    )
    return error_response(
        error.status,
        _HTTP_KINDS.get(error.status, "http_error"),
        message or error.reason,
        headers=headers or None,
    )


def internal_error_response(request_id: str | None) -> web.Response:
    return error_response(
        500,
        "internal_error",
        "the server failed to handle this request; "
        f"quote request id {request_id} when reporting it",
        {"request_id": request_id},
    )


def to_response(error: BaseException, request_id: str | None = None) -> web.Response | None:
    """Map an exception to its JSON response, or to None when it must propagate (3xx)."""
    if isinstance(error, BrushworkError):
        return brushwork_error_response(error)
    if isinstance(error, web.HTTPException):
        return http_error_response(error) if error.status >= 400 else None
    if isinstance(error, HttpProcessingError):  # malformed framing, e.g. in a multipart body
        status = error.code if 400 <= error.code < 500 else 400
        return error_response(
            status,
            _HTTP_KINDS.get(status, "bad_request"),
            f"malformed request: {error.message or type(error).__name__}"[:300],
        )
    if isinstance(error, Exception):
        return internal_error_response(request_id)
    return None


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except Exception as error:
        response = to_response(error, request.get("request_id"))
        if response is None:
            raise
        if response.status >= 500:
            _log_server_error(request, error)
        return response


def _log_server_error(request: web.Request, error: BaseException) -> None:
    fields: dict[str, Any] = {"method": request.method, "path": request.path}
    if isinstance(error, BrushworkError):
        log.error("request_failed", error_type=error.code, error=error.message, **fields)
    elif isinstance(error, web.HTTPException):
        log.error("request_failed", error_type=type(error).__name__, **fields)
    else:
        log.exception("request_failed", **fields)
