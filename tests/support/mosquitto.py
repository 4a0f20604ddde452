"""A private Mosquitto broker per test (or per session), on its own port and config.

    broker = MosquittoBroker(tmp_path / "broker").start()
    client.connect(broker.host, broker.port)
    broker.stop(); ...; broker.start()          # an outage: same port, same persistence

Privileges: started as root, mosquitto 2 switches to user ``mosquitto`` before it reads the
password and ACL files and writes its persistence file, and that user cannot even enter a
pytest tmp directory (mode 0700, owned by root). The config therefore says ``user root``
when we run as root, which mosquitto takes as "do not switch user". The broker listens on
127.0.0.1 only and lives as long as a test, so keeping root costs nothing here and avoids
chown-ing files into world-readable temp directories. Run as any other user the option
does nothing and the broker runs as that user.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Self

from .ports import free_port
from .procs import ManagedProcess
from .tools import require_binary

READY_LINE = r"mosquitto version \S+ running"


class MosquittoBroker:
    """Mosquitto on 127.0.0.1 with its config, persistence and log in ``workdir``.

    ``users`` turns on a password file (made with ``mosquitto_passwd -b``); anonymous
    clients are then refused unless ``allow_anonymous=True``. ``acl`` is the text of an
    ACL file (``user alice`` / ``topic readwrite parkguard/#`` ...). ``extra_config`` is
    appended to the config verbatim.
    """

    host = "127.0.0.1"

    def __init__(
        self,
        workdir: str | os.PathLike[str],
        *,
        port: int | None = None,
        users: Mapping[str, str] | None = None,
        acl: str | None = None,
        allow_anonymous: bool | None = None,
        persistence: bool = True,
        extra_config: str = "",
        ready_timeout: float = 15.0,
    ) -> None:
        self.workdir = Path(workdir)
        self.port = port or free_port()
        self.users = dict(users or {})
        self.acl = acl
        self.allow_anonymous = (not self.users) if allow_anonymous is None else allow_anonymous
        self.persistence = persistence
        self.extra_config = extra_config
        self.binary = require_binary("mosquitto")
        self.config_path = self.workdir / "mosquitto.conf"
        self.data_dir = self.workdir / "data"
        self._write_files()
        self.process = ManagedProcess(
            [self.binary, "-c", str(self.config_path)],
            name=f"mosquitto-{self.port}",
            log_dir=self.workdir,
            ready_line=READY_LINE,
            ready_stream="stderr",
            ready_timeout=ready_timeout,
            stop_grace=5.0,
        )

    @property
    def url(self) -> str:
        return f"mqtt://{self.host}:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.process.log_path

    def _write_files(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.data_dir.mkdir(exist_ok=True)
        lines = [
            "# Private test broker written by tests/support/mosquitto.py",
            "per_listener_settings false",
            f"listener {self.port} {self.host}",
            f"allow_anonymous {'true' if self.allow_anonymous else 'false'}",
            "log_dest stderr",  # unbuffered; stdout is block-buffered on a pipe
            "log_type error",
            "log_type warning",
            "log_type notice",
            "log_type information",
            "connection_messages true",
            "log_timestamp_format %H:%M:%S",
        ]
        if os.geteuid() == 0:
            lines.append("user root")
        if self.persistence:
            lines += ["persistence true", f"persistence_location {self.data_dir}/"]
        else:
            lines.append("persistence false")
        if self.users:
            password_file = self.workdir / "passwd"
            password_file.unlink(missing_ok=True)
            passwd = require_binary("mosquitto_passwd")
            for i, (user, password) in enumerate(self.users.items()):
                args = [passwd, "-b", *(["-c"] if i == 0 else []), str(password_file), user, password]
                result = subprocess.run(args, capture_output=True, text=True, timeout=30)
                if result.returncode != 0:
                    raise RuntimeError(f"mosquitto_passwd failed for user {user!r}: {result.stderr.strip()}")
            password_file.chmod(0o600)
            lines.append(f"password_file {password_file}")
        if self.acl is not None:
            acl_file = self.workdir / "acl"
            acl_file.write_text(self.acl.strip() + "\n")
            acl_file.chmod(0o600)
            lines.append(f"acl_file {acl_file}")
        if self.extra_config:
            lines.append(self.extra_config.strip())
        self.config_path.write_text("\n".join(lines) + "\n")

    def start(self) -> Self:
        """Start (or start again, on the same port with the same persistence)."""
        self.process.start()
        return self

    def stop(self) -> None:
        """Graceful stop: mosquitto saves its persistence file on SIGTERM."""
        self.process.stop()

    def kill9(self) -> None:
        """Crash: no persistence save, clients see the connection drop."""
        self.process.kill9()

    def restart(self) -> Self:
        self.stop()
        return self.start()

    def is_running(self) -> bool:
        return self.process.is_running()

    def __enter__(self) -> Self:
        if not self.is_running():
            self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"<MosquittoBroker {self.url} {'running' if self.is_running() else 'stopped'}>"
