"""The 安责险 service loop: 片区 (grid cells), service organisations and staff, service plans and
their tasks, follow-ups, complaints, claims; enterprises get their 片区, hazards the service visit
that found them.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-04
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "service_orgs",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("contact", sa.String(length=64), nullable=False),
        sa.Column("phone", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_service_orgs")),
    )
    op.create_table(
        "grid_cells",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("town_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("keeper", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(["town_id"], ["towns.id"], name=op.f("fk_grid_cells_town_id_towns")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_grid_cells")),
    )
    with op.batch_alter_table("grid_cells", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_grid_cells_town_id"), ["town_id"], unique=False)

    op.create_table(
        "service_staff",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("org_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("phone", sa.String(length=32), nullable=False),
        sa.Column("qualification", sa.String(length=128), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(
            ["org_id"], ["service_orgs.id"], name=op.f("fk_service_staff_org_id_service_orgs")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_service_staff")),
        sa.UniqueConstraint("username", name=op.f("uq_service_staff_username")),
    )
    with op.batch_alter_table("service_staff", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_service_staff_org_id"), ["org_id"], unique=False)

    op.create_table(
        "claims",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("claim_no", sa.String(length=64), nullable=False),
        sa.Column("policy_id", sa.Integer(), nullable=False),
        sa.Column("enterprise_id", sa.String(length=64), nullable=False),
        sa.Column("insurer_id", sa.String(length=64), nullable=False),
        sa.Column("accident_date", sa.String(length=10), nullable=False),
        sa.Column("accident", sa.Text(), nullable=False),
        sa.Column("alert_id", sa.String(length=36), nullable=True),
        sa.Column("injured", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("claimed_cny", sa.Float(), nullable=False),
        sa.Column("assessed_cny", sa.Float(), nullable=True),
        sa.Column("paid_cny", sa.Float(), nullable=True),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("reported_ms", sa.BigInteger(), nullable=False),
        sa.Column("surveyed_ms", sa.BigInteger(), nullable=True),
        sa.Column("assessed_ms", sa.BigInteger(), nullable=True),
        sa.Column("closed_ms", sa.BigInteger(), nullable=True),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("updated_ms", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["enterprise_id"], ["enterprises.id"], name=op.f("fk_claims_enterprise_id_enterprises")
        ),
        sa.ForeignKeyConstraint(["insurer_id"], ["insurers.id"], name=op.f("fk_claims_insurer_id_insurers")),
        sa.ForeignKeyConstraint(
            ["policy_id"], ["insurance_policies.id"], name=op.f("fk_claims_policy_id_insurance_policies")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_claims")),
        sa.UniqueConstraint("claim_no", name=op.f("uq_claims_claim_no")),
    )
    with op.batch_alter_table("claims", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_claims_enterprise_id"), ["enterprise_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_claims_insurer_id"), ["insurer_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_claims_policy_id"), ["policy_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_claims_status"), ["status"], unique=False)

    op.create_table(
        "service_plans",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("policy_id", sa.Integer(), nullable=False),
        sa.Column("enterprise_id", sa.String(length=64), nullable=False),
        sa.Column("insurer_id", sa.String(length=64), nullable=False),
        sa.Column("org_id", sa.String(length=64), nullable=False),
        sa.Column("goals", sa.Text(), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["enterprise_id"], ["enterprises.id"], name=op.f("fk_service_plans_enterprise_id_enterprises")
        ),
        sa.ForeignKeyConstraint(
            ["insurer_id"], ["insurers.id"], name=op.f("fk_service_plans_insurer_id_insurers")
        ),
        sa.ForeignKeyConstraint(
            ["org_id"], ["service_orgs.id"], name=op.f("fk_service_plans_org_id_service_orgs")
        ),
        sa.ForeignKeyConstraint(
            ["policy_id"],
            ["insurance_policies.id"],
            name=op.f("fk_service_plans_policy_id_insurance_policies"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_service_plans")),
        sa.UniqueConstraint("policy_id", name=op.f("uq_service_plans_policy_id")),
    )
    with op.batch_alter_table("service_plans", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_service_plans_enterprise_id"), ["enterprise_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_service_plans_insurer_id"), ["insurer_id"], unique=False)

    op.create_table(
        "service_plan_items",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("plan_id", sa.Integer(), nullable=False),
        sa.Column("item", sa.String(length=32), nullable=False),
        sa.Column("times", sa.Integer(), nullable=False),
        sa.Column("staff_id", sa.Integer(), nullable=True),
        sa.Column("measures", sa.Text(), nullable=False),
        sa.Column("goal", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["plan_id"], ["service_plans.id"], name=op.f("fk_service_plan_items_plan_id_service_plans")
        ),
        sa.ForeignKeyConstraint(
            ["staff_id"], ["service_staff.id"], name=op.f("fk_service_plan_items_staff_id_service_staff")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_service_plan_items")),
    )
    with op.batch_alter_table("service_plan_items", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_service_plan_items_plan_id"), ["plan_id"], unique=False)

    op.create_table(
        "service_tasks",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("plan_id", sa.Integer(), nullable=False),
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.Column("enterprise_id", sa.String(length=64), nullable=False),
        sa.Column("insurer_id", sa.String(length=64), nullable=False),
        sa.Column("staff_id", sa.Integer(), nullable=True),
        sa.Column("item", sa.String(length=32), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("due_date", sa.String(length=10), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("booked_date", sa.String(length=10), nullable=True),
        sa.Column("booking_note", sa.Text(), nullable=False),
        sa.Column("done_ms", sa.BigInteger(), nullable=True),
        sa.Column("done_date", sa.String(length=10), nullable=True),
        sa.Column("record", sa.Text(), nullable=False),
        sa.Column("photos", sa.JSON(), nullable=False),
        sa.Column("confirmed_by", sa.String(length=64), nullable=True),
        sa.Column("confirmed_ms", sa.BigInteger(), nullable=True),
        sa.Column("archive_due", sa.String(length=10), nullable=True),
        sa.Column("archived_by", sa.String(length=64), nullable=True),
        sa.Column("archived_ms", sa.BigInteger(), nullable=True),
        sa.Column("archived_date", sa.String(length=10), nullable=True),
        sa.Column("updated_ms", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["enterprise_id"], ["enterprises.id"], name=op.f("fk_service_tasks_enterprise_id_enterprises")
        ),
        sa.ForeignKeyConstraint(
            ["insurer_id"], ["insurers.id"], name=op.f("fk_service_tasks_insurer_id_insurers")
        ),
        sa.ForeignKeyConstraint(
            ["item_id"], ["service_plan_items.id"], name=op.f("fk_service_tasks_item_id_service_plan_items")
        ),
        sa.ForeignKeyConstraint(
            ["plan_id"], ["service_plans.id"], name=op.f("fk_service_tasks_plan_id_service_plans")
        ),
        sa.ForeignKeyConstraint(
            ["staff_id"], ["service_staff.id"], name=op.f("fk_service_tasks_staff_id_service_staff")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_service_tasks")),
    )
    with op.batch_alter_table("service_tasks", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_service_tasks_due_date"), ["due_date"], unique=False)
        batch_op.create_index(batch_op.f("ix_service_tasks_enterprise_id"), ["enterprise_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_service_tasks_insurer_id"), ["insurer_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_service_tasks_plan_id"), ["plan_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_service_tasks_staff_id"), ["staff_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_service_tasks_status"), ["status"], unique=False)

    op.create_table(
        "complaints",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("enterprise_id", sa.String(length=64), nullable=False),
        sa.Column("insurer_id", sa.String(length=64), nullable=False),
        sa.Column("task_id", sa.Integer(), nullable=True),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("filed_date", sa.String(length=10), nullable=False),
        sa.Column("complex", sa.Boolean(), nullable=False),
        sa.Column("complex_reason", sa.Text(), nullable=False),
        sa.Column("deadline", sa.String(length=10), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("answer", sa.Text(), nullable=False),
        sa.Column("answered_by", sa.String(length=64), nullable=True),
        sa.Column("answered_ms", sa.BigInteger(), nullable=True),
        sa.Column("answered_date", sa.String(length=10), nullable=True),
        sa.Column("closed_by", sa.String(length=64), nullable=True),
        sa.Column("closed_ms", sa.BigInteger(), nullable=True),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["enterprise_id"], ["enterprises.id"], name=op.f("fk_complaints_enterprise_id_enterprises")
        ),
        sa.ForeignKeyConstraint(
            ["insurer_id"], ["insurers.id"], name=op.f("fk_complaints_insurer_id_insurers")
        ),
        sa.ForeignKeyConstraint(
            ["task_id"], ["service_tasks.id"], name=op.f("fk_complaints_task_id_service_tasks")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_complaints")),
    )
    with op.batch_alter_table("complaints", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_complaints_enterprise_id"), ["enterprise_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_complaints_insurer_id"), ["insurer_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_complaints_status"), ["status"], unique=False)

    op.create_table(
        "follow_ups",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("task_id", sa.Integer(), nullable=False),
        sa.Column("enterprise_id", sa.String(length=64), nullable=False),
        sa.Column("satisfaction", sa.Integer(), nullable=False),
        sa.Column("opinion", sa.Text(), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("created_role", sa.String(length=16), nullable=False),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["enterprise_id"], ["enterprises.id"], name=op.f("fk_follow_ups_enterprise_id_enterprises")
        ),
        sa.ForeignKeyConstraint(
            ["task_id"], ["service_tasks.id"], name=op.f("fk_follow_ups_task_id_service_tasks")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_follow_ups")),
        sa.UniqueConstraint("task_id", name=op.f("uq_follow_ups_task_id")),
    )
    with op.batch_alter_table("follow_ups", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_follow_ups_enterprise_id"), ["enterprise_id"], unique=False)

    _add_reference("enterprises", "grid_id", sa.String(length=64), "grid_cells")
    _add_reference("hazards", "service_task_id", sa.Integer(), "service_tasks")
    op.create_index(op.f("ix_hazards_service_task_id"), "hazards", ["service_task_id"], unique=False)


def _add_reference(table: str, column: str, type_: sa.types.TypeEngine[Any], target: str) -> None:
    """A nullable column referring to ``target.id``. On SQLite an ALTER TABLE ADD COLUMN with the
    reference inline: a batch rebuild of a table that other tables' rows refer to (enterprises,
    hazards) fails with foreign keys on, and a filled database must upgrade."""
    name = f"fk_{table}_{column}_{target}"
    if op.get_bind().dialect.name == "sqlite":
        kind = type_.compile(dialect=op.get_bind().dialect)
        op.execute(
            f"ALTER TABLE {table} ADD COLUMN {column} {kind} CONSTRAINT {name} REFERENCES {target} (id)"
        )
    else:
        op.add_column(table, sa.Column(column, type_, nullable=True))
        op.create_foreign_key(name, table, target, [column], ["id"])


def downgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"  # there the column's reference goes with it
    with op.batch_alter_table("hazards", schema=None) as batch_op:
        if not sqlite:
            batch_op.drop_constraint(
                batch_op.f("fk_hazards_service_task_id_service_tasks"), type_="foreignkey"
            )
        batch_op.drop_index(batch_op.f("ix_hazards_service_task_id"))
        batch_op.drop_column("service_task_id")

    with op.batch_alter_table("enterprises", schema=None) as batch_op:
        if not sqlite:
            batch_op.drop_constraint(batch_op.f("fk_enterprises_grid_id_grid_cells"), type_="foreignkey")
        batch_op.drop_column("grid_id")

    with op.batch_alter_table("follow_ups", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_follow_ups_enterprise_id"))

    op.drop_table("follow_ups")
    with op.batch_alter_table("complaints", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_complaints_status"))
        batch_op.drop_index(batch_op.f("ix_complaints_insurer_id"))
        batch_op.drop_index(batch_op.f("ix_complaints_enterprise_id"))

    op.drop_table("complaints")
    with op.batch_alter_table("service_tasks", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_service_tasks_status"))
        batch_op.drop_index(batch_op.f("ix_service_tasks_staff_id"))
        batch_op.drop_index(batch_op.f("ix_service_tasks_plan_id"))
        batch_op.drop_index(batch_op.f("ix_service_tasks_insurer_id"))
        batch_op.drop_index(batch_op.f("ix_service_tasks_enterprise_id"))
        batch_op.drop_index(batch_op.f("ix_service_tasks_due_date"))

    op.drop_table("service_tasks")
    with op.batch_alter_table("service_plan_items", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_service_plan_items_plan_id"))

    op.drop_table("service_plan_items")
    with op.batch_alter_table("service_plans", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_service_plans_insurer_id"))
        batch_op.drop_index(batch_op.f("ix_service_plans_enterprise_id"))

    op.drop_table("service_plans")
    with op.batch_alter_table("claims", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_claims_status"))
        batch_op.drop_index(batch_op.f("ix_claims_policy_id"))
        batch_op.drop_index(batch_op.f("ix_claims_insurer_id"))
        batch_op.drop_index(batch_op.f("ix_claims_enterprise_id"))

    op.drop_table("claims")
    with op.batch_alter_table("service_staff", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_service_staff_org_id"))

    op.drop_table("service_staff")
    with op.batch_alter_table("grid_cells", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_grid_cells_town_id"))

    op.drop_table("grid_cells")
    op.drop_table("service_orgs")
