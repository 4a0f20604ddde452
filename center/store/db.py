"""Database engine, sessions and schema upgrades (SQLite or PostgreSQL)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
SQLITE_BUSY_TIMEOUT_MS = 10_000
PG_CONNECT_TIMEOUT_S = 5
# Arbitrary constant shared by all replicas: only one of them migrates at a time.
PG_MIGRATION_LOCK = 0x5061726B  # "Park"


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


def make_engine(url: str) -> Engine:
    """An engine for ``url``; SQLite files get WAL and a busy timeout, their folder is created."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(
        url,
        pool_pre_ping=True,
        pool_size=5,
        max_overflow=5,
        connect_args={"connect_timeout": PG_CONNECT_TIMEOUT_S},
    )


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


def alembic_config() -> AlembicConfig:
    """Alembic config built in code so migrations run from an installed package too."""
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    return cfg


class SchemaTooNew(RuntimeError):
    """The database was migrated by newer code than this process (a replica left on an older
    release): it must not write rows it does not know the shape of."""


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the schema to ``revision``; safe to call from several replicas at once on PostgreSQL
    (one migrates under an advisory lock, the others wait for it and find nothing to do).

    Raises :class:`SchemaTooNew` when the database's revision is one this code does not know."""
    cfg = alembic_config()
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": PG_MIGRATION_LOCK})
        before = MigrationContext.configure(conn).get_current_revision()
        if revision == "head" and before is not None and before == head_revision():
            return  # the usual start: nothing to do, and no need to load every migration script
        if before is not None and not _known_revision(before):
            raise SchemaTooNew(
                f"database schema is at revision {before}, newer than this center's code knows "
                f"(its newest migration is {head_revision()}): refusing to start; upgrade this "
                "replica to the release that migrated the database"
            )
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)
        after = MigrationContext.configure(conn).get_current_revision()
    if before != after:
        log.info("database schema upgraded from %s to %s", before or "empty", after)


def _known_revision(revision: str) -> bool:
    try:
        return ScriptDirectory.from_config(alembic_config()).get_revision(revision) is not None
    except Exception:  # alembic raises for an id it cannot locate
        return False


def check(engine: Engine) -> str:
    """``"ok"`` or a one-line error."""
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:  # any driver error means "not ok"
        return f"error: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}".rstrip(": ")
    return "ok"


def head_revision() -> str | None:
    """The newest migration this code knows (what ``upgrade`` brings a database to)."""
    global _HEAD
    if _HEAD is None:
        _HEAD = ScriptDirectory.from_config(alembic_config()).get_current_head() or ""
    return _HEAD or None


_HEAD: str | None = None


def readiness(engine: Engine) -> tuple[bool, str, str | None]:
    """(ready, database, schema): ready when the database answers and its schema is this code's
    head revision. ``database`` is ``"ok"`` or a one-line error; ``schema`` the revision found."""
    try:
        with engine.connect() as conn:
            current = MigrationContext.configure(conn).get_current_revision()
    except Exception as exc:  # any driver error means "not ready"
        return False, f"error: {type(exc).__name__}: {first_line_of(exc)}".rstrip(": "), None
    return current is not None and current == head_revision(), "ok", current


def first_line_of(exc: BaseException) -> str:
    return str(exc).splitlines()[0] if str(exc) else ""


def describe(url: str) -> str:
    """The URL with its password hidden, for logs and error messages."""
    return make_url(url).render_as_string(hide_password=True)


def known_revision(revision: str) -> bool:
    """Is ``revision`` one of this code's migrations? (backups and readiness ask)"""
    return _known_revision(revision)
