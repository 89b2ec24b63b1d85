"""Add prompt leases: which worker runs which prompt (PostgreSQL deployments).

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "prompt_leases",
        sa.Column("prompt_id", sa.String(64), primary_key=True),
        sa.Column("number", sa.Float, nullable=False),
        sa.Column("position", sa.BigInteger, nullable=False),
        sa.Column("class_types", sa.Text, nullable=False),
        sa.Column("device", sa.String(64)),
        sa.Column("worker_id", sa.String(200)),
        sa.Column("generation", sa.Integer, nullable=False),
        sa.Column("expires_at", sa.Float, nullable=False),
    )
    op.create_index("ix_prompt_leases_order", "prompt_leases", ["number", "position"])


def downgrade() -> None:
    op.drop_table("prompt_leases")
