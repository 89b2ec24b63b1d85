"""Operations commands: replay, audit, projections rebuild, resume."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from typing import Any

import anyio

from .settings import Settings


def add_operation_commands(commands: Any, common: Callable[..., None],
                           engine_options: Callable[..., None]) -> None:
    replay = commands.add_parser("replay", help="reconstruct a run from its events and verify "
                                                "its outputs")
    common(replay)
    replay.add_argument("prompt_id")
    replay.add_argument("--re-execute", action="store_true",
                        help="run the graph again in a scratch directory and compare outputs "
                             "node by node")
    replay.add_argument("--extra-nodes", action="append", default=[], metavar="MODULE",
                        help="node modules the run used (as given to serve)")
    replay.add_argument("--json", action="store_true", help="print the reconstruction as JSON")

    audit = commands.add_parser("audit", help="print a run's audit record")
    common(audit)
    audit.add_argument("prompt_id")
    audit.add_argument("--jsonl", action="store_true",
                       help="JSON Lines: the run, then one line per node attempt and "
                            "provider call")

    projections = commands.add_parser("projections", help="projection maintenance")
    projection_commands = projections.add_subparsers(dest="projections_command", required=True)
    rebuild = projection_commands.add_parser(
        "rebuild", help="drop the queue, history and audit views and fold the log again "
                        "(stop servers that use this database first)")
    common(rebuild)

    resume = commands.add_parser("resume", help="retry a failed run from its completed nodes")
    common(resume)
    resume.add_argument("prompt_id")


async def _open(settings: Settings) -> Any:
    from .cli_impl import open_readonly

    return await open_readonly(settings)


def replay(args: argparse.Namespace, settings: Settings) -> int:
    from .engine.artifacts import ArtifactStore
    from .engine.registry import default_registry
    from .events.sql import SqlEventStore
    from .replay import re_execute, reconstruct
    from .runtime import load_node_module

    settings.extra_node_modules = list(args.extra_nodes)

    async def load() -> list[Any]:
        engine = await _open(settings)
        try:
            return await SqlEventStore(engine).read_stream(args.prompt_id)
        finally:
            await engine.dispose()

    records = anyio.run(load)
    if not records:
        print(f"error: no events for prompt {args.prompt_id}", file=sys.stderr)
        return 1
    run = reconstruct(records, ArtifactStore(settings.paths.artifacts))
    if args.json:
        print(json.dumps(run.to_json(), indent=2))
    else:
        _print_replay(run)
    failed = bool(run.missing_artifacts)
    if args.re_execute:
        registry = default_registry()
        for module in args.extra_nodes:
            load_node_module(registry, module)
        comparisons = anyio.run(re_execute, records, settings.paths.root, registry, settings)
        print("\nre-execution, node by node:")
        for item in comparisons:
            flag = "" if item.deterministic else " (not deterministic)"
            print(f"  {item.node_id:>6} {item.class_type:24} {item.verdict}{flag}")
            if item.deterministic and item.verdict == "differs":
                failed = True
    return 1 if failed else 0


def _print_replay(run: Any) -> None:
    print(f"prompt {run.prompt_id}: {run.status}, {len(run.prompt)} nodes, "
          f"outputs {', '.join(run.outputs_to_execute)}")
    if run.seeds:
        print("seeds: " + ", ".join(f"{k}={v}" for k, v in run.seeds.items()))
    for node in run.nodes.values():
        timing = f"{node.duration_s * 1000:8.1f} ms" if node.duration_s is not None else " " * 11
        check = {True: "hashes ok", False: f"ARTIFACT {str(node.problem).upper()}",
                 None: ""}[node.verified]
        print(f"  {node.node_id:>6} {node.class_type:24} {node.outcome:18} {timing} "
              f"attempts={node.attempts} {check}")
    if run.missing_artifacts:
        print(f"missing or corrupt artifacts: {len(run.missing_artifacts)}")
    print(f"provider calls: {run.provider_calls}")


def audit(args: argparse.Namespace, settings: Settings) -> int:
    from .projections.reader import ProjectionReader

    async def load() -> dict[str, Any] | None:
        engine = await _open(settings)
        try:
            return await ProjectionReader(engine).audit(args.prompt_id)
        finally:
            await engine.dispose()

    record = anyio.run(load)
    if record is None:
        print(f"error: prompt {args.prompt_id} does not exist", file=sys.stderr)
        return 1
    if args.jsonl:
        for line in audit_json_lines(record):
            print(line)
    else:
        print(json.dumps(record, indent=2))
    return 0


def audit_json_lines(record: dict[str, Any]) -> list[str]:
    """Return JSON lines: the run, then each node attempt, then each provider call."""
    run = {k: v for k, v in record.items() if k not in ("node_attempts", "provider_calls")}
    lines = [json.dumps({"kind": "run", **run})]
    for attempt in record["node_attempts"]:
        lines.append(json.dumps({"kind": "node_attempt", "prompt_id": record["prompt_id"],
                                 **attempt}))
    for call in record["provider_calls"]:
        lines.append(json.dumps({"kind": "provider_call", "prompt_id": record["prompt_id"],
                                 **call}))
    return lines


def projections(args: argparse.Namespace, settings: Settings) -> int:
    from .events.database import is_sqlite
    from .events.sql import SqlEventStore
    from .projections.runner import default_projections, rebuild

    async def run() -> int:
        engine = await _open(settings)
        try:
            store = SqlEventStore(engine)
            postgres = not is_sqlite(settings.resolved_database_url)
            return await rebuild(engine, store, default_projections(leases=postgres))
        finally:
            await engine.dispose()

    count = anyio.run(run)
    print(f"rebuilt the projections from {count} events")
    return 0


def resume(args: argparse.Namespace, settings: Settings) -> int:
    from .engine.commands import CommandSettings, PromptCommands
    from .engine.registry import NodeRegistry
    from .engine.validation import PromptValidator
    from .events.database import is_sqlite
    from .events.notifier import Broadcaster
    from .events.sql import SqlEventStore
    from .events.writer import EventWriter
    from .projections.reader import ProjectionReader
    from .projections.runner import default_projections

    async def run() -> None:
        engine = await _open(settings)
        try:
            postgres = not is_sqlite(settings.resolved_database_url)
            store = SqlEventStore(engine, default_projections(leases=postgres))
            reader = ProjectionReader(engine)
            commands = PromptCommands(
                validator=PromptValidator(NodeRegistry()), writer=EventWriter(store,
                                                                              Broadcaster()),
                find_prompt=reader.prompt, queue_size=reader.queue_remaining,
                settings=CommandSettings())
            await commands.resume(args.prompt_id)
        finally:
            await engine.dispose()

    anyio.run(run)
    print(f"prompt {args.prompt_id} is queued again; a running server or the next start "
          "resumes it from its completed nodes")
    return 0


HANDLERS: dict[str, Callable[..., int]] = {
    "replay": replay, "audit": audit, "projections": projections, "resume": resume,
}
