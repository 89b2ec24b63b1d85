"""Replay: reconstruct a run from its events alone, verify outputs, optionally re-execute.

Reconstruction reads nothing but the log and the artifact store. Re-execution
runs the graph again in a scratch data directory (its own log, artifacts and
output folder; the input and model folders are shared read-only) and
compares outputs node by node. Nodes with side effects outside brushwork,
such as paid provider calls, are not called again: their recorded outputs
are restored from the artifact store, as a crash resume would.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .engine.artifacts import ArtifactStore
from .engine.registry import NodeRegistry
from .events.store import RecordedEvent
from .events.types import (
    ExecutionFailed,
    ExecutionInterrupted,
    ExecutionStarted,
    ExecutionSucceeded,
    NodeCached,
    NodeCompleted,
    NodeFailed,
    NodeStarted,
    PromptQueued,
    ProviderCallRecorded,
)

SEED_INPUTS = ("seed", "noise_seed")


@dataclass
class NodeReplay:
    node_id: str
    class_type: str
    inputs: dict[str, Any]
    attempts: int = 0
    duration_s: float | None = None
    outcome: str = "not run"
    outputs: list[list[Any]] = field(default_factory=list)
    verified: bool | None = None
    # "missing" or "hash mismatch" when verified is False.
    problem: str | None = None


@dataclass
class RunReplay:
    prompt_id: str
    prompt: dict[str, Any]
    outputs_to_execute: list[str]
    status: str
    nodes: dict[str, NodeReplay]
    seeds: dict[str, int]
    provider_calls: int
    missing_artifacts: list[str]

    def to_json(self) -> dict[str, Any]:
        return {
            "prompt_id": self.prompt_id, "status": self.status, "graph": self.prompt,
            "outputs_to_execute": self.outputs_to_execute, "seeds": self.seeds,
            "provider_calls": self.provider_calls,
            "missing_or_corrupt_artifacts": self.missing_artifacts,
            "nodes": [
                {"node_id": n.node_id, "class_type": n.class_type, "outcome": n.outcome,
                 "attempts": n.attempts, "duration_s": n.duration_s, "inputs": n.inputs,
                 "outputs": n.outputs, "verified": n.verified, "problem": n.problem}
                for n in self.nodes.values()
            ],
        }


def reconstruct(records: list[RecordedEvent], artifacts: ArtifactStore) -> RunReplay:
    """Rebuild a run from its events and check every output hash against the store."""
    queued = next((r.event for r in records if isinstance(r.event, PromptQueued)), None)
    if queued is None:
        raise ValueError("the stream has no PromptQueued event; is this a prompt id?")
    assert isinstance(queued, PromptQueued)
    nodes = {
        node_id: NodeReplay(node_id, node["class_type"], node.get("inputs", {}))
        for node_id, node in queued.prompt.items()
    }
    status, provider_calls, missing = "queued", 0, []
    for record in records:
        event = record.event
        if isinstance(event, ExecutionStarted):
            status = "running"
        elif isinstance(event, NodeStarted):
            nodes[event.node_id].attempts += 1
            nodes[event.node_id].outcome = "running (aborted)"
        elif isinstance(event, NodeCached):
            for node_id in event.node_ids:
                nodes[node_id].outcome = "cached"
        elif isinstance(event, NodeCompleted):
            node = nodes[event.node_id]
            node.outcome, node.duration_s = "completed", event.duration_s
            node.outputs = [[_item_json(item) for item in slot] for slot in event.outputs]
            refs = [item.ref for slot in event.outputs for item in slot
                    if item.kind == "artifact" and item.ref]
            bad = [ref for ref in refs if not artifacts.verify(ref)]
            node.verified = not bad
            if bad:
                absent = any(not artifacts.exists(ref) for ref in bad)
                node.problem = "missing" if absent else "hash mismatch"
            missing.extend(ref for ref in bad if ref not in missing)
        elif isinstance(event, NodeFailed):
            nodes[event.node_id].outcome = f"failed: {event.exception_message}"
            nodes[event.node_id].duration_s = event.duration_s
        elif isinstance(event, ProviderCallRecorded):
            provider_calls += 1
        elif isinstance(event, ExecutionSucceeded):
            status = "success"
        elif isinstance(event, ExecutionFailed):
            status = "error"
        elif isinstance(event, ExecutionInterrupted):
            status = "interrupted"
    seeds = {
        f"{node_id}.{name}": value
        for node_id, node in queued.prompt.items()
        for name, value in node.get("inputs", {}).items()
        if name in SEED_INPUTS and isinstance(value, int)
    }
    return RunReplay(queued.prompt_id, queued.prompt, queued.outputs_to_execute, status,
                     nodes, seeds, provider_calls, missing)


def _item_json(item: Any) -> dict[str, Any]:
    data = {"kind": item.kind, "type": item.io_type}
    if item.ref:
        data["sha256"] = item.ref
    if item.kind == "inline":
        data["value"] = item.value
    return data


@dataclass
class NodeComparison:
    node_id: str
    class_type: str
    deterministic: bool
    verdict: str  # "match", "differs", "only in original", "only in re-run"


async def re_execute(records: list[RecordedEvent], data_dir: Path, registry: NodeRegistry,
                     settings_template: Any) -> list[NodeComparison]:
    """Run the recorded graph again in a scratch directory and compare outputs per node."""
    from .engine.context import InterruptFlag
    from .engine.executor import PriorRun, QueuedPrompt
    from .runtime import Runtime
    from .settings import Settings

    queued_event = next(r for r in records if isinstance(r.event, PromptQueued))
    queued = queued_event.event
    assert isinstance(queued, PromptQueued)
    original = {r.event.node_id: r.event for r in records if isinstance(r.event, NodeCompleted)}
    scratch = Path(tempfile.mkdtemp(prefix="brushwork-replay-"))
    try:
        for shared in ("input", "models"):
            source = (data_dir / shared).resolve()
            if source.is_dir():
                (scratch / shared).symlink_to(source)
        source_artifacts = ArtifactStore((data_dir / "artifacts").resolve())
        settings = Settings(data_dir=scratch, cache_policy="none", run_worker=False,
                            extra_node_modules=list(settings_template.extra_node_modules))
        async with Runtime(settings, registry) as runtime:
            prior = PriorRun()
            for node_id, event in original.items():
                cls = registry.get(event.class_type)
                if cls is not None and cls.side_effects:
                    prior.completed[node_id] = event
                    _copy_artifacts(event, source_artifacts, runtime.artifacts)
            run = QueuedPrompt(queued.prompt_id, queued.number, queued_event.position,
                               queued.prompt, queued.extra_data, queued.outputs_to_execute)
            await runtime.executor.run(run, prior, InterruptFlag())
            # The executor queues a successful run's last event without awaiting
            # its commit, so wait for the writer before reading the stream.
            await runtime.writer.flush()
            fresh = {
                r.event.node_id: r.event
                for r in await runtime.store.read_stream(queued.prompt_id)
                if isinstance(r.event, NodeCompleted)
            }
        return _compare(original, fresh, registry)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _copy_artifacts(event: NodeCompleted, source: ArtifactStore, target: ArtifactStore) -> None:
    for slot in event.outputs:
        for item in slot:
            if item.kind == "artifact" and item.ref:
                target.put(source.get(item.ref))


def _compare(original: dict[str, NodeCompleted], fresh: dict[str, NodeCompleted],
             registry: NodeRegistry) -> list[NodeComparison]:
    results = []
    for node_id in sorted(set(original) | set(fresh), key=_node_sort_key):
        before, after = original.get(node_id), fresh.get(node_id)
        event = before or after
        assert event is not None
        cls = registry.get(event.class_type)
        deterministic = bool(cls and cls.deterministic)
        if before is None:
            verdict = "only in re-run"
        elif after is None:
            verdict = "only in original"
        else:
            verdict = "match" if _signature(before) == _signature(after) else "differs"
        results.append(NodeComparison(node_id, event.class_type, deterministic, verdict))
    return results


def _signature(event: NodeCompleted) -> list[list[tuple[str, Any, Any]]]:
    return [[(item.kind, item.ref, item.value if item.kind == "inline" else None)
             for item in slot] for slot in event.outputs]


def _node_sort_key(node_id: str) -> tuple[int, str]:
    return (int(node_id), "") if node_id.isdigit() else (1 << 62, node_id)
