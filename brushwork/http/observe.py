"""The outermost middleware: request ids, one access log line and HTTP metrics per request."""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from collections.abc import Awaitable, Callable

import structlog
from aiohttp import web

from ..observability.metrics import Metrics

log = structlog.get_logger("brushwork.http.access")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Middleware = Callable[[web.Request, Handler], Awaitable[web.StreamResponse]]

REQUEST_ID_HEADER = "X-Request-ID"
# A client's id is kept only when it is short and plain, so it cannot forge log fields.
_CLIENT_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:@/+=-]{1,128}$")
# Status logged for a request whose client disconnected before the response.
CLIENT_CLOSED_REQUEST = 499
MAX_LOGGED_PATH = 300


def request_id_for(request: web.Request) -> str:
    """Return the client's X-Request-ID when it is well-formed, else a new random id."""
    sent = request.headers.get(REQUEST_ID_HEADER)
    if sent is not None and _CLIENT_REQUEST_ID.match(sent):
        return sent
    return uuid.uuid4().hex


def route_template(request: web.Request) -> str:
    """Return the matched route's template ("/history/{prompt_id}"), or "unmatched".

    Metrics label by template, not by path, so ids in paths do not create
    a new time series each.
    """
    resource = request.match_info.route.resource
    if resource is None:
        return "unmatched"
    return resource.canonical


def request_middleware(metrics: Metrics) -> Middleware:
    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        request_id = request_id_for(request)
        request["request_id"] = request_id
        began = time.perf_counter()
        status = 500
        with structlog.contextvars.bound_contextvars(request_id=request_id):
            try:
                response = await handler(request)
                status = response.status
            except web.HTTPException as redirect:  # 3xx pass through the error middleware
                status = redirect.status
                redirect.headers[REQUEST_ID_HEADER] = request_id
                raise
            except asyncio.CancelledError:
                status = CLIENT_CLOSED_REQUEST
                raise
            finally:
                duration = time.perf_counter() - began
                route = route_template(request)
                metrics.observe_request(request.method, route, status, duration)
                log.info(
                    "http_request",
                    method=request.method,
                    path=request.path[:MAX_LOGGED_PATH],
                    route=route,
                    status=status,
                    duration_ms=round(duration * 1000, 2),
                    remote=request.remote,
                    principal=request.get("principal"),
                )
        if not response.prepared:
            response.headers[REQUEST_ID_HEADER] = request_id
        return response

    return middleware
