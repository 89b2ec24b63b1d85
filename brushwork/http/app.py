"""The aiohttp application: ComfyUI's routes, at /path and at /api/path."""

from __future__ import annotations

import json
import os
import platform
import sys
from importlib import metadata
from typing import Any

import structlog
from aiohttp import web

from .. import __version__
from ..errors import InvalidJSONError
from ..runtime import Runtime
from . import files
from .errors import error_middleware, error_response
from .messages import MessageTranslator
from .ws import WebSocketHub

log = structlog.get_logger(__name__)

RUNTIME = web.AppKey("runtime", Runtime)
HUB = web.AppKey("hub", WebSocketHub)
MAX_BODY_BYTES = 100 * 1024 * 1024
COMFYUI_VERSION = "0.3.64"


async def _json_body(request: web.Request, *, allow_empty: bool = False) -> Any:
    text = await request.text()
    if not text.strip():
        if allow_empty:
            return None
        raise InvalidJSONError("request body is empty; send a JSON object")
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise _invalid_json(error) from None


def _invalid_json(error: json.JSONDecodeError) -> InvalidJSONError:
    return InvalidJSONError(
        "request body is not valid JSON",
        details={"reason": error.msg, "line": error.lineno, "column": error.colno})


def _int_param(request: web.Request, name: str) -> int | None:
    value = request.query.get(name)
    if value is None:
        return None
    try:
        number = int(value)
    except ValueError:
        raise web.HTTPBadRequest(text=f"query parameter {name}={value!r} is not an integer") \
            from None
    if number < 0:
        raise web.HTTPBadRequest(text=f"query parameter {name}={value!r} must not be negative")
    return number


class Routes:
    def __init__(self, runtime: Runtime, hub: WebSocketHub) -> None:
        self.runtime = runtime
        self.hub = hub

    async def post_prompt(self, request: web.Request) -> web.Response:
        body = await _json_body(request)
        answer = await self.runtime.commands.submit(body, principal=request.get("principal"))
        return web.json_response(answer)

    async def get_prompt(self, request: web.Request) -> web.Response:
        remaining = await self.runtime.reader.queue_remaining()
        return web.json_response({"exec_info": {"queue_remaining": remaining}})

    async def get_queue(self, request: web.Request) -> web.Response:
        running, pending = [], []
        for row in await self.runtime.reader.active():
            (running if row.status == "running" else pending).append(row.queue_item())
        return web.json_response({"queue_running": running, "queue_pending": pending})

    async def post_queue(self, request: web.Request) -> web.Response:
        body = await _json_body(request)
        if not isinstance(body, dict):
            raise web.HTTPBadRequest(text="send a JSON object with 'clear' and/or 'delete'")
        commands = self.runtime.commands
        if body.get("clear"):
            pending = [r.prompt_id for r in await self.runtime.reader.active()
                       if r.status == "queued"]
            await commands.delete(pending)
        if "delete" in body:
            ids = _id_list(body["delete"], "delete")
            queued = {r.prompt_id for r in await self.runtime.reader.active()
                      if r.status == "queued"}
            await commands.delete([i for i in ids if i in queued])
        return web.Response(status=200)

    async def get_history(self, request: web.Request) -> web.Response:
        history = await self.runtime.reader.history(
            max_items=_int_param(request, "max_items"), offset=_int_param(request, "offset"))
        return web.json_response(history)

    async def get_history_item(self, request: web.Request) -> web.Response:
        history = await self.runtime.reader.history(prompt_id=request.match_info["prompt_id"])
        return web.json_response(history)

    async def post_history(self, request: web.Request) -> web.Response:
        body = await _json_body(request)
        if not isinstance(body, dict):
            raise web.HTTPBadRequest(text="send a JSON object with 'clear' and/or 'delete'")
        if body.get("clear"):
            await self.runtime.commands.clear_history()
        if "delete" in body:
            await self.runtime.commands.delete(_id_list(body["delete"], "delete"))
        return web.Response(status=200)

    async def post_interrupt(self, request: web.Request) -> web.Response:
        body = await _json_body(request, allow_empty=True)
        running = [r.prompt_id for r in await self.runtime.reader.active()
                   if r.status == "running"]
        target = body.get("prompt_id") if isinstance(body, dict) else None
        if target is not None:
            running = [p for p in running if p == target]
        await self.runtime.commands.interrupt(running)
        return web.Response(status=200)

    async def post_free(self, request: web.Request) -> web.Response:
        body = await _json_body(request, allow_empty=True) or {}
        if not isinstance(body, dict):
            raise web.HTTPBadRequest(text="send a JSON object")
        if body.get("unload_models") or body.get("free_memory"):
            from ..nodes.sd import free_models

            free_models()
        if body.get("free_memory"):
            self.runtime.cache.clear()
        return web.Response(status=200)

    async def object_info(self, request: web.Request) -> web.Response:
        return web.json_response(self.runtime.registry.object_info())

    async def object_info_node(self, request: web.Request) -> web.Response:
        cls = self.runtime.registry.get(request.match_info["node_class"])
        return web.json_response({cls.class_type: cls.object_info()} if cls else {})

    async def system_stats(self, request: web.Request) -> web.Response:
        return web.json_response(_system_stats())

    async def features(self, request: web.Request) -> web.Response:
        return web.json_response({"supports_preview_metadata": True,
                                  "max_upload_size": float(MAX_BODY_BYTES)})

    async def empty_list(self, request: web.Request) -> web.Response:
        return web.json_response([])

    async def models(self, request: web.Request) -> web.Response:
        from ..engine.paths import MODEL_FOLDERS

        return web.json_response(list(MODEL_FOLDERS))

    async def models_folder(self, request: web.Request) -> web.Response:
        from ..engine.paths import MODEL_FOLDERS

        folder = request.match_info["folder"]
        if folder not in MODEL_FOLDERS:
            return error_response(404, "not_found", f"unknown model folder {folder!r}")
        root = self.runtime.paths.model_folder(folder)
        names = sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())
        return web.json_response(names)

    async def view(self, request: web.Request) -> web.StreamResponse:
        return await files.view(request, self.runtime.paths)

    async def upload_image(self, request: web.Request) -> web.Response:
        return await files.upload_image(request, self.runtime.paths, MAX_BODY_BYTES)

    async def audit(self, request: web.Request) -> web.Response:
        prompt_id = request.match_info["prompt_id"]
        audit = await self.runtime.reader.audit(prompt_id)
        if audit is None:
            return error_response(404, "not_found", f"prompt {prompt_id} does not exist")
        if request.query.get("format") == "jsonl":
            from ..cli_ops import audit_json_lines

            return web.Response(text="\n".join(audit_json_lines(audit)) + "\n",
                                content_type="application/x-ndjson")
        return web.json_response(audit)

    async def websocket(self, request: web.Request) -> web.StreamResponse:
        return await self.hub.handle(request)


def _id_list(value: Any, name: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise web.HTTPBadRequest(text=f"'{name}' must be a list of prompt id strings")
    return value


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
            "os": os.name, "ram_total": ram_total, "ram_free": ram_free,
            "comfyui_version": COMFYUI_VERSION, "brushwork_version": __version__,
            "python_version": sys.version, "pytorch_version": torch_version,
            "embedded_python": False, "argv": sys.argv, "platform": platform.platform(),
        },
        "devices": [{"name": "cpu", "type": "cpu", "index": None, "vram_total": 0,
                     "vram_free": 0, "torch_vram_total": 0, "torch_vram_free": 0}],
    }


ROUTES = [
    ("POST", "/prompt", "post_prompt"), ("GET", "/prompt", "get_prompt"),
    ("GET", "/queue", "get_queue"), ("POST", "/queue", "post_queue"),
    ("GET", "/history", "get_history"), ("POST", "/history", "post_history"),
    ("GET", "/history/{prompt_id}", "get_history_item"),
    ("POST", "/interrupt", "post_interrupt"), ("POST", "/free", "post_free"),
    ("GET", "/object_info", "object_info"), ("GET", "/object_info/{node_class}",
                                             "object_info_node"),
    ("GET", "/system_stats", "system_stats"), ("GET", "/features", "features"),
    ("GET", "/embeddings", "empty_list"), ("GET", "/extensions", "empty_list"),
    ("GET", "/models", "models"), ("GET", "/models/{folder}", "models_folder"),
    ("GET", "/view", "view"), ("POST", "/upload/image", "upload_image"),
    ("GET", "/audit/{prompt_id}", "audit"), ("GET", "/ws", "websocket"),
]


async def create_app(runtime: Runtime) -> web.Application:
    app = web.Application(middlewares=[error_middleware], client_max_size=MAX_BODY_BYTES)
    active = {row.prompt_id: row.client_id for row in await runtime.reader.active()}
    translator = MessageTranslator(active)

    async def lookup_client(prompt_id: str) -> str | None:
        row = await runtime.reader.prompt(prompt_id)
        return row.client_id if row else None

    hub = WebSocketHub(runtime.store, runtime.broadcaster, translator,
                       await runtime.store.max_position(), lookup_client)
    runtime.progress_listeners.append(hub.progress)
    app[RUNTIME] = runtime
    app[HUB] = hub
    routes = Routes(runtime, hub)
    for prefix in ("", "/api"):
        for method, path, name in ROUTES:
            app.router.add_route(method, prefix + path, getattr(routes, name))
    runtime.task_group.start_soon(hub.run)
    return app
