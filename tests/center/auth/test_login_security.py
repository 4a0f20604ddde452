"""Login hardening (issue 12): where a login may send the browser (item 7), CSRF and the
WebSocket's Origin (item 8), login limits and trusted proxies (item 10), the password policy
(item 11). Real SQLite and PostgreSQL through the app's HTTP API."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from starlette.requests import Request
from starlette.websockets import WebSocketDisconnect

from center.api.pages import safe_next
from center.app import create_app
from center.auth.sessions import from_trusted_proxy
from center.config import CenterConfig
from center.store.models import AuditEntry
from tests.centerkit import CONSOLE_HEADERS, PASSWORD, ROLE_USERS, bearer, login, mini_park

BIN = Path(sys.executable).parent / "parkguard-center"

# values of ?next= that leave the site, or try to; and paths of the site
OFFSITE_NEXT = [
    "/%5Cevil.example/x",  # the issue's: /\evil.example, which browsers read as //evil.example
    "/\\evil.example",
    "//evil.example/x",
    "/%2F%2Fevil.example",
    "%2F%2Fevil.example",
    "/%252F%252Fevil.example",  # encoded twice
    "/%09/evil.example",  # a tab (browsers drop it, leaving //evil.example)
    "/\t/evil.example",
    "https://evil.example/",
    "javascript:alert(1)",
    "evil.example",
    "/%0d%0aSet-Cookie:x=1",
    "",
]
SITE_NEXT = ["/", "/nodes", "/e/ent-a", "/risk?town=shishan#map", "/alerts?q=%E5%91%8A%E8%AD%A6"]


def config(db_url: str, workdir: Path, **sections: Any) -> CenterConfig:
    return CenterConfig.model_validate(
        {
            "site": "yijia",
            "database": {"url": db_url},
            "evidence_dir": str(workdir / "evidence"),
            "mqtt": {"client_id": "test-login-security"},
            **sections,
        }
    )


@pytest.fixture
def client(db_url: str, tmp_workdir: Path) -> Iterator[TestClient]:
    app = create_app(config(db_url, tmp_workdir), start_ingest=False)
    with TestClient(app, follow_redirects=False) as c:
        mini_park(app.state.session_factory)
        yield c


# --- item 7: no open redirect after login ------------------------------------------------------


@pytest.mark.parametrize("value", OFFSITE_NEXT)
def test_login_page_drops_a_next_that_leaves_the_site(tmp_workdir: Path, value: str) -> None:
    assert safe_next(value) is None
    app = create_app(config(f"sqlite:///{tmp_workdir / 'c.db'}", tmp_workdir), start_ingest=False)
    with TestClient(app, follow_redirects=False) as c:
        resp = c.get("/login", params={"next": value})
        assert (resp.status_code, resp.headers.get("location")) == (303, "/login")


def test_login_page_keeps_a_next_of_the_site(tmp_workdir: Path) -> None:
    app = create_app(config(f"sqlite:///{tmp_workdir / 'c.db'}", tmp_workdir), start_ingest=False)
    with TestClient(app, follow_redirects=False) as c:
        for value in SITE_NEXT:
            assert safe_next(value) == value
            assert c.get("/login", params={"next": value}).status_code == 200, value


# --- item 8: the feed's Origin, CSRF of cookie-authenticated changes ---------------------------

OWN = "http://testserver"  # the TestClient's Host
OTHER_PORT = "http://testserver:8081"  # same site, another origin: the browser still sends the cookie


def test_feed_refuses_a_page_of_another_origin(db_url: str, tmp_workdir: Path) -> None:
    app = create_app(
        config(db_url, tmp_workdir, security={"allowed_origins": ["https://console.example.cn"]}),
        start_ingest=False,
    )
    with TestClient(app) as c:
        mini_park(app.state.session_factory)
        login(c, ROLE_USERS["operator"][0])
        for origin in (OTHER_PORT, "http://evil.example", "null"):
            with (
                pytest.raises(WebSocketDisconnect) as info,
                c.websocket_connect("/ws/alerts", headers={"Origin": origin}) as ws,
            ):
                ws.receive_json()
            assert info.value.code == 1008, origin
        for headers in ({"Origin": OWN}, {"Origin": "https://console.example.cn"}, {}):
            with c.websocket_connect("/ws/alerts", headers=headers) as ws:  # {}: not a browser
                assert ws.receive_json()["type"] == "hello", headers


def test_cookie_changes_need_the_console_header_and_origin(client: TestClient) -> None:
    c = client
    token = login(c, ROLE_USERS["operator"][0])
    del c.headers["X-Requested-With"]  # a form or fetch() of another page: the cookie alone
    unknown = "/api/alerts/01a23c51-a7dd-731f-953f-1f437c0e6e71/acknowledge"
    for method, path in (("POST", "/api/auth/logout"), ("POST", "/api/risk/snapshot"), ("POST", unknown)):
        for headers in ({}, {"Origin": OTHER_PORT, **CONSOLE_HEADERS}, {"Sec-Fetch-Site": "same-site"}):
            resp = c.request(method, path, headers=headers)
            assert resp.status_code == 403 and "跨站请求被拒绝" in resp.json()["detail"], (path, headers)
    assert c.get("/api/auth/me").status_code == 200  # reads need nothing; the session lives on
    # the console's own requests pass; API clients with a bearer token need no header
    assert c.post(unknown, headers={"Origin": OWN, **CONSOLE_HEADERS}).status_code == 404
    assert c.post("/api/risk/snapshot", headers=CONSOLE_HEADERS).status_code == 200
    c.cookies.clear()
    assert c.post("/api/risk/snapshot", headers=bearer(token)).status_code == 200
    assert c.post("/api/auth/logout", headers=bearer(token)).status_code == 204


# --- item 10: login limits; X-Forwarded-For only from trusted proxies --------------------------


def audited_ips(app: Any, action: str) -> list[str]:
    with app.state.session_factory() as s:
        return list(
            s.scalars(select(AuditEntry.ip).where(AuditEntry.action == action).order_by(AuditEntry.id))
        )


def test_spraying_many_names_from_one_address_is_limited(db_url: str, tmp_workdir: Path) -> None:
    app = create_app(config(db_url, tmp_workdir), start_ingest=False)
    with TestClient(app, client=("198.51.100.7", 40000)) as c:
        mini_park(app.state.session_factory)
        answers = [
            c.post("/api/auth/login", json={"username": f"staff-{n:02d}", "password": f"Guess-{p}-2025"})
            for n in range(12)
            for p in range(5)
        ]
        codes = [r.status_code for r in answers]
        assert codes[:20] == [401] * 20 and set(codes[20:]) == {429}, codes  # 20 failures an address
        assert int(answers[-1].headers["Retry-After"]) > 0
        # even a right password waits at that address; another address is not held up
        right = {"username": ROLE_USERS["operator"][0], "password": PASSWORD}
        assert c.post("/api/auth/login", json=right).status_code == 429
    with TestClient(app, client=("198.51.100.8", 40000)) as other:
        assert other.post("/api/auth/login", json=right).status_code == 200
    assert set(audited_ips(app, "login_failed")) == {"198.51.100.7"}


def test_forwarded_for_is_read_only_from_trusted_proxies(db_url: str, tmp_workdir: Path) -> None:
    app = create_app(
        config(db_url, tmp_workdir, security={"trusted_proxies": ["10.0.0.0/24", "fd00::/8"]}),
        start_ingest=False,
    )
    wrong = {"username": ROLE_USERS["operator"][0], "password": "Wrong-guess-2025"}
    with TestClient(app, client=("10.0.0.2", 40000)) as proxy:  # a trusted proxy
        mini_park(app.state.session_factory)
        for forwarded in ("203.0.113.5", "6.6.6.6, 203.0.113.5", "203.0.113.5, 10.0.0.3", "not-an-ip"):
            proxy.post("/api/auth/login", json=wrong, headers={"X-Forwarded-For": forwarded})
    with TestClient(app, client=("192.0.2.9", 40000)) as direct:  # not a proxy: its header is ignored
        for n in range(6):
            resp = direct.post("/api/auth/login", json=wrong, headers={"X-Forwarded-For": f"203.0.113.{n}"})
        assert resp.status_code == 429  # rotating the header does not get around the limit
    assert audited_ips(app, "login_failed") == ["203.0.113.5"] * 3 + ["10.0.0.2"] + ["192.0.2.9"] * 5


# --- item 11: the password policy ----------------------------------------------------------------

WEAK = {
    "12345678": "至少 10 个字符",
    "1234567890": "最常用的",
    "aaaaaaaaaa": "重复",
    " " * 10: "重复",
    "Password123": "常用的密码",
    "qwertyuiop": "最常用的",
}


def test_weak_passwords_are_refused_for_every_role_with_the_reason(client: TestClient) -> None:
    c = client
    admin = bearer(login(c, ROLE_USERS["admin"][0]))
    for role in ("admin", "operator", "government", "enterprise", "insurer", "edge"):
        for password, why in WEAK.items():
            body = {"username": f"new-{role}", "password": password, "role": role}
            resp = c.post("/api/users", json=body, headers=admin)
            assert resp.status_code == 422, (role, password, resp.text)
            [error] = resp.json()["detail"]
            assert error["loc"] == ["body", "password"] and why in error["msg"], (password, error)
    for password, why in {"root-admin": "相同", "xx-Root-Admin-2025": "包含用户名"}.items():
        resp = c.post("/api/users", json={"username": "root-admin", "password": password, "role": "admin"},
                      headers=admin)  # fmt: skip
        assert resp.status_code == 422 and why in resp.json()["detail"][0]["msg"], resp.text
    strong = {"username": "root-admin", "password": "Violet-harbour-93", "role": "admin"}
    made = c.post("/api/users", json=strong, headers=admin)
    assert made.status_code == 201, made.text
    assert (
        c.get("/api/users", headers=admin, params={"role": "admin"}).json()["total"] == 2
    )  # no weak one got in


def test_a_reset_password_passes_the_policy_too(client: TestClient) -> None:
    c = client
    admin = bearer(login(c, ROLE_USERS["admin"][0]))
    users = c.get("/api/users", headers=admin).json()["items"]
    uid = next(u["id"] for u in users if u["username"] == "u-ent-a")
    for password in ("1234567890", "my-u-ent-a-2025", " " * 12):
        resp = c.patch(f"/api/users/{uid}", json={"password": password}, headers=admin)
        assert resp.status_code == 422 and resp.json()["detail"][0]["loc"] == ["body", "password"], resp.text
    assert login(c, "u-ent-a")  # the old password still works: nothing was changed
    assert (
        c.patch(f"/api/users/{uid}", json={"password": "Walnut-meadow-28"}, headers=admin).status_code == 200
    )


def test_the_cli_refuses_a_weak_password(tmp_workdir: Path) -> None:
    path = tmp_workdir / "center.yaml"
    path.write_text('site: yijia\ndatabase: {url: "sqlite:///center.db"}\n', encoding="utf-8")
    args = [BIN, "user", "add", "--config", path, "--username", "chief", "--role", "admin"]
    weak = subprocess.run(args, input="chief12345\n", text=True, capture_output=True, timeout=60)
    assert weak.returncode == 1 and "密码不能包含用户名" in weak.stderr, weak.stderr
    strong = subprocess.run(args, input="Granite-sparrow-61\n", text=True, capture_output=True, timeout=60)
    assert strong.returncode == 0, strong.stderr


def test_only_a_trusted_proxy_is_one(tmp_workdir: Path) -> None:
    cfg = config(
        f"sqlite:///{tmp_workdir / 'c.db'}", tmp_workdir, security={"trusted_proxies": ["10.0.0.0/24"]}
    )
    app = create_app(cfg, start_ingest=False)
    for peer, trusted in (("10.0.0.7", True), ("10.0.1.7", False), ("testclient", False)):
        scope = {"type": "http", "app": app, "client": (peer, 1), "headers": [], "query_string": b""}
        assert from_trusted_proxy(Request(scope)) is trusted, peer
