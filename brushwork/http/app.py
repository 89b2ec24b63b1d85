"""The aiohttp application: ComfyUI's routes, at /path and at /api/path.

Middlewares, outermost first:

1. request id, access log and HTTP metrics (``observe.py``),
2. exceptions to JSON error responses (``errors.py``),
3. CORS and the loopback origin check (``security.py``),
4. bearer-token authentication, when tokens are required (``security.py``).
"""

from __future__ import annotations

import os
import platform
import sys
from importlib import metadata
from typing import Any, TypeVar

import msgspec
import structlog
from aiohttp import web
from aiohttp.web_urldispatcher import AbstractRoute
from opentelemetry.trace import Tracer
from prometheus_client import CONTENT_TYPE_LATEST

from .. import __version__
from ..errors import NotFoundError, ValidationError
from ..logs import register_secret
from ..observability.metrics import Metrics
from ..observability.observer import EventObserver
from ..observability.tracing import RunTracer
from ..projections.base import SENSITIVE_EXTRA_KEYS
from ..runtime import Runtime
from . import files, schemas
from .errors import error_middleware
from .health import HealthChecks, read_checkpoints
from .limits import check_prompt_links, read_json
from .messages import MessageTranslator
from .observe import request_middleware
from .openapi import Param, Route, build_document, render_docs
from .options import HttpOptions
from .security import PUBLIC, auth_middleware, origin_middleware
from .ws import WebSocketHub

log = structlog.get_logger(__name__)

RUNTIME = web.AppKey("runtime", Runtime)
HUB = web.AppKey("hub", WebSocketHub)
METRICS = web.AppKey("metrics", Metrics)
COMFYUI_VERSION = "0.3.64"
# Maximum accepted value of an integer query parameter (SQLite integers are 64-bit).
MAX_QUERY_INT = 2**31 - 1

StructT = TypeVar("StructT", bound=msgspec.Struct)


def _int_param(request: web.Request, name: str) -> int | None:
    value = request.query.get(name)
    if value is None:
        return None
    try:
        number = int(value)
    except ValueError:
        raise ValidationError(f"query parameter {name}={value[:40]!r} is not an integer") from None
    if not 0 <= number <= MAX_QUERY_INT:
        raise ValidationError(
            f"query parameter {name}={value[:40]!r} must be between 0 and {MAX_QUERY_INT}"
        )
    return number


def _convert(value: Any, struct: type[StructT], what: str) -> StructT:
    """Decode a parsed JSON body into ``struct``; raise ValidationError naming the field."""
    try:
        return msgspec.convert(value, struct)
    except msgspec.ValidationError as error:
        raise ValidationError(
            f"invalid {what} body: {error}", details={"reason": str(error)}
        ) from None


def _strip_credentials(body: Any) -> None:
    """Remove ComfyUI's credential keys from extra_data and redact their values from logs.

    Events never hold secrets, so these keys are not stored with the prompt.
    """
    if not isinstance(body, dict) or not isinstance(body.get("extra_data"), dict):
        return
    extra_data = body["extra_data"]
    for key in SENSITIVE_EXTRA_KEYS & extra_data.keys():
        value = extra_data.pop(key)
        if isinstance(value, str):
            register_secret(value)


class Routes:
    def __init__(
        self,
        runtime: Runtime,
        hub: WebSocketHub,
        options: HttpOptions,
        metrics: Metrics,
        observer: EventObserver,
    ) -> None:
        self.runtime = runtime
        self.hub = hub
        self.options = options
        self.metrics = metrics
        self.observer = observer
        self.health = HealthChecks(runtime)
        self.document: dict[str, Any] = {}

    # -- prompts and the queue ---------------------------------------------------------

    async def post_prompt(self, request: web.Request) -> web.Response:
        body = await read_json(request, self.options)
        _strip_credentials(body)
        check_prompt_links(body, self.options.max_prompt_links)
        answer = await self.runtime.commands.submit(body, principal=request.get("principal"))
        return web.json_response(answer)

    async def get_prompt(self, request: web.Request) -> web.Response:
        remaining = await self.runtime.reader.queue_remaining()
        return web.json_response({"exec_info": {"queue_remaining": remaining}})

    async def get_queue(self, request: web.Request) -> web.Response:
        running: list[list[Any]] = []
        pending: list[list[Any]] = []
        for row in await self.runtime.reader.active():
            (running if row.status == "running" else pending).append(row.queue_item())
        return web.json_response({"queue_running": running, "queue_pending": pending})

    async def post_queue(self, request: web.Request) -> web.Response:
        change = _convert(
            await read_json(request, self.options), schemas.QueueChange, "POST /queue"
        )
        commands = self.runtime.commands
        if change.clear:
            pending = [
                r.prompt_id for r in await self.runtime.reader.active() if r.status == "queued"
            ]
            await commands.delete(pending)
        if change.delete is not None:
            queued = {
                r.prompt_id for r in await self.runtime.reader.active() if r.status == "queued"
            }
            await commands.delete([i for i in change.delete if i in queued])
        return web.Response(status=200)

    async def get_history(self, request: web.Request) -> web.Response:
        history = await self.runtime.reader.history(
            max_items=_int_param(request, "max_items"), offset=_int_param(request, "offset")
        )
        return web.json_response(history)

    async def get_history_item(self, request: web.Request) -> web.Response:
        history = await self.runtime.reader.history(prompt_id=request.match_info["prompt_id"])
        return web.json_response(history)

    async def post_history(self, request: web.Request) -> web.Response:
        change = _convert(
            await read_json(request, self.options), schemas.QueueChange, "POST /history"
        )
        if change.clear:
            await self.runtime.commands.clear_history()
        if change.delete is not None:
            await self.runtime.commands.delete(change.delete)
        return web.Response(status=200)

    async def post_interrupt(self, request: web.Request) -> web.Response:
        body = await read_json(request, self.options, if_empty={})
        target = _convert(body, schemas.InterruptRequest, "POST /interrupt").prompt_id
        running = [r.prompt_id for r in await self.runtime.reader.active() if r.status == "running"]
        if target is not None:
            running = [p for p in running if p == target]
        await self.runtime.commands.interrupt(running)
        return web.Response(status=200)

    async def post_free(self, request: web.Request) -> web.Response:
        body = await read_json(request, self.options, if_empty={})
        free = _convert(body, schemas.FreeRequest, "POST /free")
        # Only brushwork.nodes.sd loads models. If it was never imported, there is nothing
        # to unload, and importing it here would import torch for nothing.
        if (free.unload_models or free.free_memory) and "brushwork.nodes.sd" in sys.modules:
            from ..nodes.sd import free_models

            free_models()
        if free.free_memory:
            self.runtime.cache.clear()
        return web.Response(status=200)

    # -- nodes, models, system ----------------------------------------------------------

    async def object_info(self, request: web.Request) -> web.Response:
        return web.json_response(self.runtime.registry.object_info())

    async def object_info_node(self, request: web.Request) -> web.Response:
        cls = self.runtime.registry.get(request.match_info["node_class"])
        return web.json_response({cls.class_type: cls.object_info()} if cls else {})

    async def system_stats(self, request: web.Request) -> web.Response:
        return web.json_response(_system_stats())

    async def features(self, request: web.Request) -> web.Response:
        return web.json_response(
            {
                "supports_preview_metadata": True,
                "max_upload_size": float(self.options.max_upload_bytes),
            }
        )

    async def empty_list(self, request: web.Request) -> web.Response:
        return web.json_response([])

    async def models(self, request: web.Request) -> web.Response:
        from ..engine.paths import MODEL_FOLDERS

        return web.json_response(list(MODEL_FOLDERS))

    async def models_folder(self, request: web.Request) -> web.Response:
        from ..engine.paths import MODEL_FOLDERS

        folder = request.match_info["folder"]
        if folder not in MODEL_FOLDERS:
            raise NotFoundError(f"unknown model folder {folder[:100]!r}; GET /models lists them")
        root = self.runtime.paths.model_folder(folder)
        names = sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())
        return web.json_response(names)

    # -- files ------------------------------------------------------------------------------

    async def view(self, request: web.Request) -> web.StreamResponse:
        return await files.view(request, self.runtime.paths)

    async def upload_image(self, request: web.Request) -> web.Response:
        return await files.upload_image(request, self.runtime.paths, self.options)

    # -- operations ---------------------------------------------------------------------------

    async def audit(self, request: web.Request) -> web.Response:
        prompt_id = request.match_info["prompt_id"]
        audit = await self.runtime.reader.audit(prompt_id)
        if audit is None:
            raise NotFoundError(f"prompt {prompt_id[:100]} does not exist")
        if request.query.get("format") == "jsonl":
            from ..cli_ops import audit_json_lines

            return web.Response(
                text="\n".join(audit_json_lines(audit)) + "\n", content_type="application/x-ndjson"
            )
        return web.json_response(audit)

    async def healthz(self, request: web.Request) -> web.Response:
        return web.json_response(msgspec.to_builtins(self.health.liveness()))

    async def readyz(self, request: web.Request) -> web.Response:
        health = await self.health.readiness()
        status = 200 if health.status == "ready" else 503
        return web.json_response(msgspec.to_builtins(health), status=status)

    async def metrics_text(self, request: web.Request) -> web.Response:
        await self._refresh_gauges()
        return web.Response(
            body=self.metrics.render(), headers={"Content-Type": CONTENT_TYPE_LATEST}
        )

    async def _refresh_gauges(self) -> None:
        runtime = self.runtime
        active = await runtime.reader.active()
        running = sum(1 for row in active if row.status == "running")
        self.metrics.set_queue_depth(len(active) - running, running)
        self.metrics.websocket_clients.set(self.hub.client_count)
        providers = runtime.services.get("providers")
        states = getattr(providers, "breaker_states", None)
        if callable(states):
            self.metrics.set_breaker_states(states())
        checkpoints = await read_checkpoints(runtime.engine)
        followers = {"websocket": self.hub.position, "metrics": self.observer.position}
        self.metrics.set_positions(await runtime.store.max_position(), checkpoints, followers)

    async def openapi(self, request: web.Request) -> web.Response:
        return web.json_response(self.document)

    async def docs(self, request: web.Request) -> web.Response:
        return web.Response(text=render_docs(self.document), content_type="text/html")

    async def websocket(self, request: web.Request) -> web.StreamResponse:
        return await self.hub.handle(request)


def _system_stats() -> dict[str, Any]:
    try:
        torch_version = metadata.version("torch")
    except metadata.PackageNotFoundError:
        torch_version = "not installed"
    ram_total = ram_free = 0
    try:
        with open("/proc/meminfo") as meminfo:
            values = {line.split(":")[0]: int(line.split()[1]) * 1024 for line in meminfo}
        ram_total, ram_free = values.get("MemTotal", 0), values.get("MemAvailable", 0)
    except OSError:
        pass
    return {
        "system": {
            "os": os.name,
            "ram_total": ram_total,
            "ram_free": ram_free,
            "comfyui_version": COMFYUI_VERSION,
            "brushwork_version": __version__,
            "python_version": sys.version,
            "pytorch_version": torch_version,
            "embedded_python": False,
            "argv": sys.argv,
            "platform": platform.platform(),
        },
        "devices": [
            {
                "name": "cpu",
                "type": "cpu",
                "index": None,
                "vram_total": 0,
                "vram_free": 0,
                "torch_vram_total": 0,
                "torch_vram_free": 0,
            }
        ],
    }


_INT = {"type": "integer", "minimum": 0, "maximum": MAX_QUERY_INT}
_STRING = {"type": "string"}
_ANY_OBJECT: dict[str, Any] = {"type": "object"}
_STRING_LIST = {"type": "array", "items": {"type": "string"}}
_HISTORY = {"type": "object", "additionalProperties": {"$ref": "#/components/schemas/HistoryEntry"}}

ROUTES: list[Route] = [
    Route(
        "POST",
        "/prompt",
        "post_prompt",
        "submit",
        "Validate and queue a prompt",
        body=schemas.PromptRequest,
        response=schemas.PromptAccepted,
        statuses=(413, 429),
    ),
    Route("GET", "/prompt", "get_prompt", "read", "Queue length", response=schemas.PromptInfo),
    Route(
        "GET",
        "/queue",
        "get_queue",
        "read",
        "Running and pending prompts",
        response=schemas.QueueState,
    ),
    Route(
        "POST",
        "/queue",
        "post_queue",
        "admin",
        "Clear the queue or delete queued prompts",
        body=schemas.QueueChange,
        statuses=(413,),
    ),
    Route(
        "GET",
        "/history",
        "get_history",
        "read",
        "Finished runs, oldest first",
        response=_HISTORY,
        query=(
            Param("max_items", _INT, "newest N runs"),
            Param("offset", _INT, "skip this many runs from the oldest"),
        ),
    ),
    Route(
        "POST",
        "/history",
        "post_history",
        "admin",
        "Clear history or delete runs",
        body=schemas.QueueChange,
        statuses=(413,),
    ),
    Route(
        "GET",
        "/history/{prompt_id}",
        "get_history_item",
        "read",
        "One finished run ({} when unknown)",
        response=_HISTORY,
    ),
    Route(
        "POST",
        "/interrupt",
        "post_interrupt",
        "submit",
        "Stop running prompts",
        body=schemas.InterruptRequest,
        body_required=False,
        statuses=(413,),
    ),
    Route(
        "POST",
        "/free",
        "post_free",
        "admin",
        "Unload models and clear the output cache",
        body=schemas.FreeRequest,
        body_required=False,
        statuses=(413,),
    ),
    Route(
        "GET",
        "/object_info",
        "object_info",
        "read",
        "Every node class, in ComfyUI's schema",
        response=_ANY_OBJECT,
    ),
    Route(
        "GET",
        "/object_info/{node_class}",
        "object_info_node",
        "read",
        "One node class ({} when unknown)",
        response=_ANY_OBJECT,
    ),
    Route(
        "GET",
        "/system_stats",
        "system_stats",
        "read",
        "Versions, memory and devices",
        response=schemas.SystemStats,
    ),
    Route("GET", "/features", "features", "read", "Server feature flags", response=_ANY_OBJECT),
    Route(
        "GET",
        "/embeddings",
        "empty_list",
        "read",
        "Embeddings (always empty)",
        response=_STRING_LIST,
        operation_id="embeddings",
    ),
    Route(
        "GET",
        "/extensions",
        "empty_list",
        "read",
        "Front-end extensions (always empty)",
        response=_STRING_LIST,
        operation_id="extensions",
    ),
    Route("GET", "/models", "models", "read", "Model folder names", response=_STRING_LIST),
    Route(
        "GET",
        "/models/{folder}",
        "models_folder",
        "read",
        "Files in one model folder",
        response=_STRING_LIST,
        statuses=(404,),
    ),
    Route(
        "GET",
        "/view",
        "view",
        "read",
        "An input, output or temp file",
        response="binary",
        response_content="application/octet-stream",
        statuses=(403, 404, 415),
        query=(
            Param(
                "filename",
                {"type": "string", "minLength": 1},
                "file name, optionally with ' [output]'",
                required=True,
            ),
            Param("type", {"enum": ["input", "output", "temp"]}, "folder"),
            Param("subfolder", _STRING, "relative folder inside it"),
            Param("preview", _STRING, "webp or jpeg, optionally ';QUALITY'"),
            Param("channel", {"enum": ["rgba", "rgb", "a"]}, "channels to return"),
        ),
    ),
    Route(
        "POST",
        "/upload/image",
        "upload_image",
        "submit",
        "Upload an image",
        body=schemas.UploadForm,
        body_content="multipart/form-data",
        response=schemas.UploadResult,
        statuses=(403, 413, 415),
    ),
    Route(
        "GET",
        "/audit/{prompt_id}",
        "audit",
        "read",
        "A run's audit record",
        response=schemas.Audit,
        statuses=(404,),
        query=(Param("format", {"enum": ["json", "jsonl"]}, "jsonl for JSON Lines"),),
    ),
    Route(
        "GET",
        "/healthz",
        "healthz",
        PUBLIC,
        "Liveness: the process answers",
        response=schemas.Health,
    ),
    Route(
        "GET",
        "/readyz",
        "readyz",
        PUBLIC,
        "Readiness: database reachable, migrations current, executor running",
        response=schemas.Health,
        statuses=(503,),
    ),
    Route(
        "GET",
        "/metrics",
        "metrics_text",
        "read",
        "Prometheus metrics",
        response="text",
        response_content="text/plain",
    ),
    Route("GET", "/openapi.json", "openapi", PUBLIC, "This document", response=_ANY_OBJECT),
    Route(
        "GET",
        "/docs",
        "docs",
        PUBLIC,
        "An HTML page listing the operations",
        response="html",
        response_content="text/html",
    ),
    Route(
        "GET",
        "/ws",
        "websocket",
        "read",
        "ComfyUI's websocket (upgrade required)",
        statuses=(401, 403),
        in_document=False,
        query=(
            Param("clientId", _STRING, "client id that prompts name"),
            Param("after", _INT, "resume after this event position"),
            Param("token", _STRING, "API token, when no Authorization header"),
        ),
    ),
]


async def create_app(
    runtime: Runtime, options: HttpOptions | None = None, tracer: Tracer | None = None
) -> web.Application:
    """Build the app; ``tracer`` defaults to the global OpenTelemetry tracer."""
    options = options or HttpOptions()
    metrics = Metrics()
    scopes: dict[AbstractRoute, str] = {}
    middlewares: list[Any] = [
        request_middleware(metrics),
        error_middleware,
        origin_middleware(options.cors_origins),
    ]
    if options.auth_required:
        if options.tokens is None:
            raise ValueError("auth is required but no token store was given")
        middlewares.append(auth_middleware(options.tokens, scopes))
    app = web.Application(middlewares=middlewares, client_max_size=options.max_body_bytes)

    active = {row.prompt_id: row.client_id for row in await runtime.reader.active()}
    translator = MessageTranslator(active)

    async def lookup_client(prompt_id: str) -> str | None:
        row = await runtime.reader.prompt(prompt_id)
        return row.client_id if row else None

    start_position = await runtime.store.max_position()
    hub = WebSocketHub(
        runtime.store, runtime.broadcaster, translator, start_position, lookup_client
    )
    hub.feature_flags["max_upload_size"] = float(options.max_upload_bytes)
    runtime.progress_listeners.append(hub.progress)
    hub.is_local = lambda prompt_id: prompt_id in runtime.executor.running_prompts()
    app[RUNTIME] = runtime
    app[HUB] = hub
    app[METRICS] = metrics

    sinks = [metrics.observe_events]
    # Without an exporter, spans are no-ops that still cost an estimated 20 us
    # an event (profiled in a burst of prompts).
    run_tracer = RunTracer(tracer) if tracer is not None or _global_tracing_configured() else None
    if run_tracer is not None:
        sinks.append(run_tracer.observe_events)
    observer = EventObserver(runtime.store, runtime.broadcaster, start_position, sinks)
    routes = Routes(runtime, hub, options, metrics, observer)
    for prefix in ("", "/api"):
        for route in ROUTES:
            added = app.router.add_route(
                route.method, prefix + route.path, getattr(routes, route.handler)
            )
            scopes[added] = route.scope
    routes.document = build_document(ROUTES, auth_required=options.auth_required)

    runtime.writer.on_commit = metrics.observe_append

    async def close_tracer(_app: web.Application) -> None:
        if run_tracer is not None:
            run_tracer.close()

    app.on_cleanup.append(close_tracer)
    runtime.task_group.start_soon(hub.run)
    runtime.task_group.start_soon(observer.run)
    return app


def _global_tracing_configured() -> bool:
    """Return whether an OpenTelemetry SDK or auto-instrumentation set a tracer provider."""
    from opentelemetry import trace

    return not isinstance(
        trace.get_tracer_provider(), trace.ProxyTracerProvider | trace.NoOpTracerProvider
    )
