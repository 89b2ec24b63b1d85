"""One JSON error shape for every 4xx and 5xx answer, and the middleware that enforces it."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable

import structlog
from aiohttp import web

from ..errors import BrushworkError, LimitExceededError, PromptValidationError

log = structlog.get_logger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def error_response(status: int, kind: str, message: str, details: object = None,
                   headers: dict[str, str] | None = None) -> web.Response:
    body = {"error": {"type": kind, "message": message, "details": details or {}}}
    return web.json_response(body, status=status, headers=headers)


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    request_id = request.headers.get("X-Request-ID") or uuid.uuid4().hex
    structlog.contextvars.bind_contextvars(request_id=request_id)
    try:
        response = await handler(request)
    except PromptValidationError as error:
        response = web.json_response(error.to_json(), status=400)
    except LimitExceededError as error:
        headers = {}
        if error.retry_after is not None:
            headers["Retry-After"] = str(max(1, round(error.retry_after)))
        response = error_response(error.status, error.code, error.message, error.details,
                                  headers)
    except BrushworkError as error:
        response = error_response(error.status, error.code, error.message, error.details)
    except web.HTTPException as error:
        if error.status < 400:
            raise
        response = error_response(error.status, _kind(error.status),
                                  error.text or error.reason)
    except Exception:
        log.exception("request_failed", method=request.method, path=request.path)
        response = error_response(500, "internal_error",
                                  "the server failed to handle this request; "
                                  f"quote request id {request_id} when reporting it")
    finally:
        structlog.contextvars.unbind_contextvars("request_id")
    if not response.prepared:
        response.headers["X-Request-ID"] = request_id
    return response


def _kind(status: int) -> str:
    return {400: "bad_request", 403: "forbidden", 404: "not_found", 405: "method_not_allowed",
            413: "payload_too_large", 415: "unsupported_media_type"}.get(status, "http_error")
