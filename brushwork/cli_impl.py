"""Implementations of the core CLI commands (imported only when one runs)."""

from __future__ import annotations

import argparse
import json
import shutil
import signal
import sys
import time
from pathlib import Path
from typing import Any

import anyio
import structlog

from .cli import print_json
from .errors import PromptValidationError, ValidationError
from .settings import Settings

log = structlog.get_logger("brushwork.cli")


def serve(args: argparse.Namespace, settings: Settings) -> int:
    from aiohttp import web

    from .cli_serve import apply_limits, http_options
    from .engine.executor import freeze_imported_objects
    from .http.app import create_app
    from .observability.tracing import INSTRUMENTATION_NAME, configure_tracing
    from .runtime import Runtime

    apply_limits(args, settings)
    options = http_options(args, settings)
    tracer_provider = configure_tracing(args.trace_exporter, args.trace_file)
    tracer = tracer_provider.get_tracer(INSTRUMENTATION_NAME) if tracer_provider else None

    async def main() -> None:
        async with Runtime(settings) as runtime:
            app = await create_app(runtime, options, tracer)
            runner = web.AppRunner(app, access_log=None, handle_signals=False)
            await runner.setup()
            site = web.TCPSite(runner, args.host, args.port)
            await site.start()
            freeze_imported_objects()
            log.info("server_listening", host=args.host, port=args.port,
                     data_dir=str(settings.paths.root), auth_required=options.auth_required,
                     cors_origins=list(options.cors_origins),
                     trace_exporter=args.trace_exporter)
            with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
                async for signum in signals:
                    log.info("server_stopping", signal=signal.Signals(signum).name)
                    break
            await runner.cleanup()

    try:
        anyio.run(main, **_loop_options())
    finally:
        if tracer_provider is not None:
            tracer_provider.shutdown()
    return 0


def worker(args: argparse.Namespace, settings: Settings) -> int:
    from .events.database import is_sqlite
    from .runtime import Runtime

    if is_sqlite(settings.resolved_database_url):
        raise ValidationError(
            "brushwork worker needs a shared PostgreSQL log: pass --database-url "
            "postgresql+asyncpg://HOST/DB (with SQLite, `brushwork serve` runs prompts itself)")

    async def main() -> None:
        async with Runtime(settings):
            log.info("worker_started", worker_id=settings.worker_id,
                     devices=settings.worker_devices)
            with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
                async for signum in signals:
                    log.info("worker_stopping", signal=signal.Signals(signum).name)
                    break

    anyio.run(main, **_loop_options())
    return 0


def _loop_options() -> dict[str, Any]:
    """Run ``serve`` and ``worker`` on uvloop where it is installed (not on Windows)."""
    import importlib.util
    import os

    choice = os.environ.get("BRUSHWORK_EVENT_LOOP", "").strip().lower() or "auto"
    if choice not in ("auto", "asyncio", "uvloop"):
        raise ValidationError(
            f"invalid BRUSHWORK_EVENT_LOOP {choice!r}; use auto, asyncio or uvloop")
    installed = importlib.util.find_spec("uvloop") is not None
    if choice == "uvloop" and not installed:
        raise ValidationError(
            "BRUSHWORK_EVENT_LOOP=uvloop, but uvloop is not installed; "
            "run `pip install uvloop` or use auto")
    if choice == "asyncio" or not installed:
        return {}
    return {"backend_options": {"use_uvloop": True}}


def load_workflow(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise ValidationError(f"workflow file {path} does not exist") from None
    except json.JSONDecodeError as error:
        raise ValidationError(f"workflow file {path} is not valid JSON: {error}") from None
    if isinstance(data, dict) and "nodes" in data and "links" in data:
        raise ValidationError(
            f"{path} is a UI-format workflow; in ComfyUI use Workflow > Export (API) "
            "and run the exported file")
    if isinstance(data, dict) and isinstance(data.get("prompt"), dict):
        data = data["prompt"]
    if not isinstance(data, dict):
        raise ValidationError(f"{path} must hold a JSON object of node id to node")
    return data


def _copy_inputs(folders: list[Path], target: Path) -> None:
    for folder in folders:
        if not folder.is_dir():
            raise ValidationError(f"--input-dir {folder} is not a directory")
        for source in folder.iterdir():
            if source.is_file() and source.suffix.lower() != ".md":
                destination = target / source.name
                if not destination.exists() or destination.stat().st_size != source.stat().st_size:
                    shutil.copy2(source, destination)


class _Bars:
    """One progress line per node on stderr (plain text when stderr is not a terminal)."""

    def __init__(self, enabled: bool, total_nodes: int) -> None:
        self.enabled = enabled
        self.total = total_nodes
        self.done = 0
        self.tty = sys.stderr.isatty()
        self.current: tuple[str, str] | None = None

    def start(self, node_id: str, class_type: str) -> None:
        self.current = (node_id, class_type)
        self.draw(0.0)

    def draw(self, fraction: float) -> None:
        if not self.enabled or self.current is None:
            return
        node_id, class_type = self.current
        width = 24
        filled = int(width * max(0.0, min(1.0, fraction)))
        line = (f"[{self.done + 1}/{self.total}] {class_type} (node {node_id}) "
                f"|{'#' * filled}{'.' * (width - filled)}| {fraction * 100:5.1f}%")
        if self.tty:
            sys.stderr.write("\r" + line)
        elif fraction in (0.0, 1.0):
            sys.stderr.write(line + "\n")
        sys.stderr.flush()

    def finish(self) -> None:
        self.draw(1.0)
        if self.enabled and self.tty:
            sys.stderr.write("\n")
        self.done += 1
        self.current = None


def run(args: argparse.Namespace, settings: Settings) -> int:
    from .events.types import (
        ExecutionFailed,
        ExecutionInterrupted,
        ExecutionSucceeded,
        NodeCached,
        NodeCompleted,
        NodeFailed,
        NodeStarted,
    )
    from .runtime import Runtime

    workflow = load_workflow(args.workflow)
    outcome: dict[str, Any] = {}

    async def main() -> None:
        async with Runtime(settings) as runtime:
            _copy_inputs(args.input_dir, runtime.paths.input)
            subscription = runtime.broadcaster.subscribe()
            bars = _Bars(not args.no_progress, len(workflow))
            current: dict[str, str] = {}

            def on_progress(prompt_id: str, node_id: str, value: float, total: float,
                            _preview: Any) -> None:
                if prompt_id == current.get("id") and total > 0:
                    bars.draw(value / total)

            runtime.progress_listeners.append(on_progress)
            started = time.perf_counter()
            try:
                answer = await runtime.commands.submit({"prompt": workflow})
            except PromptValidationError as error:
                outcome["rejected"] = error.body
                return
            prompt_id = answer["prompt_id"]
            current["id"] = prompt_id
            print(f"prompt_id: {prompt_id}")
            while "end" not in outcome:
                for record in await subscription.next_batch():
                    event = record.event
                    if getattr(event, "prompt_id", None) != prompt_id:
                        continue
                    if isinstance(event, NodeCached):
                        bars.done += len(event.node_ids)
                    elif isinstance(event, NodeStarted):
                        bars.start(event.node_id, event.class_type)
                    elif isinstance(event, NodeCompleted | NodeFailed):
                        bars.finish()
                    elif isinstance(event, ExecutionSucceeded | ExecutionFailed
                                    | ExecutionInterrupted):
                        outcome["end"] = event
            outcome["history"] = await runtime.reader.history(prompt_id=prompt_id)
            outcome["elapsed"] = time.perf_counter() - started
            outcome["prompt_id"] = prompt_id
            outcome["output_dir"] = runtime.paths

    anyio.run(main)
    if "rejected" in outcome:
        _print_rejection(outcome["rejected"])
        return 1
    end = outcome["end"]
    if isinstance(end, ExecutionSucceeded):
        entry = outcome["history"].get(outcome["prompt_id"], {})
        paths = outcome["output_dir"]
        printed = 0
        for node_outputs in entry.get("outputs", {}).values():
            # Every UI list entry that names a file: images, videos, audio, 3D models.
            for items in node_outputs.values():
                for item in items if isinstance(items, list) else []:
                    if not isinstance(item, dict) or "filename" not in item:
                        continue
                    folder = paths.folder_for_type(item.get("type", "output")) or paths.output
                    print(folder / item.get("subfolder", "") / item["filename"])
                    printed += 1
        print(f"finished in {outcome['elapsed']:.2f} s, {printed} output file(s)",
              file=sys.stderr)
        return 0
    if isinstance(end, ExecutionInterrupted):
        print(f"error: run {outcome['prompt_id']} was interrupted", file=sys.stderr)
        return 1
    print(f"error: node {end.node_id} ({end.node_type}) failed: {end.exception_type}: "
          f"{end.exception_message}", file=sys.stderr)
    return 1


def _print_rejection(body: dict[str, Any]) -> None:
    error = body.get("error", {})
    print(f"error: {error.get('message')}: {error.get('details')}", file=sys.stderr)
    for node_id, info in body.get("node_errors", {}).items():
        for node_error in info.get("errors", []):
            print(f"  node {node_id} ({info.get('class_type')}): {node_error['message']}: "
                  f"{node_error['details']}", file=sys.stderr)


def db_upgrade(args: argparse.Namespace, settings: Settings) -> int:
    from . import db
    from .events.database import create_engine

    async def main() -> None:
        settings.paths.root.mkdir(parents=True, exist_ok=True)
        engine = create_engine(settings.resolved_database_url)
        try:
            await db.upgrade(engine)
            print(f"database at revision {await db.current_revision(engine)}")
        finally:
            await engine.dispose()

    anyio.run(main)
    return 0


async def open_readonly(settings: Settings) -> Any:
    """Open the log of an existing data directory or --database-url for inspection."""
    from . import db
    from .errors import NotFoundError
    from .events.database import create_engine

    if settings.database_url is None and not settings.paths.database.is_file():
        # Creating an empty log here would hide a mistyped --data-dir.
        raise NotFoundError(
            f"no event log at {settings.paths.database}; pass the --data-dir that a server "
            "or `brushwork run` used, or --database-url"
        )
    engine = create_engine(settings.resolved_database_url)
    await db.upgrade(engine)
    return engine


def history(args: argparse.Namespace, settings: Settings) -> int:
    from .projections.reader import ProjectionReader

    async def main() -> dict[str, Any]:
        engine = await open_readonly(settings)
        try:
            return await ProjectionReader(engine).history(max_items=args.limit)
        finally:
            await engine.dispose()

    entries = anyio.run(main)
    if args.json:
        print_json(entries)
        return 0
    for prompt_id, entry in entries.items():
        status = entry["status"]["status_str"]
        outputs = sum(len(v.get("images", [])) for v in entry["outputs"].values())
        print(f"{prompt_id}  {status:8}  {len(entry['prompt'][2]):3} nodes  {outputs} outputs")
    return 0


def events(args: argparse.Namespace, settings: Settings) -> int:
    import msgspec

    from .events.sql import SqlEventStore

    async def main() -> list[Any]:
        engine = await open_readonly(settings)
        try:
            return await SqlEventStore(engine).read_stream(args.prompt_id)
        finally:
            await engine.dispose()

    records = anyio.run(main)
    if not records:
        print(f"error: no events for prompt {args.prompt_id}", file=sys.stderr)
        return 1
    for record in records:
        payload = msgspec.to_builtins(record.event)
        if args.json:
            print(json.dumps({"position": record.position, "version": record.version,
                              "recorded_at": record.recorded_at, "event": payload}))
            continue
        stamp = time.strftime("%H:%M:%S", time.localtime(record.recorded_at))
        detail = {k: v for k, v in payload.items() if k not in ("type", "prompt_id", "prompt",
                                                               "outputs", "traceback")}
        print(f"{record.position:>8} {stamp} {record.type_name:22} "
              f"{json.dumps(detail)[:160]}")
    return 0
