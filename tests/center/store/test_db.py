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
