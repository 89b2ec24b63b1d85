"""The command line: ``brushwork serve|run|db|history|events|...``."""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import sys
from pathlib import Path
from typing import Any

from . import __version__


def _node_timeout(text: str) -> tuple[str, float]:
    name, sep, seconds = text.partition("=")
    try:
        value = float(seconds)
    except ValueError:
        value = -1.0
    if not sep or not name or value <= 0:
        raise argparse.ArgumentTypeError(
            f"invalid node timeout {text!r}; write CLASS_TYPE=SECONDS, e.g. KSampler=600")
    return name, value


_PLAIN_NUMBER = re.compile(r"[0-9]+(\.[0-9]+)?")


def _milliseconds(text: str) -> float:
    """Parse a plain decimal number of milliseconds from 0 to 1000."""
    value = float(text) if _PLAIN_NUMBER.fullmatch(text) else math.nan
    if not 0 <= value <= 1000:
        raise argparse.ArgumentTypeError(
            f"invalid milliseconds {text!r}; give a number from 0 to 1000, such as 2.5")
    return value


def _provider_url(text: str) -> tuple[str, str]:
    name, sep, url = text.partition("=")
    if not sep or not name or not url.startswith(("http://", "https://")):
        raise argparse.ArgumentTypeError(
            f"invalid provider base URL {text!r}; write PROVIDER=http://host:port")
    return name, url


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data-dir", type=Path,
                        default=Path(os.environ.get("BRUSHWORK_DATA_DIR", "brushwork-data")),
                        help="data directory: database, artifacts, input/output/temp, models "
                             "(default ./brushwork-data or $BRUSHWORK_DATA_DIR)")
    parser.add_argument("--database-url", default=os.environ.get("BRUSHWORK_DATABASE_URL"),
                        help="SQLAlchemy URL of the event log, e.g. "
                             "postgresql+asyncpg://host/db (default: SQLite in the data dir)")
    parser.add_argument("--log-format", choices=("auto", "console", "json"), default="auto",
                        help="log line format: console for people, json for one JSON object "
                             "per line; auto (default) picks console when stderr is a terminal")
    parser.add_argument("--log-level", default=None,
                        help="minimum log level: debug, info, warning or error")


def _engine_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--cache", choices=("classic", "lru", "none"), default="classic",
                        help="output cache policy across prompts (default classic)")
    parser.add_argument("--cache-size", type=int, default=256,
                        help="maximum cached node outputs for --cache lru")
    parser.add_argument("--max-concurrent-prompts", type=int, default=1,
                        help="prompts executed at the same time (default 1, as ComfyUI)")
    parser.add_argument("--max-queue-size", type=int, default=10_000,
                        help="queued prompts past which POST /prompt answers 429")
    parser.add_argument("--max-crash-resumes", type=int, default=3,
                        help="crashes during resume after which a run is failed as poison")
    parser.add_argument("--node-timeout", type=_node_timeout, action="append", default=[],
                        metavar="CLASS=SECONDS", help="fail a node class after SECONDS")
    parser.add_argument("--cpu-threads", type=int, default=4,
                        help="threads for CPU-bound nodes")
    parser.add_argument("--extra-nodes", action="append", default=[], metavar="MODULE",
                        help="import MODULE and register the node classes in its "
                             "NODE_CLASSES list (repeatable)")
    parser.add_argument("--provider-base-url", action="append", default=[],
                        metavar="PROVIDER=URL", type=_provider_url,
                        help="send a provider's API calls to URL instead of its public host "
                             "(a proxy, or a local fake for tests); repeatable")
    parser.add_argument("--sqlite-synchronous", default="NORMAL",
                        help="SQLite synchronous mode: NORMAL (survives kill -9) or FULL "
                             "(also survives power loss)")
    parser.add_argument("--commit-linger-ms", type=_milliseconds, default=5.0, metavar="MS",
                        help="how long node events that no caller waits for may wait to "
                             "share one commit (default 5; 0 commits each at once)")
    parser.add_argument("--commit-interval-ms", type=_milliseconds, default=5.0, metavar="MS",
                        help="minimum time from the start of one event commit to the start "
                             "of the next; under load, larger batches share each commit "
                             "(0 to 1000, default 5; 0 commits as soon as the writer is free)")
    parser.add_argument("--inline-node-ms", type=_milliseconds, default=1.0, metavar="MS",
                        help="run a synchronous node on the event loop, without a thread hop, "
                             "once its runs with the same input shapes and settings took "
                             "under MS milliseconds (default 1; 0 always uses threads)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="brushwork", description=(
        "Run ComfyUI API-format workflows on a durable event log."))
    parser.add_argument("--version", action="version", version=f"brushwork {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the ComfyUI-compatible HTTP server")
    _common(serve)
    _engine_options(serve)
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on")
    serve.add_argument("--port", type=int, default=8188, help="TCP port (default 8188)")
    serve.add_argument("--no-worker", action="store_true",
                       help="serve the API only; run prompts in `brushwork worker` processes")
    from .cli_serve import add_serve_options

    add_serve_options(serve)

    worker = commands.add_parser(
        "worker", help="run prompts from a shared PostgreSQL log (no HTTP server)")
    _common(worker)
    _engine_options(worker)
    worker.add_argument("--device", action="append", default=[], metavar="DEVICE",
                        help="a device this worker offers, e.g. cpu or cuda:0 (repeatable; "
                             "default cpu)")
    worker.add_argument("--node-classes", default=None, metavar="A,B,...",
                        help="claim only prompts whose nodes are all in this list "
                             "(default: every registered class)")
    worker.add_argument("--lease-seconds", type=float, default=30.0,
                        help="seconds a claim survives without a heartbeat; another worker "
                             "resumes the prompt after that")

    run = commands.add_parser("run", help="run one workflow headless and print its outputs")
    _common(run)
    _engine_options(run)
    run.add_argument("workflow", type=Path, help="API-format workflow JSON (Export (API))")
    run.add_argument("--input-dir", type=Path, action="append", default=[],
                     help="copy this folder's files into the input folder first (repeatable)")
    run.add_argument("--no-progress", action="store_true", help="do not draw progress bars")

    database = commands.add_parser("db", help="database schema commands")
    db_commands = database.add_subparsers(dest="db_command", required=True)
    upgrade = db_commands.add_parser("upgrade", help="apply the schema migrations")
    _common(upgrade)

    history = commands.add_parser("history", help="list finished runs")
    _common(history)
    history.add_argument("--limit", type=int, default=20, help="newest N runs (default 20)")
    history.add_argument("--json", action="store_true", help="print ComfyUI's history JSON")

    events = commands.add_parser("events", help="print a run's events")
    _common(events)
    events.add_argument("prompt_id")
    events.add_argument("--json", action="store_true", help="one JSON object per line")

    from .cli_ops import add_operation_commands

    add_operation_commands(commands, _common, _engine_options)
    from .cli_tokens import add_token_commands

    add_token_commands(commands, _common)
    return parser


def settings_from_args(args: argparse.Namespace) -> Any:
    from .settings import Settings

    settings = Settings(data_dir=args.data_dir, database_url=args.database_url)
    if hasattr(args, "cache"):
        settings.cache_policy = args.cache
        settings.cache_max_entries = args.cache_size
        settings.max_concurrent_prompts = args.max_concurrent_prompts
        settings.max_queue_size = args.max_queue_size
        settings.max_crash_resumes = args.max_crash_resumes
        settings.node_timeouts = dict(args.node_timeout)
        settings.cpu_threads = args.cpu_threads
        settings.sqlite_synchronous = args.sqlite_synchronous
        settings.commit_linger = args.commit_linger_ms / 1000
        settings.commit_interval = args.commit_interval_ms / 1000
        settings.inline_threshold = args.inline_node_ms / 1000
        settings.extra_node_modules = list(args.extra_nodes)
        settings.provider_base_urls = dict(args.provider_base_url)
    if getattr(args, "no_worker", False):
        settings.run_worker = False
    if hasattr(args, "lease_seconds"):
        settings.lease_seconds = args.lease_seconds
        settings.worker_devices = args.device or ["cpu"]
        if args.node_classes:
            settings.worker_node_classes = [n.strip() for n in args.node_classes.split(",")
                                            if n.strip()]
    return settings


def main(argv: list[str] | None = None) -> int:
    # OpenMP's default busy-waiting made a 64x64 ImageBlur 13 times slower on a
    # 2-core VM (2.7 ms instead of 0.2 ms, torch 2.13) while the event loop and
    # the writer thread share the cores; passive waiting keeps large images as
    # fast. It must be set before torch loads, so the entry point sets it.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    parser = build_parser()
    args = parser.parse_args(argv)
    from .logs import configure

    default_level = "info" if args.command in ("serve", "worker") else "warning"
    try:
        configure(args.log_format, args.log_level or default_level)
    except ValueError as error:
        parser.error(str(error))
    from . import cli_impl

    handler = {
        "serve": cli_impl.serve, "worker": cli_impl.worker, "run": cli_impl.run,
        "db": cli_impl.db_upgrade,
        "history": cli_impl.history, "events": cli_impl.events,
    }.get(args.command)
    if handler is None:
        from . import cli_ops, cli_tokens

        handler = {**cli_ops.HANDLERS, **cli_tokens.HANDLERS}[args.command]
    try:
        return handler(args, settings_from_args(args))
    except KeyboardInterrupt:
        return 130
    except Exception as error:  # the CLI prints user errors without a traceback
        from .errors import BrushworkError

        if isinstance(error, BrushworkError | ValueError | OSError):
            print(f"error: {error}", file=sys.stderr)
            return 2
        raise


def print_json(value: Any) -> None:
    json.dump(value, sys.stdout, indent=2)
    sys.stdout.write("\n")


if __name__ == "__main__":
    sys.exit(main())
