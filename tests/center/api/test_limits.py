"""Body-size limits before reading (issue 12, item 4): a real uvicorn server in a child process,
fed streamed bodies of hundreds of MiB; its peak memory (VmHWM of /proc/<pid>/status) must not
grow with them, and the answer is 413. A 422 never echoes the input."""

from __future__ import annotations

import hashlib
import sys
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from center.app import create_app
from center.config import load_config, parse_config
from center.store import db
from tests.centerkit import PASSWORD, SITE, add_user, bearer, login
from tests.support.ports import free_port
from tests.support.procs import ManagedProcess

pytestmark = pytest.mark.slow  # a real uvicorn child and 300 MiB bodies: left out of the fast loop
MIB = 1024 * 1024
CHUNK = b"\xff\xd8\xff\xe0" + b"x" * (MIB - 4)  # 1 MiB that starts like a JPEG
MAX_GROWTH_MIB = 50

SERVER = textwrap.dedent(
    """
    import sys
    import uvicorn
    from center.app import create_app
    from center.config import load_config
    app = create_app(load_config(sys.argv[1]), start_ingest=False)
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[2]), log_level="warning")
    """
)


def _config_text(workdir: Path) -> str:
    return f"site: {SITE}\ndatabase: {{url: 'sqlite:///{workdir / 'center.db'}'}}\nevidence_dir: evidence\n"


@dataclass
class Server:
    proc: ManagedProcess
    url: str
    token: str
    workdir: Path

    def memory_mib(self, field: str = "VmHWM") -> float:
        """The server's peak (VmHWM) or current (VmRSS) resident memory."""
        status = Path(f"/proc/{self.proc.pid}/status").read_text()
        line = next(x for x in status.splitlines() if x.startswith(field + ":"))
        return int(line.split()[1]) / 1024


@pytest.fixture
def server(tmp_workdir: Path) -> Iterator[Server]:
    """The center (no MQTT) served by uvicorn in a child process, with an operator account."""
    config = tmp_workdir / "center.yaml"
    config.write_text(_config_text(tmp_workdir), encoding="utf-8")
    app = create_app(load_config(config), start_ingest=False)
    db.upgrade(app.state.engine)
    add_user(app.state.session_factory, "op", "operator")
    app.state.engine.dispose()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    proc = ManagedProcess(
        [sys.executable, "-c", SERVER, str(config), str(port)],
        name="center",
        log_dir=tmp_workdir,
        ready_url=f"{url}/api/health",
    )
    with proc:
        resp = httpx.post(f"{url}/api/auth/login", json={"username": "op", "password": PASSWORD}, timeout=30)
        assert resp.status_code == 200, resp.text
        yield Server(proc, url, resp.json()["token"], tmp_workdir)


def stream(total_mib: int) -> Iterator[bytes]:
    for _ in range(total_mib):
        yield CHUNK


def test_chunked_300_mib_evidence_upload_is_refused_with_bounded_memory(server: Server) -> None:
    before = server.memory_mib()
    sha = "0" * 64
    resp = httpx.put(
        f"{server.url}/api/evidence/{sha}",
        content=stream(300),  # no Content-Length: chunked
        headers={**bearer(server.token), "Content-Type": "image/jpeg"},
        timeout=120,
    )
    grown = server.memory_mib() - before
    assert resp.status_code == 413, resp.text[:300]
    assert "32 MiB" in resp.json()["detail"]
    assert grown < MAX_GROWTH_MIB, f"server peak memory grew by {grown:.0f} MiB"
    assert server.proc.is_running()
    incoming = list((server.workdir / "evidence").rglob("*.part"))
    assert incoming == []  # the partial upload is gone
    # and the server still takes a real upload
    photo = b"\xff\xd8\xff\xe0" + b"photo" * 1000
    ok = httpx.put(
        f"{server.url}/api/evidence/{hashlib.sha256(photo).hexdigest()}",
        content=photo,
        headers={**bearer(server.token), "Content-Type": "image/jpeg"},
        timeout=30,
    )
    assert ok.status_code == 201, ok.text  # stored


def test_100_mib_anonymous_login_body_is_refused_with_bounded_memory(server: Server) -> None:
    before = server.memory_mib()
    chunked = httpx.post(
        f"{server.url}/api/auth/login",
        content=stream(100),
        headers={"Content-Type": "application/json"},
        timeout=120,
    )
    declared = httpx.post(  # a Content-Length over the limit: refused before one byte is read
        f"{server.url}/api/auth/login",
        content=stream(100),
        headers={"Content-Type": "application/json", "Content-Length": str(100 * MIB)},
        timeout=120,
    )
    grown = server.memory_mib() - before
    assert chunked.status_code == 413 and declared.status_code == 413, (chunked.text, declared.text)
    assert "16 KiB" in declared.json()["detail"]
    assert grown < MAX_GROWTH_MIB, f"server peak memory grew by {grown:.0f} MiB"


@pytest.fixture
def client(tmp_workdir: Path) -> Iterator[TestClient]:
    cfg = parse_config(
        {"site": SITE, "database": {"url": f"sqlite:///{tmp_workdir / 'center.db'}"},
         "http": {"limits": {"api_kib": 64}}},
        "test", tmp_workdir,
    )  # fmt: skip
    app = create_app(cfg, start_ingest=False)
    with TestClient(app) as c:
        add_user(app.state.session_factory, "op", "operator")
        yield c


def test_json_api_bodies_are_limited_by_the_config(client: TestClient) -> None:
    token = login(client, "op")
    big = {"title": "x" * (65 * 1024)}
    resp = client.post("/api/hazards", json=big, headers=bearer(token))
    assert resp.status_code == 413 and "64 KiB" in resp.json()["detail"]
    small = client.post("/api/hazards", json={"title": "x"}, headers=bearer(token))
    assert small.status_code == 422  # read and validated as usual
    bad = client.post("/api/hazards", content=b"{}", headers={**bearer(token), "Content-Length": "1e9"})
    assert bad.status_code == 400


def test_a_422_does_not_echo_the_input(client: TestClient) -> None:
    secret = "s3cret-" * 2000  # 14 KB: under the login limit, over the password's 256 characters
    resp = client.post("/api/auth/login", json={"username": "op", "password": secret})
    assert resp.status_code == 422
    assert "s3cret" not in resp.text and len(resp.content) < 1024, resp.text[:300]
    (error,) = resp.json()["detail"]
    assert error["loc"] == ["body", "password"] and error["type"] == "string_too_long" and error["msg"]
    long_key = {"username": "op", "password": "pw", "k" * 5000: 1}  # an unknown key is named, cut short
    resp = client.post("/api/auth/login", json=long_key)
    assert resp.status_code == 422 and len(resp.content) < 1024, resp.text[:300]
