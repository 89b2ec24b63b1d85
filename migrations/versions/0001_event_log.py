"""Create the event log, projection checkpoints and the queue, history and audit views.

Revision ID: 0001
Revises:
Create Date: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

BigInt = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "events",
        sa.Column("position", BigInt, primary_key=True, autoincrement=True),
        sa.Column("event_id", sa.String(32), nullable=False),
        sa.Column("stream_id", sa.String(200), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("type", sa.String(64), nullable=False),
        sa.Column("schema_version", sa.SmallInteger, nullable=False),
        sa.Column("payload", sa.LargeBinary, nullable=False),
        sa.Column("recorded_at", sa.Float, nullable=False),
        sa.UniqueConstraint("stream_id", "version", name="uq_events_stream_version"),
        sa.UniqueConstraint("event_id", name="uq_events_event_id"),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "projection_checkpoints",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("position", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "prompt_view",
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
        sa.Column("in_history", sa.Boolean, nullable=False),
        sa.Column("crash_count", sa.Integer, nullable=False),
        sa.Column("run_attempts", sa.Integer, nullable=False),
    )
    op.create_index("ix_prompt_view_status", "prompt_view", ["status", "number", "position"])
    op.create_index("ix_prompt_view_history", "prompt_view", ["in_history", "finished_position"])
    op.create_table(
        "prompt_outputs",
        sa.Column("prompt_id", sa.String(64), primary_key=True),
        sa.Column("node_id", sa.String(200), primary_key=True),
        sa.Column("class_type", sa.String(200), nullable=False),
        sa.Column("ui", sa.Text, nullable=False),
        sa.Column("position", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "audit_node_attempts",
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
    op.create_table(
        "audit_provider_calls",
        sa.Column("position", BigInt, primary_key=True, autoincrement=False),
        sa.Column("prompt_id", sa.String(64), nullable=False),
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
    op.create_index("ix_audit_provider_calls_prompt_id", "audit_provider_calls", ["prompt_id"])


def downgrade() -> None:
    for table in ("audit_provider_calls", "audit_node_attempts", "prompt_outputs",
                  "prompt_view", "projection_checkpoints", "events"):
        op.drop_table(table)
