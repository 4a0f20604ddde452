"""Helpers for the center's tests: databases, users, logins, a small park, alert messages,
waiting, and the center app running in the test's process (fixtures: tests/center/conftest.py)."""

from __future__ import annotations

import functools
import hashlib
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from argon2 import PasswordHasher
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from center.app import create_app
from center.config import parse_config
from center.domain import creditcode
from center.store import db
from center.store.models import Base, Camera, Enterprise, InsurancePolicy, Insurer, Park, Town, User
from protocol import now_ms

SITE = "yijia"
PASSWORD = "test-password-1"


def wait_for(
    predicate: Callable[[], Any], timeout: float = 10.0, what: str = "condition", step: float = 0.05
) -> Any:
    """The first true value of ``predicate``, polled every ``step`` s; AssertionError after ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(step)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def event(event_id: str, phase: str = "new", seq: int = 0, **fields: Any) -> dict[str, Any]:
    """An alert event message of site ``yijia`` as an edge node sends it (``fields`` override)."""
    t0 = fields.pop("started_ms", 1_750_000_000_000)
    msg: dict[str, Any] = {
        "v": 1,
        "event_id": event_id,
        "phase": phase,
        "seq": seq,
        "site": SITE,
        "node": "node-a",
        "camera": "cam-gate",
        "rule_id": "gate-intrusion",
        "rule_type": "intrusion",
        "rule_name": "大门禁区",
        "severity": "significant",
        "started_ms": t0,
        "last_ms": t0 + 1000 * seq,
        "count": 1,
        "score": 0.8,
    }
    msg.update(fields)
    return msg


def register_cameras(factory: sessionmaker[Session], cameras: dict[str, tuple[str, str]]) -> None:
    """Register ``{camera: (node, enterprise)}`` at the center, with any enterprise that is missing
    (the center takes an event only for a camera registered to the node that sends it)."""
    now = now_ms()
    with factory.begin() as s:
        for enterprise in sorted({e for _n, e in cameras.values()}):
            if s.get(Enterprise, enterprise) is None:
                code = creditcode.make(
                    "9", "1", "440605", hashlib.sha256(enterprise.encode()).hexdigest()[:8].upper()
                )
                s.add(
                    Enterprise(
                        id=enterprise, name=enterprise, credit_code=code, industry="machinery",
                        contacts=[], created_ms=now, updated_ms=now,
                    )
                )  # fmt: skip
        s.flush()
        for camera, (node, enterprise) in cameras.items():
            row = s.get(Camera, camera)
            if row is None:
                s.add(Camera(id=camera, enterprise_id=enterprise, node=node, created_ms=now))
            else:
                row.node, row.enterprise_id = node, enterprise


def register_cameras_at(url: str, cameras: dict[str, tuple[str, str]]) -> None:
    """:func:`register_cameras` in the database at ``url`` (a center running in another process)."""
    engine = db.make_engine(url)
    db.upgrade(engine)
    try:
        register_cameras(db.make_session_factory(engine), cameras)
    finally:
        engine.dispose()


def emptied(url: str) -> str:
    """The database at ``url`` migrated, with the center's tables emptied (a shared PostgreSQL)."""
    engine = db.make_engine(url)
    db.upgrade(engine)
    empty_all(engine)
    engine.dispose()
    return url


@contextmanager
def running_center(workdir: Path, mqtt_port: int) -> Iterator[TestClient]:
    """The center app in this process (ingest, API), logged in as an operator."""
    cfg = parse_config(
        {
            "site": SITE,
            "database": {"url": f"sqlite:///{workdir / 'center.db'}"},
            "mqtt": {"host": "127.0.0.1", "port": mqtt_port, "client_id": f"rc-{uuid.uuid4().hex[:6]}"},
        },
        "test",
        workdir,
    )
    app = create_app(cfg)
    with TestClient(app) as client:
        add_user(app.state.session_factory, "op", "operator")
        add_user(app.state.session_factory, "gov", "government")
        login(client, "op")
        wait_for(lambda: app.state.ingest.connected, 10, "center MQTT connection")
        yield client


# Test users' hashes: real argon2id, verified by the center's own verify_password, but with the
# smallest cost parameters so each of the suite's thousands of logins takes microseconds, not the
# ~0.1 s (more on a loaded machine) that the production parameters cost. Verification reads the
# parameters from the hash itself, so the login code under test is the production code.
_TEST_HASHER = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)


@functools.cache
def password_hash(password: str) -> str:
    """A real argon2id hash of a test password (cheap parameters, see above), made once per run."""
    return _TEST_HASHER.hash(password)


def add_user(factory: sessionmaker[Session], username: str, role: str, **links: Any) -> None:
    with factory.begin() as s:
        s.add(
            User(
                username=username,
                display_name=username,
                role=role,
                password_hash=password_hash(links.pop("password", PASSWORD)),
                enterprise_id=links.get("enterprise_id"),
                insurer_id=links.get("insurer_id"),
                node=links.get("node"),
                active=True,
                created_ms=now_ms(),
            )
        )


CONSOLE_HEADERS = {"X-Requested-With": "parkguard"}  # what center/web/common.js sends (CSRF check)


def login(client: TestClient, username: str, password: str = PASSWORD) -> str:
    """Log in (the client keeps the cookie and, like the console, sends its CSRF header from
    then on); returns the bearer token."""
    resp = client.post("/api/auth/login", json={"username": username, "password": password})
    assert resp.status_code == 200, resp.text
    client.headers.update(CONSOLE_HEADERS)
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
