"""Helpers for the center's tests: users, logins, a seeded app (no fixtures here; see the tests)."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from center.models import Base, User
from center.security import hash_password
from protocol import now_ms

PASSWORD = "test-password-1"


def add_user(factory: sessionmaker[Session], username: str, role: str, **links: Any) -> None:
    with factory.begin() as s:
        s.add(
            User(
                username=username,
                display_name=username,
                role=role,
                password_hash=hash_password(links.pop("password", PASSWORD)),
                enterprise_id=links.get("enterprise_id"),
                insurer_id=links.get("insurer_id"),
                node=links.get("node"),
                active=True,
                created_ms=now_ms(),
            )
        )


def login(client: TestClient, username: str, password: str = PASSWORD) -> str:
    """Log in (the client keeps the cookie); returns the bearer token."""
    resp = client.post("/api/auth/login", json={"username": username, "password": password})
    assert resp.status_code == 200, resp.text
    return resp.json()["token"]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def empty_all(engine: Any) -> None:
    """Delete every row of the center's tables (children first)."""
    with engine.begin() as conn:
        for table in reversed(Base.metadata.sorted_tables):
            conn.execute(table.delete())


# --- a small park: two enterprises, one insurer, a user of every role ------------------------

ENT_A, ENT_B = "ent-a", "ent-b"
CODE_A = "91440605MA4UXY127E"  # valid 统一社会信用代码 (GB 32100-2015)
CODE_B = "91440605MA51HX3K2T"
ROLE_USERS = {
    "admin": ("u-admin", {}),
    "operator": ("u-operator", {}),
    "government": ("u-gov", {}),
    "enterprise": ("u-ent-a", {"enterprise_id": ENT_A}),
    "insurer": ("u-ins", {"insurer_id": "ins-1"}),
    "edge": ("u-edge", {"node": "edge-01"}),
}


def mini_park(factory: sessionmaker[Session]) -> None:
    from center.models import Camera, Enterprise, InsurancePolicy, Insurer, Park, Town

    now = now_ms()
    with factory.begin() as s:
        s.add(Town(id="shishan", name="狮山镇", district="南海区"))
        s.flush()
        s.add(Park(id="yijia", name="毅佳工业园", town_id="shishan", address=""))
        s.flush()
        for eid, code, name in [(ENT_A, CODE_A, "甲金属制品有限公司"), (ENT_B, CODE_B, "乙化工有限公司")]:
            s.add(
                Enterprise(
                    id=eid, park_id="yijia", town_id="shishan", name=name, credit_code=code,
                    industry="metal_smelting", address="", map_x=0.5, map_y=0.5, contacts=[],
                    created_ms=now, updated_ms=now,
                )
            )  # fmt: skip
        s.add(Insurer(id="ins-1", name="测试保险"))
        s.add(Insurer(id="ins-2", name="另一家保险"))
        s.flush()
        s.add(
            Camera(
                id="cam-a1",
                enterprise_id=ENT_A,
                node="edge-01",
                name="A1",
                post_name="",
                key_post=True,
                map_x=None,
                map_y=None,
                created_ms=now,
            )
        )
        s.add(
            Camera(
                id="cam-b1",
                enterprise_id=ENT_B,
                node="edge-01",
                name="B1",
                post_name="",
                key_post=False,
                map_x=None,
                map_y=None,
                created_ms=now,
            )
        )
        s.add(
            InsurancePolicy(
                enterprise_id=ENT_A,
                insurer_id="ins-1",
                policy_no="INS1-0001",
                start_date="2000-01-01",
                end_date="2999-12-31",
                premium_cny=1000.0,
                insured_headcount=10,
                created_ms=now,
            )
        )
        s.add(
            InsurancePolicy(
                enterprise_id=ENT_B,
                insurer_id="ins-1",
                policy_no="INS1-OLD",
                start_date="2000-01-01",
                end_date="2001-12-31",
                premium_cny=1000.0,
                insured_headcount=10,
                created_ms=now,
            )
        )
    for role, (username, links) in ROLE_USERS.items():
        add_user(factory, username, role, **dict(links))
