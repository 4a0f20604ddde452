"""Evidence ownership: whom each stored file belongs to (who may cite it and read it).

Files stored before this revision get their owners from what is known about their upload:
an enterprise officer's upload is its enterprise's; an edge node's upload belongs to the
enterprises of the cameras registered on that node whose alerts cite it (the camera registry,
not the enterprise an alert claimed); a staff upload to the enterprises of the hazards that cite
it as 'before' evidence (set by the park's staff). A hazard's 'after' evidence grants nothing:
that is the hole this closes.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "evidence_owners",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("enterprise_id", sa.String(length=64), nullable=True),
        sa.Column("camera_id", sa.String(length=64), nullable=True),
        sa.Column("node", sa.String(length=64), nullable=True),
        sa.Column("uploaded_by", sa.String(length=64), nullable=False),
        sa.Column("via", sa.String(length=16), nullable=False),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["sha256"],
            ["evidence_files.sha256"],
            name=op.f("fk_evidence_owners_sha256_evidence_files"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_evidence_owners")),
    )
    with op.batch_alter_table("evidence_owners", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_evidence_owners_sha256"), ["sha256"], unique=False)
    _backfill(op.get_bind())


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


def _backfill(conn: sa.Connection) -> None:
    files = conn.execute(sa.text("SELECT sha256, uploaded_by FROM evidence_files")).all()
    if not files:
        return
    users = {
        u: (role, ent, node)
        for u, role, ent, node in conn.execute(
            sa.text("SELECT username, role, enterprise_id, node FROM users")
        )
    }
    cameras = {
        c: (node, ent)
        for c, node, ent in conn.execute(sa.text("SELECT id, node, enterprise_id FROM cameras"))
    }
    cited: dict[str, set[tuple[str, str, str]]] = {}  # sha → (node, camera, enterprise) of alerts citing it
    for node, camera, evidence in conn.execute(sa.text("SELECT node, camera, evidence FROM alerts")):
        registered = cameras.get(camera)
        if registered is None or registered[0] != node:
            continue
        for item in _json(evidence) or []:
            if isinstance(item, dict) and isinstance(item.get("sha256"), str):
                cited.setdefault(item["sha256"], set()).add((node, camera, registered[1]))
    before: dict[str, set[str]] = {}
    for ent, shas in conn.execute(sa.text("SELECT enterprise_id, before_evidence FROM hazards")):
        for sha in _json(shas) or []:
            before.setdefault(str(sha), set()).add(ent)
    now = int(time.time() * 1000)
    rows: list[dict[str, Any]] = []
    for sha, uploader in files:
        role, ent, node = users.get(uploader, (None, None, None))
        base = {"sha256": sha, "uploaded_by": uploader, "via": "migration", "created_ms": now}
        if role == "enterprise":
            rows.append({**base, "enterprise_id": ent, "camera_id": None, "node": None})
        elif role == "edge":
            for n, camera, e in sorted(cited.get(sha, set())):
                if n == node:
                    rows.append({**base, "enterprise_id": e, "camera_id": camera, "node": n})
        else:
            rows.append({**base, "enterprise_id": None, "camera_id": None, "node": None})
            for e in sorted(before.get(sha, set())):
                rows.append({**base, "enterprise_id": e, "camera_id": None, "node": None})
    if rows:
        owners = sa.table(
            "evidence_owners",
            *(sa.column(c) for c in ("sha256", "enterprise_id", "camera_id", "node", "uploaded_by", "via")),
            sa.column("created_ms"),
        )
        conn.execute(owners.insert(), rows)


def downgrade() -> None:
    with op.batch_alter_table("evidence_owners", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_evidence_owners_sha256"))
    op.drop_table("evidence_owners")
