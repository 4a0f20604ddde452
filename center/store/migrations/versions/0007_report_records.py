"""Report records: the number and SHA-256 of every generated report PDF.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "report_records",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("report_no", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("enterprise_id", sa.String(length=64), nullable=True),
        sa.Column("period_from", sa.String(length=10), nullable=False),
        sa.Column("period_to", sa.String(length=10), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("pages", sa.Integer(), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("created_role", sa.String(length=16), nullable=False),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_report_records")),
        sa.UniqueConstraint("report_no", name=op.f("uq_report_records_report_no")),
    )
    with op.batch_alter_table("report_records", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_report_records_enterprise_id"), ["enterprise_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_report_records_sha256"), ["sha256"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("report_records", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_report_records_sha256"))
        batch_op.drop_index(batch_op.f("ix_report_records_enterprise_id"))
    op.drop_table("report_records")
