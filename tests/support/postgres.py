"""A PostgreSQL database for tests, as a SQLAlchemy URL (``postgresql+psycopg://...``).

``provide_postgres()`` tries, in order:

1. ``PARKGUARD_TEST_PG_URL``: used as given (``postgresql://`` becomes
   ``postgresql+psycopg://``); nothing is created or dropped.
2. A server on 127.0.0.1:5432 that lets ``postgres`` (or the current user) in without a
   password: a fresh database ``parkguard_test_<epoch>_<pid>_<hex>`` is created for the
   session and dropped at the end (and leftovers older than 6 hours, from killed runs).
3. Debian's server binaries (``/usr/lib/postgresql/*/bin``): a private instance in a temp
   directory on a free port, trust auth, no fsync; removed at the end. initdb refuses to
   run as root, so as root the instance runs as user ``postgres`` (which the Debian
   package creates); its directory is under /tmp, since that user cannot enter pytest's
   root-only temp directories.
4. Otherwise PostgresUnavailable, saying what was tried and how to fix it.
"""

from __future__ import annotations

import contextlib
import functools
import getpass
import os
import pwd
import re
import secrets
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import psycopg

from .ports import free_port
from .procs import ManagedProcess, port_open
from .tools import postgres_bindir

ENV_URL = "PARKGUARD_TEST_PG_URL"
ENV_ALLOW_SKIP = "PARKGUARD_ALLOW_SKIP_PG"
LOCAL_HOST, LOCAL_PORT = "127.0.0.1", 5432
DB_PREFIX = "parkguard_test_"
STALE_AFTER_S = 6 * 3600

Source = Literal["env", "local-server", "private-instance"]


class PostgresUnavailable(RuntimeError):
    """No PostgreSQL could be found or started for the tests."""


@dataclass
class PostgresHandle:
    url: str
    source: Source
    description: str
    _cleanup: Callable[[], None] | None = field(default=None, repr=False)

    def close(self) -> None:
        cleanup, self._cleanup = self._cleanup, None
        if cleanup is not None:
            cleanup()


def sqlalchemy_url(url: str) -> str:
    """``postgres://`` and ``postgresql://`` URLs with the psycopg 3 driver named."""
    return re.sub(r"^(postgres|postgresql)://", "postgresql+psycopg://", url)


def unavailable_action() -> Literal["skip", "fail"]:
    """Skip PostgreSQL tests only when PARKGUARD_ALLOW_SKIP_PG=1 and not in CI."""
    ci = os.environ.get("CI", "").lower() not in ("", "0", "false", "no")
    return "skip" if os.environ.get(ENV_ALLOW_SKIP) == "1" and not ci else "fail"


def _connect(host: str, port: int, user: str, dbname: str = "postgres") -> psycopg.Connection:
    return psycopg.connect(host=host, port=port, user=user, dbname=dbname, connect_timeout=5, autocommit=True)


def _drop_database(host: str, port: int, user: str, name: str) -> None:
    with _connect(host, port, user) as conn:
        try:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        except Exception:  # PostgreSQL < 13 has no FORCE
            conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,))
            conn.execute(f'DROP DATABASE IF EXISTS "{name}"')


def _drop_stale_databases(conn: psycopg.Connection, host: str, port: int, user: str) -> None:
    rows = conn.execute(
        "SELECT datname FROM pg_database WHERE datname LIKE %s", (DB_PREFIX + "%",)
    ).fetchall()
    now = time.time()
    for (name,) in rows:
        match = re.match(rf"^{DB_PREFIX}(\d+)_", name)
        if match and now - int(match.group(1)) > STALE_AFTER_S:
            with contextlib.suppress(Exception):
                _drop_database(host, port, user, name)


def _local_server(errors: list[str]) -> PostgresHandle | None:
    if not port_open(LOCAL_HOST, LOCAL_PORT):
        errors.append(f"nothing answers on {LOCAL_HOST}:{LOCAL_PORT}")
        return None
    users = list(dict.fromkeys(["postgres", getpass.getuser()]))
    for user in users:
        try:
            conn = _connect(LOCAL_HOST, LOCAL_PORT, user)
        except Exception as exc:
            errors.append(f"{LOCAL_HOST}:{LOCAL_PORT} as {user}: {str(exc).strip().splitlines()[0]}")
            continue
        name = f"{DB_PREFIX}{int(time.time())}_{os.getpid()}_{secrets.token_hex(3)}"
        try:
            with conn:
                _drop_stale_databases(conn, LOCAL_HOST, LOCAL_PORT, user)
                conn.execute(f'CREATE DATABASE "{name}"')
        except psycopg.Error as exc:
            errors.append(f"{LOCAL_HOST}:{LOCAL_PORT} as {user}: cannot create a database: {exc}")
            continue
        return PostgresHandle(
            url=f"postgresql+psycopg://{user}@{LOCAL_HOST}:{LOCAL_PORT}/{name}",
            source="local-server",
            description=f"database {name} on the server at {LOCAL_HOST}:{LOCAL_PORT}",
            _cleanup=functools.partial(_drop_database, LOCAL_HOST, LOCAL_PORT, user, name),
        )
    return None


class PrivatePostgres:
    """A throwaway PostgreSQL server in its own directory, on its own port."""

    def __init__(self, bindir: str, *, port: int | None = None, dbname: str = "parkguard_test") -> None:
        self.bindir = Path(bindir)
        self.port = port or free_port()
        self.dbname = dbname
        self.superuser = "postgres"
        self.run_as: str | None = None
        if os.geteuid() == 0:
            try:
                pwd.getpwnam("postgres")
            except KeyError:
                raise PostgresUnavailable(
                    "running as root and there is no `postgres` user to run initdb as "
                    "(initdb refuses root); install Debian's postgresql package or set " + ENV_URL
                ) from None
            self.run_as = "postgres"
        self.root: Path | None = None
        self.process: ManagedProcess | None = None

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://{self.superuser}@127.0.0.1:{self.port}/{self.dbname}"

    def _env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        env.update(LC_ALL="C", LANG="C")
        if self.run_as:
            entry = pwd.getpwnam(self.run_as)
            env.update(HOME=entry.pw_dir, USER=entry.pw_name, LOGNAME=entry.pw_name)
        return env

    def _run(self, argv: list[str]) -> None:
        kwargs: dict[str, object] = {}
        if self.run_as:
            entry = pwd.getpwnam(self.run_as)
            kwargs = {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}
        result = subprocess.run(
            argv, capture_output=True, text=True, env=self._env(), cwd="/", timeout=120, **kwargs
        )
        if result.returncode != 0:
            raise PostgresUnavailable(f"`{' '.join(argv)}` failed:\n{result.stdout}{result.stderr}")

    def start(self) -> PrivatePostgres:
        self.root = Path(tempfile.mkdtemp(prefix="parkguard-pg-"))
        if self.run_as:
            entry = pwd.getpwnam(self.run_as)
            os.chown(self.root, entry.pw_uid, entry.pw_gid)
        data = self.root / "data"
        self._run(
            [
                str(self.bindir / "initdb"),
                "-D",
                str(data),
                "-U",
                self.superuser,
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
            ]
        )
        self._launch()
        try:
            assert self.process is not None
            self.process.start()
            with _connect("127.0.0.1", self.port, self.superuser) as conn:
                conn.execute(f'CREATE DATABASE "{self.dbname}"')
        except Exception:
            self.stop()
            raise
        return self

    def _launch(self) -> None:
        assert self.root is not None
        self.process = ManagedProcess(
            [
                str(self.bindir / "postgres"),
                "-D",
                str(self.root / "data"),
                "-p",
                str(self.port),
                "-k",
                str(self.root),
                "-c",
                "listen_addresses=127.0.0.1",
                "-c",
                "fsync=off",
                "-c",
                "synchronous_commit=off",
                "-c",
                "full_page_writes=off",
                "-c",
                "shared_buffers=32MB",
            ],
            name=f"postgres-{self.port}",
            log_dir=self.root,
            env=self._env(),
            cwd="/",
            user=self.run_as,
            ready_line=r"database system is ready to accept connections",
            ready_stream="any",
            ready_timeout=60.0,
            stop_signal=signal.SIGINT,  # "fast" shutdown; SIGTERM waits for clients to leave
            stop_grace=15.0,
        )

    def pause(self) -> None:
        """Stop the server, keeping its data (a database that goes away and comes back)."""
        if self.process is not None:
            self.process.stop()
            self.process = None

    def resume(self) -> None:
        """Start the paused server again on the same port and data."""
        self._launch()
        assert self.process is not None
        self.process.start()

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()
            self.process = None
        if self.root is not None:
            shutil.rmtree(self.root, ignore_errors=True)
            self.root = None


def _private_instance(errors: list[str]) -> PostgresHandle | None:
    bindir = postgres_bindir()
    if bindir is None:
        errors.append("no PostgreSQL server binaries (/usr/lib/postgresql/*/bin/initdb)")
        return None
    server = PrivatePostgres(bindir).start()
    return PostgresHandle(
        url=server.url,
        source="private-instance",
        description=f"private server from {bindir} on port {server.port}",
        _cleanup=server.stop,
    )


@contextlib.contextmanager
def provide_postgres() -> Iterator[PostgresHandle]:
    """A PostgreSQL URL for the tests (see the module docstring); cleans up on exit."""
    env_url = os.environ.get(ENV_URL)
    if env_url:
        yield PostgresHandle(url=sqlalchemy_url(env_url), source="env", description=f"{ENV_URL}")
        return
    errors: list[str] = []
    try:
        handle = _local_server(errors) or _private_instance(errors)
    except PostgresUnavailable as exc:
        raise PostgresUnavailable("; ".join([*errors, str(exc)])) from None
    if handle is None:
        raise PostgresUnavailable(
            "no PostgreSQL for the tests: "
            + "; ".join(errors)
            + f". Install one with `scripts/setup.sh test` (Debian package postgresql), or set {ENV_URL}"
            + f"=postgresql://user@host:port/db (set {ENV_ALLOW_SKIP}=1 to skip these tests outside CI)."
        )
    try:
        yield handle
    finally:
        handle.close()


def postgres_available_binaries() -> bool:
    """True when a private instance could be started here."""
    return postgres_bindir() is not None and (os.geteuid() != 0 or _has_user("postgres"))


def _has_user(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


__all__ = [
    "PostgresHandle",
    "PostgresUnavailable",
    "PrivatePostgres",
    "provide_postgres",
    "sqlalchemy_url",
    "unavailable_action",
]
