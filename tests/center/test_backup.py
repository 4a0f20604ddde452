"""``parkguard-center backup`` / ``restore`` as real commands, on SQLite and PostgreSQL: a restore
into an empty database and evidence folder gives the same API answers, byte for byte; a truncated
or damaged backup, a newer schema's backup, a target that is not empty are refused with one line
and leave nothing behind; an older schema's backup is restored, then migrated."""

from __future__ import annotations

import hashlib
import json
import secrets
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import inspect
from sqlalchemy.engine import make_url

from center.app import create_app
from center.config import load_config
from center.seed import demo_password, seed
from center.store import db
from tests.centerkit import bearer

BIN = Path(sys.executable).parent / "parkguard-center"
PHOTO = b"\xff\xd8\xff\xe0backup-photo" + secrets.token_bytes(4000)
# what the console and the reports read: every list the API has, the park's figures, the audit
ANSWERS = [
    "/api/enterprises?limit=200",
    "/api/alerts?limit=200",
    "/api/alerts/export.csv",
    "/api/alerts/precision",
    "/api/hazards?limit=200",
    "/api/hazards/export.csv",
    "/api/cameras?limit=200",
    "/api/nodes",
    "/api/towns",
    "/api/parks",
    "/api/insurers",
    "/api/policies?limit=200",
    "/api/risk",
    "/api/overview",
    "/api/portfolio",
    "/api/service-requests?limit=200",
    "/api/users?limit=200",
    "/api/quarantine",
    "/api/notify/notifications?limit=200",
    "/api/audit?limit=200",
]


AS_OF = {"as_of", "since"}  # the time an answer was computed at, and its window's start


@dataclass
class Site:
    config: Path
    url: str
    evidence: Path


def write_config(folder: Path, url: str) -> Site:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "center.yaml"
    path.write_text(
        f'site: yijia\ndatabase: {{url: "{url}"}}\nevidence_dir: evidence\n'
        f"mqtt: {{client_id: bk-{folder.name}}}\n",
        encoding="utf-8",
    )
    return Site(path, url, folder / "evidence")


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BIN), *args], capture_output=True, text=True, timeout=300)


def answers(site: Site, token: str, sha: str) -> dict[str, Any]:
    app = create_app(load_config(site.config), start_ingest=False)
    out: dict[str, Any] = {}
    with TestClient(app) as c:
        for path in ANSWERS:
            resp = c.get(path, headers=bearer(token))
            assert resp.status_code == 200, (path, resp.text)
            out[path] = (
                timeless(resp.content)
                if resp.headers["content-type"].startswith("application/json")
                else resp.content
            )
        out["evidence"] = c.get(f"/api/evidence/{sha}", headers=bearer(token)).content  # audited: last
        out["ready"] = c.get("/api/ready").json()
    return out


def timeless(body: bytes) -> Any:
    """A JSON answer without the time it was computed at: everything else must match."""

    def strip(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: strip(v) for k, v in value.items() if k not in AS_OF}
        if isinstance(value, list):
            return [strip(v) for v in value]
        return value

    return strip(json.loads(body))


def populate(site: Site) -> tuple[str, str]:
    """The demo park, a photo uploaded; (an admin's token, the photo's SHA-256)."""
    config = load_config(site.config)
    app = create_app(config, start_ingest=False)
    with TestClient(app) as c:
        with app.state.session_factory.begin() as s:
            seed(s, config)
        resp = c.post("/api/auth/login", json={"username": "admin", "password": demo_password("admin")})
        token = resp.json()["token"]
        c.cookies.clear()
        resp = c.post("/api/evidence", content=PHOTO, headers={**bearer(token), "content-type": "image/jpeg"})
        assert resp.status_code == 201, resp.text
        return token, resp.json()["sha256"]


def nothing_restored(site: Site) -> None:
    assert not site.evidence.exists(), list(site.evidence.iterdir())
    assert not [p for p in site.evidence.parent.iterdir() if "restoring" in p.name]
    if site.url.startswith("sqlite"):
        path = Path(make_url(site.url).database or "")
        assert not path.exists() or path.stat().st_size == 0
    else:
        engine = db.make_engine(site.url)
        try:
            with engine.connect() as conn:
                assert inspect(conn).get_table_names() == []
        finally:
            engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def sites(request: pytest.FixtureRequest, tmp_workdir: Path) -> Iterator[tuple[Site, Site, Site]]:
    """(source, target, spare target), each its own config, database and evidence folder."""
    if request.param == "sqlite":
        made = [write_config(tmp_workdir / n, "sqlite:///var/center.db") for n in ("src", "dst", "spare")]
        yield made[0], made[1], made[2]
        return
    base = make_url(request.getfixturevalue("pg_url"))
    names = [f"parkguard_bk_{secrets.token_hex(4)}_{n}" for n in ("src", "dst", "spare")]
    admin = dict(host=base.host, port=base.port, user=base.username, dbname="postgres", autocommit=True)
    with psycopg.connect(**admin) as conn:  # type: ignore[arg-type]
        for name in names:
            conn.execute(f'CREATE DATABASE "{name}"')
    try:
        urls = [base.set(database=n).render_as_string(hide_password=False) for n in names]
        yield tuple(
            write_config(tmp_workdir / n, u) for n, u in zip(("src", "dst", "spare"), urls, strict=True)
        )  # type: ignore[misc]
    finally:
        with psycopg.connect(**admin) as conn:  # type: ignore[arg-type]
            for name in names:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def rewrite_manifest(folder: Path, **changes: Any) -> None:
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    manifest.update(changes)
    for name, entry in manifest["files"].items():
        data = (folder / name).read_bytes()
        entry.update(size=len(data), sha256=hashlib.sha256(data).hexdigest())
    (folder / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")


@pytest.mark.slow  # seven CLI round trips: about 13 s even on SQLite
def test_restore_gives_the_same_answers(sites: tuple[Site, Site, Site], tmp_workdir: Path) -> None:
    src, dst, spare = sites
    token, sha = populate(src)
    out = tmp_workdir / "backup-1"
    made = cli("backup", "--config", str(src.config), "--out", str(out))
    assert made.returncode == 0, made.stderr
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["schema_revision"] == db.head_revision() and manifest["evidence"]["files"] == 1
    assert manifest["rows"]["alerts"] > 10 and manifest["rows"]["enterprises"] > 3
    for name, entry in manifest["files"].items():
        assert hashlib.sha256((out / name).read_bytes()).hexdigest() == entry["sha256"]
    assert not out.with_name(out.name + ".partial").exists()
    assert out.stat().st_mode & 0o777 == 0o700  # password hashes and evidence: the owner's only
    # the answers of the source as it was backed up (reads are audited: the same reads on both sides)
    before = answers(src, token, sha)
    assert before["evidence"] == PHOTO

    restored = cli("restore", "--config", str(dst.config), "--backup", str(out))
    assert restored.returncode == 0, restored.stderr
    assert "restored" in restored.stdout
    after = answers(dst, token, sha)  # the login session was restored too: the same token works
    assert after.keys() == before.keys()
    differ = [key for key in before if after[key] != before[key]]
    assert differ == [], differ

    # the target is no longer empty: a second restore is refused and changes nothing
    again = cli("restore", "--config", str(dst.config), "--backup", str(out))
    assert again.returncode == 1 and "not empty" in again.stderr, again.stderr
    assert len(again.stderr.strip().splitlines()) <= 2 and "Traceback" not in again.stderr

    # truncated: refused before anything is written
    cut = tmp_workdir / "backup-cut"
    shutil.copytree(out, cut)
    dbfile = cut / ("database.sqlite" if src.url.startswith("sqlite") else "database.pgdump")
    with dbfile.open("r+b") as f:
        f.truncate(dbfile.stat().st_size // 2)
    bad = cli("restore", "--config", str(spare.config), "--backup", str(cut))
    assert bad.returncode == 1 and "truncated or damaged" in bad.stderr, bad.stderr
    nothing_restored(spare)

    # damage the checksums cannot see (the manifest rewritten to match): the engine refuses the
    # file, and nothing is half-restored (SQLite: no file renamed into place; PostgreSQL: one transaction)
    rewrite_manifest(cut)
    bad = cli("restore", "--config", str(spare.config), "--backup", str(cut))
    assert bad.returncode == 1 and "Traceback" not in bad.stderr, bad.stderr
    nothing_restored(spare)

    # no manifest at all (a backup still being written, or another folder)
    (cut / "manifest.json").unlink()
    bad = cli("restore", "--config", str(spare.config), "--backup", str(cut))
    assert bad.returncode == 1 and "not a backup" in bad.stderr
    nothing_restored(spare)

    # a newer center's backup: a schema revision this code does not know
    newer = tmp_workdir / "backup-newer"
    shutil.copytree(out, newer)
    if src.url.startswith("sqlite"):
        with sqlite3.connect(newer / "database.sqlite") as conn:
            conn.execute("UPDATE alembic_version SET version_num = '0099_future'")
        conn.close()
    rewrite_manifest(newer, schema_revision="0099_future")
    bad = cli("restore", "--config", str(spare.config), "--backup", str(newer))
    assert bad.returncode == 1 and "does not know" in bad.stderr and "newer center" in bad.stderr, bad.stderr
    nothing_restored(spare)

    # into another engine: refused
    if not src.url.startswith("sqlite"):
        other = write_config(tmp_workdir / "other", "sqlite:///var/o.db")
        bad = cli("restore", "--config", str(other.config), "--backup", str(out))
        assert bad.returncode == 1 and "same engine" in bad.stderr, bad.stderr
        nothing_restored(other)


def test_backup_of_an_older_schema_is_migrated_on_restore(tmp_workdir: Path) -> None:
    src = write_config(tmp_workdir / "old", "sqlite:///var/center.db")
    dst = write_config(tmp_workdir / "new", "sqlite:///var/center.db")
    config = load_config(src.config)
    engine = db.make_engine(config.database.url)
    db.upgrade(engine, "0008")  # a center of two releases ago
    engine.dispose()
    out = tmp_workdir / "backup-old"
    made = cli("backup", "--config", str(src.config), "--out", str(out))
    assert made.returncode == 0, made.stderr
    assert json.loads((out / "manifest.json").read_text(encoding="utf-8"))["schema_revision"] == "0008"
    done = cli("restore", "--config", str(dst.config), "--backup", str(out))
    assert done.returncode == 0, done.stderr
    assert f"migrating the schema 0008 → {db.head_revision()}" in done.stderr
    engine = db.make_engine(load_config(dst.config).database.url)
    try:
        assert db.readiness(engine) == (True, "ok", db.head_revision())
    finally:
        engine.dispose()


def test_backup_refuses_a_used_folder_and_an_empty_database(tmp_workdir: Path) -> None:
    src = write_config(tmp_workdir / "s", "sqlite:///var/center.db")
    used = tmp_workdir / "used"
    used.mkdir()
    (used / "x").write_text("x", encoding="utf-8")
    bad = cli("backup", "--config", str(src.config), "--out", str(used))
    assert bad.returncode == 1 and "not an empty folder" in bad.stderr
    bad = cli("backup", "--config", str(src.config), "--out", str(tmp_workdir / "b"))
    assert bad.returncode == 1 and "no SQLite database" in bad.stderr
    assert not (tmp_workdir / "b").exists() and not (tmp_workdir / "b.partial").exists()
