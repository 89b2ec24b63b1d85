"""Events appended per second to a SQLite log, printed as a table.

    python benchmarks/bench_append.py [--prompts 4000] [--appenders 100]
                                      [--single 3000] [--synchronous NORMAL]

The store, inline projections and group-commit writer are wired by
``Runtime`` exactly as `brushwork serve` wires them (the scheduler is off).
Each appender plays one run at a time: PromptQueued, ExecutionStarted,
NodeCached, NodeStarted and NodeCompleted for ten nodes, ExecutionSucceeded
(24 events), so the prompts and audit projections do their usual work.

- group, awaited: every appender awaits each append; concurrent appends
  share transactions.
- group, executor style: node events are queued without waiting, and only
  PromptQueued, ExecutionStarted and the last event are awaited, as the
  executor does.
- single: one appender awaits each append, so each event is one commit.

Every figure depends on the machine and its disk; compare runs on one
machine only.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import anyio

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from brushwork.events.types import (  # noqa: E402
    Event,
    ExecutionStarted,
    ExecutionSucceeded,
    NodeCached,
    NodeCompleted,
    NodeStarted,
    OutputItem,
    PromptQueued,
)
from brushwork.logs import configure  # noqa: E402
from brushwork.runtime import Runtime  # noqa: E402
from brushwork.settings import Settings  # noqa: E402

NODES = 10
GRAPH = {str(i): {"class_type": "TestAdd", "inputs": {"a": i, "b": 1}} for i in range(NODES)}


def run_events(prompt_id: str, number: int) -> list[Event]:
    """Return the 24 events of one successful ten-node run."""
    events: list[Event] = [
        PromptQueued(prompt_id=prompt_id, number=number, prompt=GRAPH, extra_data={},
                     outputs_to_execute=[str(NODES - 1)]),
        ExecutionStarted(prompt_id=prompt_id, worker_id="bench"),
        NodeCached(prompt_id=prompt_id, node_ids=[]),
    ]
    for index in range(NODES):
        node_id = str(index)
        events.append(NodeStarted(prompt_id=prompt_id, node_id=node_id, class_type="TestAdd",
                                  inputs={"a": index, "b": 1}))
        events.append(NodeCompleted(
            prompt_id=prompt_id, node_id=node_id, class_type="TestAdd",
            outputs=[[OutputItem("inline", "INT", None, index + 1)]],
            ui={"text": [str(index + 1)]} if index == NODES - 1 else None,
            duration_s=0.001))
    events.append(ExecutionSucceeded(prompt_id=prompt_id, executed=list(GRAPH)))
    return events


async def play_awaited(rt: Runtime, prompt_id: str, events: list[Event]) -> None:
    await rt.writer.append(prompt_id, events[:1], expected_version=0)
    for event in events[1:]:
        await rt.writer.append(prompt_id, [event])


async def play_executor_style(rt: Runtime, prompt_id: str, events: list[Event]) -> None:
    await rt.writer.append(prompt_id, events[:1], expected_version=0)
    await rt.writer.append(prompt_id, events[1:2])
    for event in events[2:-1]:
        rt.writer.append_nowait(prompt_id, [event])
    await rt.writer.append(prompt_id, events[-1:])


Player = Callable[[Runtime, str, list[Event]], Awaitable[None]]


async def measure(data_dir: Path, synchronous: str, player: Player, prompts: int,
                  appenders: int) -> dict[str, Any]:
    settings = Settings(data_dir=data_dir, run_worker=False, sqlite_synchronous=synchronous)
    commits: list[int] = []
    async with Runtime(settings) as rt:
        rt.writer.on_commit = lambda _seconds, count: commits.append(count)
        next_prompt = iter(range(prompts))

        async def appender() -> None:
            for number in next_prompt:
                await player(rt, str(uuid.uuid4()), run_events(str(number), number))

        began = time.perf_counter()
        async with anyio.create_task_group() as tg:
            for _ in range(appenders):
                tg.start_soon(appender)
        elapsed = time.perf_counter() - began
    events = sum(commits)
    return {"events": events, "seconds": elapsed, "rate": events / elapsed,
            "commits": len(commits), "batch": events / max(1, len(commits))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--prompts", type=int, default=4000,
                        help="runs of 24 events for each group-commit row (default 4000)")
    parser.add_argument("--appenders", type=int, default=100,
                        help="concurrent appenders for the group-commit rows (default 100)")
    parser.add_argument("--single", type=int, default=125,
                        help="runs of 24 events for the single-append row (default 125)")
    parser.add_argument("--synchronous", default="NORMAL",
                        help="SQLite synchronous mode: NORMAL (default) or FULL")
    parser.add_argument("--tmpdir", type=Path, default=None,
                        help="folder for the scratch databases (default: the system's "
                             "temporary folder); /dev/shm shows the cost without the disk")
    args = parser.parse_args()
    configure("console", "warning")

    rows = [
        ("group, awaited", play_awaited, args.prompts, args.appenders),
        ("group, executor style", play_executor_style, args.prompts, args.appenders),
        ("single awaited appends", play_awaited, args.single, 1),
    ]
    where = args.tmpdir or tempfile.gettempdir()
    print(f"SQLite in {where}, synchronous={args.synchronous.upper()}, inline projections on")
    print(f"{'mode':26} {'appenders':>9} {'events':>8} {'seconds':>8} {'events/s':>9} "
          f"{'commits':>8} {'events/commit':>13}")
    for name, player, prompts, appenders in rows:
        with tempfile.TemporaryDirectory(prefix="brushwork-bench-", dir=args.tmpdir) as scratch:
            result = anyio.run(measure, Path(scratch), args.synchronous, player, prompts,
                               appenders)
        print(f"{name:26} {appenders:>9} {result['events']:>8} {result['seconds']:>8.2f} "
              f"{result['rate']:>9.0f} {result['commits']:>8} {result['batch']:>13.1f}")


if __name__ == "__main__":
    main()
