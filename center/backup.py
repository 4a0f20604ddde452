"""``parkguard-center backup`` / ``restore``: the database and the evidence files, with a manifest.

A backup is a folder::

    manifest.json        what is inside: engine, schema revision, row counts, each file's size and SHA-256
    database.sqlite      SQLite: a consistent copy made with SQLite's online backup API (the center may run)
    database.pgdump      PostgreSQL: ``pg_dump --format=custom``, in the snapshot the manifest was read in
    evidence.tar         the evidence files (``<sha[:2]>/<sha>.<ext>``), uploads in progress left out

It is written as ``DIR.partial`` and renamed to ``DIR`` once complete, so a folder named like a
backup is a whole one. ``restore`` checks everything before it writes anything (manifest, sizes,
SHA-256, the schema revision against the migrations this code knows, an empty target), then
restores atomically (SQLite: a copy renamed into place; PostgreSQL: ``pg_restore
--single-transaction``; evidence: extracted beside its folder and renamed into place), and
finally migrates an older schema to this code's head. docs/operations.md says why pg_dump and
not a dump through SQLAlchemy.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import shutil
import sqlite3
import subprocess
import tarfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, func, inspect, select, text
from sqlalchemy.engine import URL, make_url

from center import __version__
from center.api.evidence.service import INCOMING
from center.config import CenterConfig
from center.store import db
from center.store.models import Base

log = logging.getLogger(__name__)

FORMAT = 1
MANIFEST = "manifest.json"
SQLITE_FILE = "database.sqlite"
PG_FILE = "database.pgdump"
EVIDENCE_FILE = "evidence.tar"
MANIFEST_MAX_BYTES = 1024 * 1024
CHUNK = 1024 * 1024
PG_TOOL_TIMEOUT_S = 6 * 3600

Progress = Callable[[str], None]


class BackupError(Exception):
    """A backup or restore refused or failed; the message is one line for the operator."""


@dataclass
class Outcome:
    folder: Path
    manifest: dict[str, Any]
    seconds: float


# --- helpers -------------------------------------------------------------------------------------


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(CHUNK):
            h.update(chunk)
    return h.hexdigest()


def _file_entry(path: Path) -> dict[str, Any]:
    return {"size": path.stat().st_size, "sha256": _sha256(path)}


def _engine_name(url: str) -> str:
    return make_url(url).get_backend_name()


def _sqlite_path(url: str) -> Path:
    name = make_url(url).database
    if not name or name == ":memory:":
        raise BackupError("an in-memory SQLite database has nothing to back up or restore into")
    return Path(name)


def _row_counts(conn: Connection) -> dict[str, int]:
    present = set(inspect(conn).get_table_names())
    return {
        t.name: int(conn.execute(select(func.count()).select_from(t)).scalar_one())
        for t in Base.metadata.sorted_tables
        if t.name in present
    }


def _revision(conn: Connection) -> str | None:
    if "alembic_version" not in inspect(conn).get_table_names():
        return None
    row = conn.execute(text("SELECT version_num FROM alembic_version")).first()
    return str(row[0]) if row else None


def _libpq(url: str) -> tuple[list[str], dict[str, str]]:
    """``--dbname`` for pg_dump/pg_restore (no password in it) and their environment (the
    password in PGPASSWORD, never on a command line; the caller's other PG* variables dropped)."""
    parsed: URL = make_url(url)
    dsn = parsed.set(drivername="postgresql", password=None).render_as_string(hide_password=False)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    if parsed.password:
        env["PGPASSWORD"] = str(parsed.password)
    return [f"--dbname={dsn}"], env


def _pg_tool(name: str) -> str:
    found = shutil.which(name)
    if found:
        return found
    for candidate in sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"), reverse=True):
        return str(candidate)
    raise BackupError(f"{name} is not installed (Debian: apt-get install postgresql-client)")


def _run_pg_tool(argv: list[str], env: dict[str, str]) -> None:
    try:
        result = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=PG_TOOL_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        raise BackupError(f"{Path(argv[0]).name} ran longer than {PG_TOOL_TIMEOUT_S} s") from None
    if result.returncode != 0:
        lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
        first = lines[0] if lines else f"exit {result.returncode}"
        raise BackupError(f"{Path(argv[0]).name} failed: {first}")


# --- backup --------------------------------------------------------------------------------------


def backup(config: CenterConfig, out: Path, progress: Progress | None = None) -> Outcome:
    """Back up the database and the evidence of ``config`` into the new folder ``out``."""
    say = progress or (lambda _m: None)
    started = time.monotonic()
    out = out.absolute()
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise BackupError(f"{out} exists and is not an empty folder: give a new folder")
    if not out.parent.is_dir():
        raise BackupError(f"no folder {out.parent} to write the backup in")
    work = out.with_name(out.name + ".partial")
    shutil.rmtree(work, ignore_errors=True)  # a backup that stopped midway
    work.mkdir(mode=0o700)  # password hashes, login sessions' hashes, evidence with faces: owner only
    try:
        url = config.database.url
        engine_name = _engine_name(url)
        say(f"database ({engine_name})")
        if engine_name == "sqlite":
            revision, rows = _backup_sqlite(_sqlite_path(url), work / SQLITE_FILE)
            db_file = SQLITE_FILE
        else:
            revision, rows = _backup_postgres(url, work / PG_FILE)
            db_file = PG_FILE
        if revision is None:
            raise BackupError(f"the database {db.describe(url)} has no schema yet: nothing to back up")
        say("evidence")
        n_files, n_bytes = _tar_evidence(config.evidence_dir, work / EVIDENCE_FILE)
        say("checksums")
        manifest = {
            "format": FORMAT,
            "created_ms": int(time.time() * 1000),
            "center_version": __version__,
            "site": config.site,
            "engine": engine_name,
            "schema_revision": revision,
            "rows": rows,
            "evidence": {"files": n_files, "bytes": n_bytes},
            "files": {name: _file_entry(work / name) for name in (db_file, EVIDENCE_FILE)},
        }
        text_ = json.dumps(manifest, indent=2, ensure_ascii=False) + "\n"
        (work / MANIFEST).write_text(text_, encoding="utf-8")
        with contextlib.suppress(FileNotFoundError):
            out.rmdir()  # the empty folder given
        os.replace(work, out)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return Outcome(out, manifest, time.monotonic() - started)


def _backup_sqlite(source: Path, target: Path) -> tuple[str | None, dict[str, int]]:
    if not source.is_file():
        raise BackupError(f"no SQLite database at {source}")
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True, timeout=30)
    dst = sqlite3.connect(target)
    try:
        src.backup(dst)  # a consistent copy, page by page, while the center goes on writing
        dst.execute("PRAGMA journal_mode=DELETE")  # one self-contained file, no -wal beside it
    except sqlite3.Error as exc:
        raise BackupError(f"SQLite backup of {source} failed: {exc}") from None
    finally:
        dst.close()
        src.close()
    engine = db.make_engine(f"sqlite:///{target}")
    try:
        with engine.connect() as conn:
            return _revision(conn), _row_counts(conn)
    finally:
        engine.dispose()
        for extra in ("-wal", "-shm"):  # make_engine's WAL pragma: fold it back into the file
            target.with_name(target.name + extra).unlink(missing_ok=True)


def _backup_postgres(url: str, target: Path) -> tuple[str | None, dict[str, int]]:
    """pg_dump in a snapshot exported by a REPEATABLE READ transaction, whose revision and row
    counts go into the manifest: the figures describe exactly what the dump holds."""
    pg_dump = _pg_tool("pg_dump")
    engine = db.make_engine(url)
    try:
        with engine.connect() as conn:
            conn = conn.execution_options(isolation_level="REPEATABLE READ")
            with conn.begin():
                snapshot = conn.execute(text("SELECT pg_export_snapshot()")).scalar_one()
                revision, rows = _revision(conn), _row_counts(conn)
                dbname, env = _libpq(url)
                _run_pg_tool(
                    [pg_dump, "--format=custom", "--no-owner", "--no-privileges", f"--snapshot={snapshot}",
                     f"--file={target}", *dbname],
                    env,
                )  # fmt: skip
    except BackupError:
        raise
    except Exception as exc:
        raise BackupError(f"database {db.describe(url)}: {db.first_line_of(exc)}") from None
    finally:
        engine.dispose()
    return revision, rows


def _evidence_files(folder: Path) -> Iterator[Path]:
    if not folder.is_dir():
        return
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder)
        if rel.parts[0] == INCOMING or not path.is_file() or path.is_symlink():
            continue
        yield path


def _tar_evidence(folder: Path, target: Path) -> tuple[int, int]:
    n_files = n_bytes = 0
    with tarfile.open(target, "w") as tar:  # JPEG and MP4 do not compress: plain tar
        for path in _evidence_files(folder):
            try:
                tar.add(path, arcname=str(path.relative_to(folder)), recursive=False)
            except FileNotFoundError:  # removed by retention meanwhile
                continue
            n_files += 1
            n_bytes += path.stat().st_size
    return n_files, n_bytes


# --- restore -------------------------------------------------------------------------------------


def read_manifest(folder: Path) -> dict[str, Any]:
    """The backup's manifest, checked for shape; BackupError naming what is wrong."""
    path = folder / MANIFEST
    if not folder.is_dir():
        raise BackupError(f"no backup folder {folder}")
    if not path.is_file():
        raise BackupError(f"{folder} is not a backup: no {MANIFEST} (one being written is DIR.partial)")
    if path.stat().st_size > MANIFEST_MAX_BYTES:
        raise BackupError(f"{path}: larger than {MANIFEST_MAX_BYTES} bytes, not a manifest")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise BackupError(f"{path}: not valid JSON ({exc})") from None
    need = {"format": int, "engine": str, "schema_revision": str, "rows": dict, "files": dict}
    for key, kind in need.items():
        if not isinstance(manifest, dict) or not isinstance(manifest.get(key), kind):
            raise BackupError(f"{path}: field {key!r} missing or not a {kind.__name__}")
    if manifest["format"] > FORMAT:
        raise BackupError(
            f"{path}: backup format {manifest['format']} is newer than this parkguard-center "
            f"{__version__} reads ({FORMAT}): restore with the version that made it"
        )
    return manifest


def verify(folder: Path, manifest: dict[str, Any]) -> None:
    """Every file the manifest lists is there with its size and SHA-256 (a truncated copy fails)."""
    db_file = SQLITE_FILE if manifest["engine"] == "sqlite" else PG_FILE
    for name in (db_file, EVIDENCE_FILE):
        entry = manifest["files"].get(name)
        if not isinstance(entry, dict):
            raise BackupError(f"{folder / MANIFEST}: lists no {name}")
        path = folder / name
        if not path.is_file():
            raise BackupError(f"{path}: missing from the backup")
        size = path.stat().st_size
        if size != entry.get("size"):
            raise BackupError(
                f"{path}: {size} bytes, the manifest says {entry.get('size')}: "
                "the backup is truncated or damaged"
            )
        if _sha256(path) != entry.get("sha256"):
            raise BackupError(f"{path}: SHA-256 differs from the manifest's: the backup is damaged")


def check_revision(revision: str) -> str:
    """``revision`` is one this code's migrations know (so it can be brought to head); else a
    clear refusal: a backup of a newer schema needs the newer center. Returns this code's head."""
    head = db.head_revision()
    if not db.known_revision(revision):
        raise BackupError(
            f"the backup's schema is at revision {revision!r}, which this parkguard-center {__version__} "
            f"does not know (its newest is {head}): the backup comes from a newer center; restore it "
            "with that version"
        )
    return str(head)


def _target_is_empty(engine: Engine) -> list[str]:
    with engine.connect() as conn:
        return sorted(inspect(conn).get_table_names())


def restore(config: CenterConfig, folder: Path, progress: Progress | None = None) -> Outcome:
    """Restore the backup in ``folder`` into the (empty) database and evidence folder of ``config``."""
    say = progress or (lambda _m: None)
    started = time.monotonic()
    say("checking the backup")
    manifest = read_manifest(folder)
    url = config.database.url
    engine_name = _engine_name(url)
    if manifest["engine"] != engine_name:
        raise BackupError(
            f"the backup is of a {manifest['engine']} database and the config's is {engine_name}: "
            "restore into the same engine"
        )
    verify(folder, manifest)
    head = check_revision(manifest["schema_revision"])
    evidence_dir = config.evidence_dir
    if evidence_dir.exists() and any(p for p in evidence_dir.iterdir() if p.name != INCOMING):
        raise BackupError(f"the evidence folder {evidence_dir} is not empty: restore into an empty one")
    if engine_name == "sqlite":
        target = _sqlite_path(url)
        if target.exists() and target.stat().st_size > 0:
            engine = db.make_engine(url)
            try:
                tables = _target_is_empty(engine)
            finally:
                engine.dispose()
            if tables:
                raise BackupError(
                    f"the database {target} is not empty ({len(tables)} tables): restore into an empty one"
                )
    else:
        engine = db.make_engine(url)
        try:
            tables = _target_is_empty(engine)
        except Exception as exc:
            raise BackupError(f"database {db.describe(url)}: {db.first_line_of(exc)}") from None
        finally:
            engine.dispose()
        if tables:
            raise BackupError(
                f"the database {db.describe(url)} is not empty ({len(tables)} tables): "
                "restore into an empty one"
            )

    say("evidence")
    staged = _stage_evidence(folder / EVIDENCE_FILE, evidence_dir)
    try:
        say(f"database ({engine_name})")
        if engine_name == "sqlite":
            _restore_sqlite(folder / SQLITE_FILE, _sqlite_path(url), manifest)
        else:
            _restore_postgres(folder / PG_FILE, url)
    except BaseException:
        shutil.rmtree(staged, ignore_errors=True)
        raise
    if evidence_dir.exists():  # empty but for uploads in progress (checked above)
        shutil.rmtree(evidence_dir / INCOMING, ignore_errors=True)
        evidence_dir.rmdir()
    os.replace(staged, evidence_dir)

    engine = db.make_engine(url)
    try:
        with engine.connect() as conn:
            rows = _row_counts(conn)
        missing = {t: n for t, n in manifest["rows"].items() if rows.get(t) != n}
        if missing:
            raise BackupError(f"restored row counts differ from the manifest's: {missing} (found {rows})")
        if manifest["schema_revision"] != head:
            say(f"migrating the schema {manifest['schema_revision']} → {head}")
        db.upgrade(engine)
    finally:
        engine.dispose()
    return Outcome(folder, manifest, time.monotonic() - started)


def _stage_evidence(tar_path: Path, evidence_dir: Path) -> Path:
    """The evidence extracted into a new folder beside ``evidence_dir`` (renamed into place later)."""
    evidence_dir.parent.mkdir(parents=True, exist_ok=True)
    staged = evidence_dir.with_name(f".{evidence_dir.name}.restoring-{os.getpid()}")
    shutil.rmtree(staged, ignore_errors=True)
    staged.mkdir()
    try:
        with tarfile.open(tar_path, "r:") as tar:
            tar.extractall(staged, filter="data")  # no absolute paths, no links out, no devices
    except (tarfile.TarError, OSError) as exc:
        shutil.rmtree(staged, ignore_errors=True)
        raise BackupError(f"{tar_path}: cannot be extracted: {exc}") from None
    return staged


def _restore_sqlite(source: Path, target: Path, manifest: dict[str, Any]) -> None:
    copy = target.with_name(f".{target.name}.restoring-{os.getpid()}")
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, copy)
    try:
        conn = sqlite3.connect(copy)
        try:
            check = conn.execute("PRAGMA integrity_check").fetchone()
            found = conn.execute("SELECT version_num FROM alembic_version").fetchone()
        except sqlite3.DatabaseError as exc:
            raise BackupError(f"{source}: not a usable SQLite database: {exc}") from None
        finally:
            conn.close()
        if not check or check[0] != "ok":
            raise BackupError(f"{source}: SQLite integrity check failed: {check}")
        if not found or found[0] != manifest["schema_revision"]:
            raise BackupError(
                f"{source}: schema revision {found[0] if found else None!r} is not the manifest's "
                f"{manifest['schema_revision']!r}"
            )
        for extra in ("-wal", "-shm"):  # an empty database's leftovers would be replayed on the copy
            target.with_name(target.name + extra).unlink(missing_ok=True)
        os.replace(copy, target)
    finally:
        copy.unlink(missing_ok=True)


def _restore_postgres(source: Path, url: str) -> None:
    pg_restore = _pg_tool("pg_restore")
    dbname, env = _libpq(url)
    _run_pg_tool(
        [pg_restore, "--single-transaction", "--exit-on-error", "--no-owner", "--no-privileges", *dbname,
         str(source)],
        env,
    )  # fmt: skip
