"""Schema migrations on SQLite and PostgreSQL: upgrade at startup, models in step with them."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import inspect, text

from center.store import db


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_workdir: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_workdir / 'sub' / 'dir' / 'center.db'}"  # the folder is created
    return request.getfixturevalue("pg_url")


def test_upgrade_is_idempotent_and_matches_the_models(db_url: str) -> None:
    engine = db.make_engine(db_url)
    try:
        db.upgrade(engine)
        db.upgrade(engine)  # a second start changes nothing
        assert {"alerts", "quarantine", "nodes", "alembic_version"} <= set(inspect(engine).get_table_names())
        indexes = {ix["name"] for ix in inspect(engine).get_indexes("alerts")}
        assert {"ix_alerts_camera_started_ms", "ix_alerts_started_ms"} <= indexes
        cfg = db.alembic_config()
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.check(cfg)  # raises when models.py and the migrations disagree
            command.downgrade(cfg, "base")
        assert "alerts" not in inspect(engine).get_table_names()
        db.upgrade(engine)
        assert "alerts" in inspect(engine).get_table_names()
        assert db.check(engine) == "ok"
    finally:
        engine.dispose()


def test_sqlite_uses_wal_and_a_busy_timeout(tmp_workdir: Path) -> None:
    engine = db.make_engine(f"sqlite:///{tmp_workdir / 'center.db'}")
    with engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA busy_timeout")).scalar() == db.SQLITE_BUSY_TIMEOUT_MS
    engine.dispose()


def test_migrations_dir_is_inside_the_package() -> None:
    assert db.MIGRATIONS_DIR.parent == Path(db.__file__).resolve().parent
    assert (db.MIGRATIONS_DIR / "versions" / "0001_initial.py").is_file()
    assert db.describe("postgresql+psycopg://u:secret@h/d") == "postgresql+psycopg://u:***@h/d"


def test_migration_0005_gives_stored_evidence_its_owners(db_url: str) -> None:
    """Files stored before evidence ownership get owners from what is known of their upload, never
    from an enterprise's own 'after' evidence or an alert's claim (issue 12, item 1)."""
    from sqlalchemy import insert
    from sqlalchemy.orm import Session

    from center.store.models import Alert, Camera, Enterprise, EvidenceFile, Hazard, User

    engine = db.make_engine(db_url)
    try:
        db.upgrade(engine)
        cfg = db.alembic_config()
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.downgrade(cfg, "base")
        db.upgrade(engine, "0004")  # the revision before evidence owners
        sha = {name: name[0] * 64 for name in ("officer", "edge", "xnode", "staff")}
        with Session(engine) as s, s.begin():
            for eid, code in (("e1", "91440605MA4UXY127E"), ("e2", "91440605MA51HX3K2T")):
                # INSERTs of the columns given, as for the alerts below (later columns, e.g. 0010's)
                s.execute(insert(Enterprise).values(id=eid, name=eid, credit_code=code, industry="machinery",
                                                    contacts=[], created_ms=0, updated_ms=0))  # fmt: skip
            s.flush()
            users = [("off", "enterprise", {"enterprise_id": "e1"}), ("n1", "edge", {"node": "n1"})]
            for name, role, links in [*users, ("op", "operator", {})]:
                s.add(User(username=name, role=role, password_hash="x", active=True, created_ms=0, **links))
            for cam, ent, node in (("c1", "e1", "n1"), ("c2", "e2", "n1"), ("c3", "e2", "n2")):
                s.add(Camera(id=cam, enterprise_id=ent, node=node, created_ms=0))
            uploader = {"officer": "off", "edge": "n1", "xnode": "n1", "staff": "op"}
            for name, h in sha.items():
                s.add(
                    EvidenceFile(
                        sha256=h, content_type="image/jpeg", size=1, stored_ms=0, uploaded_by=uploader[name]
                    )
                )
            for i, (node, cam, cited) in enumerate((("n1", "c1", "edge"), ("n2", "c3", "xnode"))):
                # an INSERT of the columns given (the model's later columns, e.g. 0008's, are not there yet)
                s.execute(
                    insert(Alert).values(
                        event_id=f"ev-{i}", site="s", node=node, camera=cam, enterprise="e2", rule_id="r",
                        rule_type="intrusion", severity="general", phase="new", seq=0, started_ms=0,
                        last_ms=0, evidence=[{"kind": "snapshot", "sha256": sha[cited]}], received_ms=0,
                        updated_ms=0,
                    )
                )  # fmt: skip
            for i, (ent, before, after) in enumerate(
                (("e2", [sha["staff"]], []), ("e1", [], [sha["staff"], sha["edge"]]))
            ):
                s.execute(  # the columns given: the later hazard columns are not there yet
                    insert(Hazard).values(
                        code=f"H{i}", enterprise_id=ent, title="t", description="", level="general",
                        source="inspection", status="review", deadline_ms=0, assignee="",
                        before_evidence=before, after_evidence=after, rectification="", review_note="",
                        created_by="op", created_ms=0, updated_ms=0,
                    )
                )  # fmt: skip
        db.upgrade(engine)
        with engine.connect() as conn:
            rows = conn.execute(
                text("SELECT sha256, enterprise_id, camera_id, via FROM evidence_owners")
            ).all()
        by_file = {
            name: sorted((e or "-", c or "-") for f, e, c, _via in rows if f == h) for name, h in sha.items()
        }
        assert by_file == {
            "officer": [("e1", "-")],  # the officer's enterprise
            "edge": [("e1", "c1")],  # the camera's enterprise in the registry, not the alert's claim (e2)
            "xnode": [],  # cited by another node's alert: nobody's
            "staff": [("-", "-"), ("e2", "-")],  # the hazard it is 'before' evidence of; not e1's 'after'
        }
        assert {via for *_rest, via in rows} == {"migration"}
    finally:
        engine.dispose()


def test_a_replica_older_than_the_schema_refuses_to_start(db_url: str, tmp_workdir: Path) -> None:
    """The database migrated by a newer release (a revision this code does not know): upgrade
    refuses with a line that says what to do, and ``serve`` exits 1 with it in the log and on
    stderr, before it takes a single message."""
    import subprocess
    import sys

    engine = db.make_engine(db_url)
    db.upgrade(engine)
    head = db.head_revision()
    try:
        with engine.begin() as conn:
            conn.execute(text("UPDATE alembic_version SET version_num = '0099_future'"))
        with pytest.raises(db.SchemaTooNew, match=r"revision 0099_future, newer than this center's code"):
            db.upgrade(engine)
        ok, _database, current = db.readiness(engine)
        assert (ok, current) == (False, "0099_future")

        cfg = tmp_workdir / "center.yaml"
        cfg.write_text(f'site: yijia\ndatabase: {{url: "{db_url}"}}\nhttp: {{port: 1}}\n', encoding="utf-8")
        serve = Path(sys.executable).parent / "parkguard-center"
        done = subprocess.run(
            [serve, "serve", "--config", cfg], capture_output=True, text=True, timeout=60, check=False
        )
        assert done.returncode == 1, done.stdout + done.stderr
        assert "refusing to start; upgrade this replica" in done.stderr
        assert "0099_future" in done.stderr and str(head) in done.stderr
        assert "Traceback" not in done.stderr
    finally:
        with engine.begin() as conn:
            conn.execute(text("UPDATE alembic_version SET version_num = :h"), {"h": head})
        engine.dispose()
