"""``parkguard-center serve`` as a real process, seen from outside: no secret in its log
(issue 12, item 3), and which address a login is counted and audited under (item 10)."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.sync.client import connect

from tests.support.ports import free_port
from tests.support.procs import ManagedProcess

pytestmark = pytest.mark.slow  # real `parkguard-center serve` processes: left out of the fast loop
BIN = Path(sys.executable).parent / "parkguard-center"
OPERATOR, PASSWORD = "duty-officer", "Lantern-orchid-73"


class Served:
    def __init__(self, process: ManagedProcess, port: int) -> None:
        self.process = process
        self.url = f"http://127.0.0.1:{port}"
        self.ws = f"ws://127.0.0.1:{port}"

    def log(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.process.lines("stderr")]


@contextmanager
def served_center(workdir: Path, extra: str = "") -> Iterator[Served]:
    """The center in its own process (no broker: ingest keeps retrying, the API answers), with
    the operator ``duty-officer``; its log is JSON lines on stderr."""
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    config = workdir / "center.yaml"
    config.write_text(
        f"""site: yijia
database: {{url: "sqlite:///center.db"}}
mqtt: {{host: 127.0.0.1, port: {free_port()}, client_id: test-serve-security}}
http: {{host: 127.0.0.1, port: {port}}}
{extra}""",
        encoding="utf-8",
    )
    added = subprocess.run(
        [BIN, "user", "add", "--config", config, "--username", OPERATOR, "--role", "operator"],
        input=PASSWORD + "\n",
        text=True,
        capture_output=True,
        timeout=60,
    )
    assert added.returncode == 0, added.stderr
    process = ManagedProcess(
        [BIN, "serve", "--config", config],
        name="center",
        log_dir=workdir,
        ready_url=f"http://127.0.0.1:{port}/api/health",
    )
    with process:
        yield Served(process, port)


def test_tokens_stay_out_of_the_log(tmp_workdir: Path) -> None:
    with served_center(tmp_workdir) as center:
        login = httpx.post(f"{center.url}/api/auth/login", json={"username": OPERATOR, "password": PASSWORD})
        assert login.status_code == 200, login.text
        token = login.json()["token"]
        with connect(f"{center.ws}/ws/alerts?token={token}") as ws:  # an API client's way
            assert json.loads(ws.recv(timeout=10))["user"] == OPERATOR
        # a browser's way: the session cookie, nothing in the URL
        cookie = login.cookies["pg_session"]
        with connect(f"{center.ws}/ws/alerts", additional_headers={"Cookie": f"pg_session={cookie}"}) as ws:
            assert json.loads(ws.recv(timeout=10))["user"] == OPERATOR
        me = httpx.get(f"{center.url}/api/auth/me", headers={"Authorization": f"Bearer {token}"})
        assert me.status_code == 200
    text = center.process.log_path.read_text(encoding="utf-8") + "\n".join(center.process.lines("stderr"))
    accepted = [r["msg"] for r in center.log() if "/ws/alerts" in r["msg"]]
    assert len(accepted) == 2, accepted  # both sockets were logged ...
    assert "/ws/alerts?token=***" in accepted[0]  # ... the token's value blanked
    assert token not in text and PASSWORD not in text


def audit_ips(workdir: Path) -> list[str]:
    with sqlite3.connect(workdir / "center.db") as db:
        return [
            ip for (ip,) in db.execute("SELECT ip FROM audit_log WHERE action = 'login_failed' ORDER BY id")
        ]


def test_forwarded_for_from_an_untrusted_peer_is_ignored(tmp_workdir: Path) -> None:
    """The issue's probe: X-Forwarded-For sent from 127.0.0.1, rotated on every try."""
    wrong = {"username": OPERATOR, "password": "Wrong-guess-2025"}
    with served_center(tmp_workdir / "plain") as center:
        codes = [
            httpx.post(
                f"{center.url}/api/auth/login", json=wrong, headers={"X-Forwarded-For": f"203.0.113.{n}"}
            ).status_code
            for n in range(6)
        ]
    assert codes == [401] * 5 + [429]
    assert audit_ips(tmp_workdir / "plain") == ["127.0.0.1"] * 5
    # behind a proxy the config trusts, the address it forwards is the client's
    with served_center(tmp_workdir / "proxied", "security: {trusted_proxies: [127.0.0.1/32]}\n") as center:
        resp = httpx.post(
            f"{center.url}/api/auth/login", json=wrong, headers={"X-Forwarded-For": "6.6.6.6, 203.0.113.9"}
        )
        assert resp.status_code == 401
    assert audit_ips(tmp_workdir / "proxied") == ["203.0.113.9"]
