"""Tables of the read models (projections). Alembic migrations create them."""

from __future__ import annotations

import sqlalchemy as sa

from ..events.schema import BigInt, metadata

prompt_view = sa.Table(
    "prompt_view",
    metadata,
    sa.Column("prompt_id", sa.String(64), primary_key=True),
    sa.Column("position", sa.BigInteger, nullable=False),
    sa.Column("number", sa.Float, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("client_id", sa.String(200)),
    sa.Column("principal", sa.String(200)),
    sa.Column("prompt", sa.Text, nullable=False),
    sa.Column("extra_data", sa.Text, nullable=False),
    sa.Column("outputs_to_execute", sa.Text, nullable=False),
    sa.Column("node_errors", sa.Text, nullable=False),
    sa.Column("start_message", sa.Text),
    sa.Column("cached_message", sa.Text),
    sa.Column("end_message", sa.Text),
    sa.Column("queued_at", sa.Float, nullable=False),
    sa.Column("started_at", sa.Float),
    sa.Column("finished_at", sa.Float),
    sa.Column("finished_position", sa.BigInteger),
    sa.Column("in_history", sa.Boolean, nullable=False, default=False),
    sa.Column("crash_count", sa.Integer, nullable=False, default=0),
    sa.Column("run_attempts", sa.Integer, nullable=False, default=0),
    sa.Index("ix_prompt_view_status", "status", "number", "position"),
    sa.Index("ix_prompt_view_history", "in_history", "finished_position"),
)

prompt_outputs = sa.Table(
    "prompt_outputs",
    metadata,
    sa.Column("prompt_id", sa.String(64), primary_key=True),
    sa.Column("node_id", sa.String(200), primary_key=True),
    sa.Column("class_type", sa.String(200), nullable=False),
    sa.Column("ui", sa.Text, nullable=False),
    sa.Column("position", sa.BigInteger, nullable=False),
)

audit_node_attempts = sa.Table(
    "audit_node_attempts",
    metadata,
    sa.Column("prompt_id", sa.String(64), primary_key=True),
    sa.Column("node_id", sa.String(200), primary_key=True),
    sa.Column("attempt", sa.Integer, primary_key=True),
    sa.Column("class_type", sa.String(200), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("started_at", sa.Float, nullable=False),
    sa.Column("finished_at", sa.Float),
    sa.Column("duration_s", sa.Float),
    sa.Column("inputs", sa.Text, nullable=False),
    sa.Column("outputs", sa.Text),
    sa.Column("error", sa.Text),
    sa.Column("position", sa.BigInteger, nullable=False),
)

audit_provider_calls = sa.Table(
    "audit_provider_calls",
    metadata,
    sa.Column("position", BigInt, primary_key=True, autoincrement=False),
    sa.Column("prompt_id", sa.String(64), nullable=False, index=True),
    sa.Column("node_id", sa.String(200), nullable=False),
    sa.Column("provider", sa.String(64), nullable=False),
    sa.Column("method", sa.String(16), nullable=False),
    sa.Column("endpoint", sa.String(500), nullable=False),
    sa.Column("model", sa.String(200)),
    sa.Column("parameters", sa.Text, nullable=False),
    sa.Column("status", sa.Integer),
    sa.Column("outcome", sa.String(32), nullable=False),
    sa.Column("latency_s", sa.Float, nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("cost", sa.Float),
    sa.Column("cost_unit", sa.String(32)),
    sa.Column("idempotency_key", sa.String(100)),
    sa.Column("error", sa.Text),
    sa.Column("recorded_at", sa.Float, nullable=False),
)

PROJECTION_TABLES = {
    "prompts": (prompt_view, prompt_outputs),
    "audit": (audit_node_attempts, audit_provider_calls),
}

prompt_leases = sa.Table(
    "prompt_leases",
    metadata,
    sa.Column("prompt_id", sa.String(64), primary_key=True),
    sa.Column("number", sa.Float, nullable=False),
    sa.Column("position", sa.BigInteger, nullable=False),
    sa.Column("class_types", sa.Text, nullable=False),
    sa.Column("device", sa.String(64)),
    sa.Column("worker_id", sa.String(200)),
    sa.Column("generation", sa.Integer, nullable=False),
    sa.Column("expires_at", sa.Float, nullable=False),
    sa.Index("ix_prompt_leases_order", "number", "position"),
)

PROJECTION_TABLES["leases"] = (prompt_leases,)
