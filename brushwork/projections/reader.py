"""Queries over the projections: the queue, the history and the audit, as clients see them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from .base import loads
from .schema import audit_node_attempts, audit_provider_calls, prompt_outputs, prompt_view


@dataclass
class PromptRow:
    prompt_id: str
    position: int
    number: float
    status: str
    client_id: str | None
    principal: str | None
    prompt: dict[str, Any]
    extra_data: dict[str, Any]
    outputs_to_execute: list[str]
    node_errors: dict[str, Any]
    crash_count: int
    run_attempts: int

    def queue_item(self) -> list[Any]:
        return [display_number(self.number), self.prompt_id, self.prompt, self.extra_data,
                self.outputs_to_execute]


def display_number(number: float) -> float | int:
    """ComfyUI shows integral queue numbers as integers."""
    return int(number) if float(number).is_integer() else number


def _prompt_row(row: Any) -> PromptRow:
    return PromptRow(
        row.prompt_id, row.position, row.number, row.status, row.client_id, row.principal,
        loads(row.prompt), loads(row.extra_data), loads(row.outputs_to_execute),
        loads(row.node_errors), row.crash_count, row.run_attempts,
    )


class ProjectionReader:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def prompt(self, prompt_id: str) -> PromptRow | None:
        async with self.engine.connect() as conn:
            row = (await conn.execute(
                sa.select(prompt_view).where(prompt_view.c.prompt_id == prompt_id))).first()
        return _prompt_row(row) if row else None

    async def active(self) -> list[PromptRow]:
        """Queued and running prompts, in the order they run."""
        query = (sa.select(prompt_view)
                 .where(prompt_view.c.status.in_(("queued", "running")))
                 .order_by(prompt_view.c.number, prompt_view.c.position))
        async with self.engine.connect() as conn:
            return [_prompt_row(row) for row in await conn.execute(query)]

    async def queue_remaining(self) -> int:
        query = sa.select(sa.func.count()).select_from(prompt_view).where(
            prompt_view.c.status.in_(("queued", "running")))
        async with self.engine.connect() as conn:
            return (await conn.execute(query)).scalar() or 0

    async def history(self, max_items: int | None = None, offset: int | None = None,
                      prompt_id: str | None = None) -> dict[str, Any]:
        """ComfyUI's history dict, oldest first, with ComfyUI's paging rules."""
        query = sa.select(prompt_view).where(prompt_view.c.in_history.is_(True))
        if prompt_id is not None:
            query = query.where(prompt_view.c.prompt_id == prompt_id)
        async with self.engine.connect() as conn:
            if offset is None and max_items is not None:
                total = (await conn.execute(
                    sa.select(sa.func.count()).select_from(query.subquery()))).scalar() or 0
                offset = max(0, total - max_items)
            query = query.order_by(prompt_view.c.finished_position)
            if offset:
                query = query.offset(offset)
            if max_items is not None:
                query = query.limit(max_items)
            rows = list(await conn.execute(query))
            ids = [row.prompt_id for row in rows]
            outputs: dict[str, dict[str, Any]] = {pid: {} for pid in ids}
            if ids:
                for chunk_start in range(0, len(ids), 500):
                    chunk = ids[chunk_start:chunk_start + 500]
                    result = await conn.execute(
                        sa.select(prompt_outputs).where(prompt_outputs.c.prompt_id.in_(chunk))
                        .order_by(prompt_outputs.c.position))
                    for output in result:
                        outputs[output.prompt_id][output.node_id] = loads(output.ui)
        return {row.prompt_id: self._history_entry(row, outputs[row.prompt_id]) for row in rows}

    @staticmethod
    def _history_entry(row: Any, outputs: dict[str, Any]) -> dict[str, Any]:
        messages = []
        if row.start_message:
            messages.append(["execution_start", loads(row.start_message)])
        if row.cached_message:
            messages.append(["execution_cached", loads(row.cached_message)])
        if row.end_message:
            messages.append(loads(row.end_message))
        return {
            "prompt": [display_number(row.number), row.prompt_id, loads(row.prompt),
                       loads(row.extra_data), loads(row.outputs_to_execute)],
            "outputs": outputs,
            "status": {
                "status_str": "success" if row.status == "success" else "error",
                "completed": row.status == "success",
                "messages": messages,
            },
            "meta": {
                node_id: {"node_id": node_id, "display_node": node_id, "parent_node": None,
                          "real_node_id": node_id}
                for node_id in outputs
            },
        }

    async def audit(self, prompt_id: str) -> dict[str, Any] | None:
        row = await self.prompt(prompt_id)
        if row is None:
            return None
        async with self.engine.connect() as conn:
            view = (await conn.execute(
                sa.select(prompt_view).where(prompt_view.c.prompt_id == prompt_id))).one()
            attempts = list(await conn.execute(
                sa.select(audit_node_attempts)
                .where(audit_node_attempts.c.prompt_id == prompt_id)
                .order_by(audit_node_attempts.c.position)))
            calls = list(await conn.execute(
                sa.select(audit_provider_calls)
                .where(audit_provider_calls.c.prompt_id == prompt_id)
                .order_by(audit_provider_calls.c.position)))
        cached = loads(view.cached_message) or {}
        end = loads(view.end_message)
        return {
            "prompt_id": prompt_id,
            "status": row.status,
            "client_id": row.client_id,
            "principal": row.principal,
            "submitted_at": view.queued_at,
            "started_at": view.started_at,
            "finished_at": view.finished_at,
            "number": row.number,
            "graph": row.prompt,
            "extra_data": row.extra_data,
            "outputs_to_execute": row.outputs_to_execute,
            "run_attempts": row.run_attempts,
            "crash_count": row.crash_count,
            "cached_nodes": cached.get("nodes", []),
            "result": end,
            "node_attempts": [
                {
                    "node_id": a.node_id, "class_type": a.class_type, "attempt": a.attempt,
                    "status": a.status, "started_at": a.started_at,
                    "finished_at": a.finished_at, "duration_s": a.duration_s,
                    "inputs": loads(a.inputs), "outputs": _output_hashes(loads(a.outputs)),
                    "error": loads(a.error),
                }
                for a in attempts
            ],
            "provider_calls": [
                {
                    "node_id": c.node_id, "provider": c.provider, "method": c.method,
                    "endpoint": c.endpoint, "model": c.model,
                    "parameters": loads(c.parameters), "status": c.status,
                    "outcome": c.outcome, "latency_s": c.latency_s, "attempts": c.attempts,
                    "cost": c.cost, "cost_unit": c.cost_unit,
                    "idempotency_key": c.idempotency_key, "error": c.error,
                    "recorded_at": c.recorded_at,
                }
                for c in calls
            ],
        }


def _output_hashes(outputs: Any) -> list[list[dict[str, Any]]] | None:
    if outputs is None:
        return None
    return [
        [{"kind": item[0], "type": item[1], "sha256": item[2], "value": item[3]}
         if len(item) > 3 else {"kind": item[0], "type": item[1], "sha256": item[2]}
         for item in slot]
        for slot in outputs
    ]


async def load_active_with_checkpoint(engine: AsyncEngine) -> tuple[list[PromptRow], int]:
    """Queued and running prompts and the position they reflect, read in one transaction."""
    from ..events.checkpoints import read_checkpoint

    query = (sa.select(prompt_view)
             .where(prompt_view.c.status.in_(("queued", "running")))
             .order_by(prompt_view.c.number, prompt_view.c.position))
    async with engine.begin() as conn:
        rows = [_prompt_row(row) for row in await conn.execute(query)]
        checkpoint = await conn.run_sync(read_checkpoint, "prompts")
    return rows, checkpoint


async def max_number(engine: AsyncEngine) -> float:
    async with engine.connect() as conn:
        value = (await conn.execute(sa.select(sa.func.max(prompt_view.c.number)))).scalar()
    return value if value is not None else -1
