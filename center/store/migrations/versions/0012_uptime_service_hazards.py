"""Camera uptime spans (online hours in the 风险诊断报告) and the service visit a hazard was found on.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-04
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "camera_uptime",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("site", sa.String(length=64), nullable=False),
        sa.Column("node", sa.String(length=64), nullable=False),
        sa.Column("camera", sa.String(length=64), nullable=False),
        sa.Column("start_ms", sa.BigInteger(), nullable=False),
        sa.Column("end_ms", sa.BigInteger(), nullable=False),
        sa.Column("open", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_camera_uptime")),
    )
    with op.batch_alter_table("camera_uptime", schema=None) as batch_op:
        batch_op.create_index("ix_camera_uptime_camera_end_ms", ["camera", "end_ms"], unique=False)
        batch_op.create_index("ix_camera_uptime_site_node_open", ["site", "node", "open"], unique=False)
    with op.batch_alter_table("hazards", schema=None) as batch_op:
        batch_op.add_column(sa.Column("service_id", sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f("ix_hazards_service_id"), ["service_id"], unique=False)
        batch_op.create_foreign_key(
            batch_op.f("fk_hazards_service_id_service_records"), "service_records", ["service_id"], ["id"]
        )


def downgrade() -> None:
    with op.batch_alter_table("hazards", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_hazards_service_id_service_records"), type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_hazards_service_id"))
        batch_op.drop_column("service_id")
    with op.batch_alter_table("camera_uptime", schema=None) as batch_op:
        batch_op.drop_index("ix_camera_uptime_site_node_open")
        batch_op.drop_index("ix_camera_uptime_camera_end_ms")
    op.drop_table("camera_uptime")
