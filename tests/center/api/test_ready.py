"""``/api/ready``: 200 only while the database answers and its schema is this code's head; 503
while the database is unreachable or its migrations are not applied (a proxy routes around it)."""

from __future__ import annotations

import shutil
import time
import uuid
from pathlib import Path

import pytest
from alembic import command
from fastapi.testclient import TestClient
from sqlalchemy import text

from center.app import create_app
from center.config import CenterConfig
from center.store import db
from tests.support.ports import free_port
from tests.support.postgres import PrivatePostgres, postgres_available_binaries
from tests.support.tools import postgres_bindir


def _config(url: str) -> CenterConfig:
    return CenterConfig.model_validate(
        {"site": "yijia", "database": {"url": url}, "mqtt": {"client_id": f"t-{uuid.uuid4().hex[:8]}"}}
    )


def test_ready_follows_the_schema_and_the_database(tmp_workdir: Path, migrated_sqlite: Path) -> None:
    path = tmp_workdir / "center.db"
    shutil.copyfile(migrated_sqlite, path)
    app = create_app(_config(f"sqlite:///{path}"), start_ingest=False)
    head = db.head_revision()
    assert head is not None
    with TestClient(app) as c:
        resp = c.get("/api/ready")
        assert resp.status_code == 200, resp.text
        assert resp.json() == {
            "ready": True,
            "database": "ok",
            "schema_revision": head,
            "schema_needed": head,
            "detail": "",
        }

        # an older schema (a replica of newer code started before the migration ran): not ready
        cfg = db.alembic_config()
        with app.state.engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.downgrade(cfg, "-1")
        resp = c.get("/api/ready")
        body = resp.json()
        assert resp.status_code == 503 and body["ready"] is False, body
        assert body["database"] == "ok" and body["schema_revision"] != head
        assert "migrations not applied" in body["detail"] and head in body["detail"]
        assert c.get("/api/health").status_code == 200  # alive, only not ready

        db.upgrade(app.state.engine)
        assert c.get("/api/ready").status_code == 200

        # a newer schema (this replica is the older release, after a newer one migrated): not
        # ready, and said so
        with app.state.engine.begin() as conn:
            conn.execute(text("UPDATE alembic_version SET version_num = '0099_future'"))
        body = c.get("/api/ready").json()
        assert body["ready"] is False and "newer than this code's" in body["detail"], body
        with app.state.engine.begin() as conn:
            conn.execute(text("UPDATE alembic_version SET version_num = :v"), {"v": head})

        # the database file gone and unopenable (a directory in its place; root ignores modes)
        path.unlink()
        for extra in ("-wal", "-shm"):
            path.with_name(path.name + extra).unlink(missing_ok=True)
        path.mkdir()
        app.state.engine.dispose()
        resp = c.get("/api/ready")
        body = resp.json()
        assert resp.status_code == 503 and body["database"].startswith("error: OperationalError"), body
        assert body["detail"].startswith("database unreachable") and body["schema_revision"] is None


def test_not_ready_when_postgresql_does_not_answer() -> None:
    """A center whose PostgreSQL URL names a port where nothing listens (its lifespan, which would
    migrate, is not run: the route itself must answer 503 quickly, not hang or 500)."""
    url = f"postgresql+psycopg://parkguard@127.0.0.1:{free_port()}/parkguard"
    app = create_app(_config(url), start_ingest=False)
    try:
        c = TestClient(app)
        resp = c.get("/api/ready")
        body = resp.json()
        assert resp.status_code == 503, body
        assert body["ready"] is False and body["database"].startswith("error: OperationalError"), body
        assert "database unreachable" in body["detail"] and body["schema_needed"] == db.head_revision()
    finally:
        app.state.engine.dispose()


@pytest.mark.postgres
def test_ready_turns_false_while_postgresql_is_down_and_back_after() -> None:
    """A private PostgreSQL server of the test's own, stopped and started under a running center:
    /api/ready (and /api/health) answer 503 while it is down, quickly, and 200 once it is back
    (the pool's dead connections are replaced, no restart of the center)."""
    bindir = postgres_bindir()
    if bindir is None or not postgres_available_binaries():
        pytest.skip("no PostgreSQL server binaries to start a private instance")
    server = PrivatePostgres(bindir).start()
    try:
        app = create_app(_config(server.url), start_ingest=False)
        with TestClient(app) as c:  # the lifespan migrates
            assert c.get("/api/ready").status_code == 200
            assert c.get("/api/health").status_code == 200
            server.pause()
            started = time.monotonic()
            resp = c.get("/api/ready")
            took = time.monotonic() - started
            body = resp.json()
            assert resp.status_code == 503 and body["ready"] is False, body
            assert body["detail"].startswith("database unreachable: error: OperationalError"), body
            assert took < db.PG_CONNECT_TIMEOUT_S + 2, took  # refused at once, or the connect timeout
            health = c.get("/api/health")
            assert health.status_code == 503 and health.json()["status"] == "degraded"
            server.resume()
            resp = c.get("/api/ready")
            assert resp.status_code == 200, resp.text
            assert resp.json()["schema_revision"] == db.head_revision()
            assert c.get("/api/health").json()["database"] == "ok"
    finally:
        server.stop()
