"""Bearer-token authentication, CORS and ComfyUI's origin check, as aiohttp middlewares."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from urllib.parse import urlsplit

from aiohttp import web
from aiohttp.web_urldispatcher import AbstractRoute

from ..auth.tokens import TokenStore
from ..errors import AuthenticationError, PermissionDeniedError
from ..providers.redact import register_secret
from .observe import route_template
from .options import is_loopback_host

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Middleware = Callable[[web.Request, Handler], Awaitable[web.StreamResponse]]

PUBLIC = "public"
WEBSOCKET_PATHS = ("/ws", "/api/ws")
CORS_METHODS = "GET, POST, OPTIONS"
CORS_HEADERS = "Authorization, Content-Type, X-Request-ID"
CORS_MAX_AGE_S = 600


def bearer_token(request: web.Request, *, allow_query: bool) -> str | None:
    """Return the token from ``Authorization: Bearer``, or from ``?token=`` if ``allow_query``."""
    header = request.headers.get("Authorization")
    if header is not None:
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            raise AuthenticationError(
                "the Authorization header must be 'Bearer TOKEN'", details={"scheme": scheme[:20]}
            )
        return value.strip()
    if allow_query:
        return request.query.get("token")
    return None


def auth_middleware(tokens: TokenStore, scopes: Mapping[AbstractRoute, str]) -> Middleware:
    """Require a token with the route's scope; put its name in ``request["principal"]``.

    Routes absent from ``scopes`` (unknown paths, which get 404 or 405) need no token.
    """

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        scope = scopes.get(request.match_info.route)
        if scope is None or scope == PUBLIC or request.method == "OPTIONS":
            return await handler(request)
        is_websocket = request.path in WEBSOCKET_PATHS
        token = bearer_token(request, allow_query=is_websocket)
        if not token:
            how = "an Authorization: Bearer header" + (" or ?token=" if is_websocket else "")
            raise AuthenticationError(
                f"this server requires an API token; send {how}. "
                "Create one with `brushwork tokens create NAME`"
            )
        record = tokens.authenticate(token)
        if record is None:
            raise AuthenticationError("the API token is unknown or revoked")
        if not record.allows(scope):
            raise PermissionDeniedError(
                f"token {record.id} ({record.name}) lacks the {scope!r} scope that "
                f"{request.method} {route_template(request)} needs",
                details={"required_scope": scope, "token_scopes": list(record.scopes)},
            )
        request["principal"] = record.name
        request["token_id"] = record.id
        # A client may echo its token elsewhere (a request id, a prompt field);
        # registered, it is redacted from every log line.
        register_secret(token)
        return await handler(request)

    return middleware


def origin_middleware(cors_origins: tuple[str, ...]) -> Middleware:
    """CORS for the configured origins, and ComfyUI's origin check for everything else.

    The origin check rejects a request whose Host is a loopback name and
    whose Origin names another host or port (a page on another site, or DNS
    rebinding). Websocket handshakes carry Origin too, so /ws is covered.
    """
    allowed = {origin.rstrip("/").lower() for origin in cors_origins}
    allow_any = "*" in allowed

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        origin = request.headers.get("Origin")
        if origin is None:
            return await handler(request)
        normalized = origin.rstrip("/").lower()
        if allow_any or normalized in allowed:
            if request.method == "OPTIONS" and "Access-Control-Request-Method" in request.headers:
                response: web.StreamResponse = web.Response(status=204)
            else:
                response = await handler(request)
            if not response.prepared:
                _add_cors_headers(response, "*" if allow_any else origin)
            return response
        _check_same_origin(request, origin)
        return await handler(request)

    return middleware


def _add_cors_headers(response: web.StreamResponse, origin: str) -> None:
    response.headers["Access-Control-Allow-Origin"] = origin
    response.headers["Access-Control-Allow-Methods"] = CORS_METHODS
    response.headers["Access-Control-Allow-Headers"] = CORS_HEADERS
    response.headers["Access-Control-Expose-Headers"] = "X-Request-ID"
    response.headers["Access-Control-Max-Age"] = str(CORS_MAX_AGE_S)
    if origin != "*":
        response.headers["Vary"] = "Origin"


def _check_same_origin(request: web.Request, origin: str) -> None:
    host = request.headers.get("Host", "")
    host_name = urlsplit(f"//{host}").hostname or ""
    if not is_loopback_host(host_name):
        return
    parts = urlsplit(origin)
    if parts.netloc.lower() != host.lower():
        raise PermissionDeniedError(
            f"cross-origin request from {origin!r} to {host!r} rejected; start the server "
            "with --cors-origin ORIGIN to allow it",
            details={"origin": origin, "host": host},
        )
