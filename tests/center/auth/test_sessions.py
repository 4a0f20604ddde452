"""Sessions end when they should: a password reset, disabling and enabling an account end every
session of the user (issue 12, item 9), and the live feed notices (item 2). Real SQLite and
PostgreSQL, real WebSockets through Starlette's test client."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update
from starlette.websockets import WebSocketDisconnect

from center.app import create_app
from center.auth.security import token_hash
from center.config import CenterConfig
from center.store.models import AuthSession
from protocol import now_ms
from tests.centerkit import ENT_A, PASSWORD, ROLE_USERS, bearer, login, mini_park

NEW_PASSWORD = "Ostrich-lantern-57"
ORIGIN = "http://testserver"
SAME_ORIGIN = {"Origin": ORIGIN}
BROWSER = {"Origin": ORIGIN, "X-Requested-With": "parkguard"}  # what center/web/common.js sends


def config(db_url: str, workdir: Path, **auth: Any) -> CenterConfig:
    return CenterConfig.model_validate(
        {
            "site": "yijia",
            "database": {"url": db_url},
            "evidence_dir": str(workdir / "evidence"),
            "mqtt": {"client_id": "test-sessions"},
            "auth": auth,
        }
    )


@pytest.fixture
def client(db_url: str, tmp_workdir: Path) -> Iterator[TestClient]:
    app = create_app(config(db_url, tmp_workdir, feed_recheck_s=0.5), start_ingest=False)
    with TestClient(app) as c:
        mini_park(app.state.session_factory)
        yield c


def token_of(c: TestClient, role: str, password: str = PASSWORD) -> str:
    token = login(c, ROLE_USERS[role][0], password)
    c.cookies.clear()
    return token


def user_id(c: TestClient, admin: dict[str, str], username: str) -> int:
    users = c.get("/api/users", headers=admin).json()["items"]
    return int(next(u["id"] for u in users if u["username"] == username))


def me(c: TestClient, token: str) -> int:
    return c.get("/api/auth/me", headers=bearer(token)).status_code


def test_password_reset_disable_and_enable_end_sessions(client: TestClient) -> None:
    c = client
    admin = bearer(token_of(c, "admin"))
    uid = user_id(c, admin, ROLE_USERS["enterprise"][0])
    first, second = token_of(c, "enterprise"), token_of(c, "enterprise")
    assert me(c, first) == me(c, second) == 200

    # a password reset ends both sessions; the new password opens a new one
    assert c.patch(f"/api/users/{uid}", json={"password": NEW_PASSWORD}, headers=admin).status_code == 200
    assert me(c, first) == me(c, second) == 401
    third = token_of(c, "enterprise", NEW_PASSWORD)
    assert me(c, third) == 200

    # disabling ends it; enabling again does not bring it back
    assert c.patch(f"/api/users/{uid}", json={"active": False}, headers=admin).status_code == 200
    assert me(c, third) == 401
    assert c.patch(f"/api/users/{uid}", json={"active": True}, headers=admin).status_code == 200
    assert me(c, third) == 401, "enabling the account again revived a token it had before"
    assert me(c, token_of(c, "enterprise", NEW_PASSWORD)) == 200

    # renaming ends nothing; other users' sessions are untouched
    fourth = token_of(c, "enterprise", NEW_PASSWORD)
    assert c.patch(f"/api/users/{uid}", json={"display_name": "甲安全员"}, headers=admin).status_code == 200
    assert me(c, fourth) == 200
    assert c.get("/api/auth/me", headers=admin).status_code == 200


# --- the live feed closes when its session ends (item 2) ---------------------------------------


def publish(c: TestClient, event_id: str) -> None:
    c.app.state.hub.publish_alert_threadsafe({"event_id": event_id, "enterprise": ENT_A})  # type: ignore[attr-defined]


def closed_without_alert(ws: Any) -> int:
    """The socket's close code; fails when an alert arrives first."""
    with pytest.raises(WebSocketDisconnect) as info:
        message = ws.receive_json()
        pytest.fail(f"the feed sent {message} after its session ended")
    return int(info.value.code)


def test_feed_closes_at_logout_through_its_cookie(client: TestClient) -> None:
    c = client
    login(c, ROLE_USERS["operator"][0])  # the browser's way: the session cookie, no token in the URL
    with c.websocket_connect("/ws/alerts", headers=SAME_ORIGIN) as ws:
        assert ws.receive_json()["user"] == ROLE_USERS["operator"][0]
        publish(c, "before-logout")
        assert ws.receive_json()["alert"]["event_id"] == "before-logout"
        assert c.post("/api/auth/logout", headers=BROWSER).status_code == 204
        publish(c, "after-logout")
        assert closed_without_alert(ws) == 4401


def test_feed_closes_when_the_user_is_disabled_or_its_password_reset(client: TestClient) -> None:
    c = client
    admin = bearer(token_of(c, "admin"))
    uid = user_id(c, admin, ROLE_USERS["enterprise"][0])
    for change in ({"active": False}, {"password": NEW_PASSWORD}):
        if change.get("active") is False:
            token = token_of(c, "enterprise")
        else:
            assert c.patch(f"/api/users/{uid}", json={"active": True}, headers=admin).status_code == 200
            token = token_of(c, "enterprise")
        with c.websocket_connect(f"/ws/alerts?token={token}") as ws:
            assert ws.receive_json()["type"] == "hello"
            publish(c, "before")
            assert ws.receive_json()["alert"]["event_id"] == "before"
            assert c.patch(f"/api/users/{uid}", json=change, headers=admin).status_code == 200
            publish(c, "after")
            assert closed_without_alert(ws) == 4401, change


def test_feed_closes_when_its_session_expires(client: TestClient) -> None:
    c = client
    token = token_of(c, "operator")
    with c.websocket_connect("/ws/alerts", headers=bearer(token)) as ws:
        assert ws.receive_json()["type"] == "hello"
        with c.app.state.session_factory.begin() as s:  # type: ignore[attr-defined]
            s.execute(
                update(AuthSession)
                .where(AuthSession.token_hash == token_hash(token))
                .values(expires_ms=now_ms() - 1)
            )
        started = time.monotonic()
        time.sleep(1.1)  # past the check before a send: this alert must not go out either
        publish(c, "after-expiry")
        assert closed_without_alert(ws) == 4401
        assert time.monotonic() - started < 3.0  # feed_recheck_s is 0.5 here
