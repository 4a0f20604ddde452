"""docker/nginx.conf run by a real nginx in front of two real HTTP servers standing for the center
replicas (their names in the upstream block pointed at local ports): both replicas get requests,
one answering 503 is skipped, the Host and X-Forwarded-For the center relies on arrive, the
WebSocket upgrade headers pass, and a body over the limit is refused by nginx itself.

nginx is not a test dependency: set PARKGUARD_NGINX to a binary (``apt-get download nginx
nginx-common`` and ``dpkg -x`` them anywhere will do) or have ``nginx`` on the PATH."""

from __future__ import annotations

import http.client
import json
import os
import re
import shutil
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.support.ports import free_port
from tests.support.procs import ManagedProcess

REPO = Path(__file__).resolve().parents[2]
# scripts/setup.sh test unpacks Debian's nginx there (not installed: no server on port 80)
UNPACKED = Path(__file__).resolve().parents[2] / ".cache" / "nginx" / "usr" / "sbin" / "nginx"
NGINX = (
    os.environ.get("PARKGUARD_NGINX")
    or shutil.which("nginx")
    or (str(UNPACKED) if UNPACKED.is_file() else None)
)

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(NGINX is None, reason="no nginx binary (set PARKGUARD_NGINX)"),
]


class Replica:
    """A replica stand-in: answers with its name and the headers it got; ``status`` settable."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.status = 200
        self.hits = 0
        replica = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                replica.hits += 1
                body = json.dumps(
                    {
                        "name": replica.name,
                        "host": self.headers.get("Host"),
                        "xff": self.headers.get("X-Forwarded-For"),
                        "upgrade": self.headers.get("Upgrade"),
                        "connection": self.headers.get("Connection"),
                    }
                ).encode()
                self.send_response(replica.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def proxy(tmp_path: Path) -> Iterator[tuple[int, list[Replica]]]:
    replicas = [Replica("center-1"), Replica("center-2")]
    conf = (REPO / "docker" / "nginx.conf").read_text(encoding="utf-8")
    for r in replicas:
        conf, n = re.subn(rf"server {r.name}:8080 ", f"server 127.0.0.1:{r.port} ", conf)
        assert n == 1, r.name
    port = free_port()
    conf, n = re.subn(r"listen 8080;", f"listen 127.0.0.1:{port};", conf)
    assert n == 1
    conf = conf.replace("/tmp/", f"{tmp_path}/")  # pid and temporary folders of this test
    path = tmp_path / "nginx.conf"
    path.write_text(conf, encoding="utf-8")
    assert NGINX is not None
    with ManagedProcess(
        [NGINX, "-p", tmp_path, "-c", path, "-g", "daemon off;"],
        name="nginx",
        log_dir=tmp_path,
        ready_port=port,
    ):
        yield port, replicas
    for r in replicas:
        r.close()


def _get(port: int, path: str = "/api/health", **headers: str) -> tuple[int, dict[str, str]]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", path, headers=headers)
        resp = conn.getresponse()
        body = resp.read()
        return resp.status, json.loads(body) if resp.getheader("Content-Type") == "application/json" else {}
    finally:
        conn.close()


def test_nginx_spreads_skips_a_failing_replica_and_passes_what_the_center_needs(
    proxy: tuple[int, list[Replica]],
) -> None:
    port, (one, two) = proxy
    seen = {_get(port)[1]["name"] for _ in range(6)}
    assert seen == {"center-1", "center-2"}

    status, got = _get(port, Host="pg.example.cn:8080")
    assert status == 200 and got["host"] == "pg.example.cn:8080"  # the Origin check compares with it
    assert got["xff"] == "127.0.0.1"  # read by the center from security.trusted_proxies only

    status, got = _get(port, "/ws/alerts", Upgrade="websocket", Connection="Upgrade")
    assert (got["upgrade"], got["connection"]) == ("websocket", "upgrade")

    one.status = 503  # a replica not ready: its answers are retried on the other
    before = two.hits
    answers = [_get(port) for _ in range(6)]
    assert all(s == 200 and g["name"] == "center-2" for s, g in answers), answers
    assert two.hits - before == 6


def test_nginx_refuses_a_body_over_the_limit(proxy: tuple[int, list[Replica]]) -> None:
    port, replicas = proxy
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.putrequest("PUT", "/api/evidence/" + "0" * 64)
        conn.putheader("Content-Length", str(41 * 1024 * 1024))
        conn.endheaders()
        assert conn.getresponse().status == 413
    finally:
        conn.close()
    assert sum(r.hits for r in replicas) == 0
