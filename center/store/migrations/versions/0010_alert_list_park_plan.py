"""The operator's alert list (indexes for catch-up and the status / severity filters) and the
park's plan (一张图的底图).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_alerts_updated_ms", "alerts", ["updated_ms", "event_id"])
    op.create_index("ix_alerts_status_started_ms", "alerts", ["status", "started_ms"])
    op.create_index("ix_alerts_severity_started_ms", "alerts", ["severity", "started_ms"])
    op.create_table(
        "park_plans",
        sa.Column("site", sa.String(64), primary_key=True),
        sa.Column("content_type", sa.String(32), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("height", sa.Integer(), nullable=False),
        sa.Column("uploaded_by", sa.String(64), nullable=False),
        sa.Column("uploaded_ms", sa.BigInteger(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("park_plans")
    op.drop_index("ix_alerts_severity_started_ms", table_name="alerts")
    op.drop_index("ix_alerts_status_started_ms", table_name="alerts")
    op.drop_index("ix_alerts_updated_ms", table_name="alerts")
