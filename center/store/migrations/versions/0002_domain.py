"""Domain: towns, parks, enterprises, insurers and policies, cameras, hazards and their log,
service records, daily risk scores, users and sessions, the audit log, evidence files; the
operator's verdict on alerts.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("ts_ms", sa.BigInteger(), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("target", sa.String(length=128), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.Column("ip", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
    )
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_audit_log_ts_ms"), ["ts_ms"], unique=False)

    op.create_table(
        "evidence_files",
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("content_type", sa.String(length=32), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("stored_ms", sa.BigInteger(), nullable=False),
        sa.Column("uploaded_by", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("sha256", name=op.f("pk_evidence_files")),
    )
    with op.batch_alter_table("evidence_files", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_evidence_files_stored_ms"), ["stored_ms"], unique=False)

    op.create_table(
        "insurers",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_insurers")),
    )
    op.create_table(
        "towns",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("district", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_towns")),
    )
    op.create_table(
        "parks",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("town_id", sa.String(length=64), nullable=True),
        sa.Column("address", sa.String(length=256), nullable=False),
        sa.ForeignKeyConstraint(["town_id"], ["towns.id"], name=op.f("fk_parks_town_id_towns")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_parks")),
    )
    op.create_table(
        "enterprises",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("park_id", sa.String(length=64), nullable=True),
        sa.Column("town_id", sa.String(length=64), nullable=True),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("credit_code", sa.String(length=18), nullable=False),
        sa.Column("industry", sa.String(length=32), nullable=False),
        sa.Column("address", sa.String(length=256), nullable=False),
        sa.Column("map_x", sa.Float(), nullable=True),
        sa.Column("map_y", sa.Float(), nullable=True),
        sa.Column("contacts", sa.JSON(), nullable=False),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
        sa.Column("updated_ms", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["park_id"], ["parks.id"], name=op.f("fk_enterprises_park_id_parks")),
        sa.ForeignKeyConstraint(["town_id"], ["towns.id"], name=op.f("fk_enterprises_town_id_towns")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_enterprises")),
        sa.UniqueConstraint("credit_code", name=op.f("uq_enterprises_credit_code")),
    )
    op.create_table(
        "cameras",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("enterprise_id", sa.String(length=64), nullable=False),
        sa.Column("node", sa.String(length=64), nullable=True),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("post_name", sa.String(length=128), nullable=False),
        sa.Column("key_post", sa.Boolean(), nullable=False),
        sa.Column("map_x", sa.Float(), nullable=True),
        sa.Column("map_y", sa.Float(), nullable=True),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["enterprise_id"], ["enterprises.id"], name=op.f("fk_cameras_enterprise_id_enterprises")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cameras")),
    )
    with op.batch_alter_table("cameras", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_cameras_enterprise_id"), ["enterprise_id"], unique=False)

    op.create_table(
        "hazards",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("enterprise_id", sa.String(length=64), nullable=False),
        sa.Column("camera_id", sa.String(length=64), nullable=True),
        sa.Column("alert_id", sa.String(length=36), nullable=True),
        sa.Column("title", sa.String(length=128), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("level", sa.String(length=16), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("deadline_ms", sa.BigInteger(), nullable=False),
        sa.Column("assignee", sa.String(length=64), nullable=False),
        sa.Column("before_evidence", sa.JSON(), nullable=False),
        sa.Column("after_evidence", sa.JSON(), nullable=False),
        sa.Column("rectification", sa.Text(), nullable=False),
        sa.Column("review_note", sa.Text(), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
        sa.Column("updated_ms", sa.BigInteger(), nullable=False),
        sa.Column("rectified_ms", sa.BigInteger(), nullable=True),
        sa.Column("closed_ms", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(
            ["enterprise_id"], ["enterprises.id"], name=op.f("fk_hazards_enterprise_id_enterprises")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_hazards")),
        sa.UniqueConstraint("code", name=op.f("uq_hazards_code")),
    )
    with op.batch_alter_table("hazards", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_hazards_alert_id"), ["alert_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_hazards_enterprise_id"), ["enterprise_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_hazards_status"), ["status"], unique=False)

    op.create_table(
        "insurance_policies",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("enterprise_id", sa.String(length=64), nullable=False),
        sa.Column("insurer_id", sa.String(length=64), nullable=False),
        sa.Column("policy_no", sa.String(length=64), nullable=False),
        sa.Column("start_date", sa.String(length=10), nullable=False),
        sa.Column("end_date", sa.String(length=10), nullable=False),
        sa.Column("premium_cny", sa.Float(), nullable=False),
        sa.Column("insured_headcount", sa.Integer(), nullable=False),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["enterprise_id"],
            ["enterprises.id"],
            name=op.f("fk_insurance_policies_enterprise_id_enterprises"),
        ),
        sa.ForeignKeyConstraint(
            ["insurer_id"], ["insurers.id"], name=op.f("fk_insurance_policies_insurer_id_insurers")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_insurance_policies")),
        sa.UniqueConstraint("policy_no", name=op.f("uq_insurance_policies_policy_no")),
    )
    with op.batch_alter_table("insurance_policies", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_insurance_policies_enterprise_id"), ["enterprise_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_insurance_policies_insurer_id"), ["insurer_id"], unique=False)

    op.create_table(
        "risk_scores",
        sa.Column("enterprise_id", sa.String(length=64), nullable=False),
        sa.Column("day", sa.String(length=10), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("level", sa.String(length=8), nullable=False),
        sa.Column("coefficient", sa.Float(), nullable=False),
        sa.Column("terms", sa.JSON(), nullable=False),
        sa.Column("computed_ms", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["enterprise_id"], ["enterprises.id"], name=op.f("fk_risk_scores_enterprise_id_enterprises")
        ),
        sa.PrimaryKeyConstraint("enterprise_id", "day", name=op.f("pk_risk_scores")),
    )
    op.create_table(
        "service_records",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("enterprise_id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("date", sa.String(length=10), nullable=False),
        sa.Column("provider", sa.String(length=128), nullable=False),
        sa.Column("insurer_id", sa.String(length=64), nullable=True),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["enterprise_id"], ["enterprises.id"], name=op.f("fk_service_records_enterprise_id_enterprises")
        ),
        sa.ForeignKeyConstraint(
            ["insurer_id"], ["insurers.id"], name=op.f("fk_service_records_insurer_id_insurers")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_service_records")),
    )
    with op.batch_alter_table("service_records", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_service_records_enterprise_id"), ["enterprise_id"], unique=False)

    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("display_name", sa.String(length=64), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("password_hash", sa.String(length=256), nullable=False),
        sa.Column("enterprise_id", sa.String(length=64), nullable=True),
        sa.Column("insurer_id", sa.String(length=64), nullable=True),
        sa.Column("node", sa.String(length=64), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["enterprise_id"], ["enterprises.id"], name=op.f("fk_users_enterprise_id_enterprises")
        ),
        sa.ForeignKeyConstraint(["insurer_id"], ["insurers.id"], name=op.f("fk_users_insurer_id_insurers")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("username", name=op.f("uq_users_username")),
    )
    op.create_table(
        "auth_sessions",
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
        sa.Column("expires_ms", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_auth_sessions_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("token_hash", name=op.f("pk_auth_sessions")),
    )
    with op.batch_alter_table("auth_sessions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_auth_sessions_user_id"), ["user_id"], unique=False)

    op.create_table(
        "hazard_log",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("hazard_id", sa.Integer(), nullable=False),
        sa.Column("ts_ms", sa.BigInteger(), nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("from_status", sa.String(length=16), nullable=True),
        sa.Column("to_status", sa.String(length=16), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["hazard_id"], ["hazards.id"], name=op.f("fk_hazard_log_hazard_id_hazards")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_hazard_log")),
    )
    with op.batch_alter_table("hazard_log", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_hazard_log_hazard_id"), ["hazard_id"], unique=False)

    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("status", sa.String(length=16), server_default="open", nullable=False))
        batch_op.add_column(sa.Column("handled_by", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("handled_ms", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("dismiss_reason", sa.String(length=256), nullable=True))
        batch_op.add_column(sa.Column("hazard_id", sa.Integer(), nullable=True))
        batch_op.create_index("ix_alerts_enterprise_started_ms", ["enterprise", "started_ms"], unique=False)

    with op.batch_alter_table("nodes", schema=None) as batch_op:
        batch_op.add_column(sa.Column("name", sa.String(length=128), server_default="", nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("nodes", schema=None) as batch_op:
        batch_op.drop_column("name")

    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.drop_index("ix_alerts_enterprise_started_ms")
        batch_op.drop_column("hazard_id")
        batch_op.drop_column("dismiss_reason")
        batch_op.drop_column("handled_ms")
        batch_op.drop_column("handled_by")
        batch_op.drop_column("status")

    with op.batch_alter_table("hazard_log", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_hazard_log_hazard_id"))

    op.drop_table("hazard_log")
    with op.batch_alter_table("auth_sessions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_auth_sessions_user_id"))

    op.drop_table("auth_sessions")
    op.drop_table("users")
    with op.batch_alter_table("service_records", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_service_records_enterprise_id"))

    op.drop_table("service_records")
    op.drop_table("risk_scores")
    with op.batch_alter_table("insurance_policies", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_insurance_policies_insurer_id"))
        batch_op.drop_index(batch_op.f("ix_insurance_policies_enterprise_id"))

    op.drop_table("insurance_policies")
    with op.batch_alter_table("hazards", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_hazards_status"))
        batch_op.drop_index(batch_op.f("ix_hazards_enterprise_id"))
        batch_op.drop_index(batch_op.f("ix_hazards_alert_id"))

    op.drop_table("hazards")
    with op.batch_alter_table("cameras", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_cameras_enterprise_id"))

    op.drop_table("cameras")
    op.drop_table("enterprises")
    op.drop_table("parks")
    op.drop_table("towns")
    op.drop_table("insurers")
    with op.batch_alter_table("evidence_files", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_evidence_files_stored_ms"))

    op.drop_table("evidence_files")
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_audit_log_ts_ms"))

    op.drop_table("audit_log")
