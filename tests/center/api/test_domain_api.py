"""Enterprises, alerts' verdicts, hazards' rectification loop, evidence, 全安码, users, seed —
through the HTTP API, on SQLite and on PostgreSQL."""

from __future__ import annotations

import csv
import hashlib
import io
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from starlette.websockets import WebSocketDisconnect

from center.api.evidence.service import retention
from center.app import create_app
from center.config import CenterConfig
from center.domain import creditcode
from center.ingest.upsert import apply_alert
from center.seed import ENTERPRISES, seed
from center.store import db
from center.store.models import (
    Alert,
    AuditEntry,
    Camera,
    Enterprise,
    EvidenceFile,
    Hazard,
    InsurancePolicy,
    Node,
    User,
)
from protocol import AlertEvent, new_event_id, now_ms
from tests.centerkit import CODE_A, ENT_A, ENT_B, PASSWORD, ROLE_USERS, add_user, bearer, login, mini_park

SITE = "yijia"
HOUR = 3_600_000
JPEG = b"\xff\xd8\xff\xe0" + b"parkguard-test-photo" * 10


def center_config(db_url: str, workdir: Path) -> CenterConfig:
    return CenterConfig.model_validate(
        {
            "site": SITE,
            "site_name": "毅佳工业园",
            "database": {"url": db_url},
            "evidence_dir": str(workdir / "evidence"),
            "mqtt": {"client_id": "test-domain"},
        }
    )


class Park:
    def __init__(self, client: TestClient) -> None:
        self.client = client
        self.app: Any = client.app
        self.factory = self.app.state.session_factory
        self._tokens: dict[str, str] = {}

    def h(self, role: str) -> dict[str, str]:
        """Authorization headers of the role's user (logged in once)."""
        if role not in self._tokens:
            self._tokens[role] = login(self.client, ROLE_USERS[role][0])
            self.client.cookies.clear()
        return bearer(self._tokens[role])

    def alert(self, camera: str = "cam-a1", enterprise: str | None = ENT_A, **fields: Any) -> str:
        data: dict[str, Any] = {
            "event_id": new_event_id(),
            "phase": "new",
            "seq": 0,
            "site": SITE,
            "node": "edge-01",
            "camera": camera,
            "enterprise": enterprise,
            "rule_id": f"{camera}-intrusion",
            "rule_type": "intrusion",
            "severity": "significant",
            "started_ms": now_ms() - HOUR,
            "last_ms": now_ms() - HOUR,
        }
        data.update(fields)
        with self.factory.begin() as s:
            apply_alert(s, AlertEvent.model_validate(data), now_ms())
        return data["event_id"]

    def upload(self, role: str, data: bytes = JPEG, content_type: str = "image/jpeg") -> str:
        sha = hashlib.sha256(data).hexdigest()
        query = "?camera=cam-a1" if role == "edge" else ""  # an edge node names the camera (its own)
        resp = self.client.put(
            f"/api/evidence/{sha}{query}",
            content=data,
            headers={**self.h(role), "Content-Type": content_type},
        )
        assert resp.status_code in (200, 201), resp.text  # 201: stored now, 200: it was already
        return sha

    def count(self, model: Any) -> int:
        with self.factory() as s:
            return int(s.scalar(select(func.count()).select_from(model)) or 0)


@pytest.fixture
def park(db_url: str, tmp_workdir: Path) -> Iterator[Park]:
    app = create_app(center_config(db_url, tmp_workdir), start_ingest=False)
    with TestClient(app) as client:
        mini_park(app.state.session_factory)
        yield Park(client)


def detail(resp: Any) -> Any:
    return resp.json()["detail"]


# --- login -----------------------------------------------------------------------------------


def test_login_me_logout(park: Park) -> None:
    c = park.client
    assert c.get("/api/auth/me").status_code == 401
    bad = c.post("/api/auth/login", json={"username": "u-operator", "password": "wrong-password"})
    assert bad.status_code == 401 and "密码错误" in detail(bad)
    assert c.post("/api/auth/login", json={"username": "nobody", "password": "x"}).status_code == 401
    h = park.h("operator")
    me = c.get("/api/auth/me", headers=h).json()
    assert (me["username"], me["role"], me["role_label"]) == ("u-operator", "operator", "管控中心值班员")
    assert c.post("/api/auth/logout", headers=h).status_code == 204
    assert c.get("/api/auth/me", headers=h).status_code == 401  # the token died with the session
    with park.factory() as s:
        actions = [a for (a,) in s.execute(select(AuditEntry.action).order_by(AuditEntry.id))]
    assert actions.count("login_failed") == 2 and "login" in actions and "logout" in actions


def test_login_rate_limit(park: Park) -> None:
    c = park.client
    for _ in range(5):
        assert c.post("/api/auth/login", json={"username": "u-gov", "password": "wrong!"}).status_code == 401
    limited = c.post("/api/auth/login", json={"username": "u-gov", "password": PASSWORD})
    assert limited.status_code == 429 and int(limited.headers["Retry-After"]) > 0
    assert login(c, "u-operator")  # other users are not held up


def test_disabled_user_cannot_log_in_and_loses_sessions(park: Park) -> None:
    h = park.h("enterprise")
    users = park.client.get("/api/users", headers=park.h("admin")).json()["items"]
    uid = next(u["id"] for u in users if u["username"] == "u-ent-a")
    resp = park.client.patch(f"/api/users/{uid}", json={"active": False}, headers=park.h("admin"))
    assert resp.status_code == 200 and resp.json()["active"] is False
    assert park.client.get("/api/auth/me", headers=h).status_code == 401
    assert (
        park.client.post("/api/auth/login", json={"username": "u-ent-a", "password": PASSWORD}).status_code
        == 401
    )


def test_create_user_validation(park: Park) -> None:
    admin = park.h("admin")
    body = {"username": "new-ent", "password": "long-enough-1", "role": "enterprise"}
    resp = park.client.post("/api/users", json=body, headers=admin)
    assert resp.status_code == 422 and detail(resp)[0]["loc"] == ["body", "enterprise_id"]
    resp = park.client.post("/api/users", json={**body, "enterprise_id": "no-such"}, headers=admin)
    assert resp.status_code == 422 and detail(resp)[0]["loc"] == ["body", "enterprise_id"]
    resp = park.client.post("/api/users", json={**body, "password": "short"}, headers=admin)
    assert resp.status_code == 422 and detail(resp)[0]["loc"] == ["body", "password"]
    ok = park.client.post("/api/users", json={**body, "enterprise_id": ENT_B}, headers=admin)
    assert ok.status_code == 201, ok.text
    again = park.client.post("/api/users", json={**body, "enterprise_id": ENT_B}, headers=admin)
    assert again.status_code == 409 and "taken" in detail(again)
    with park.factory() as s:
        stored = s.scalars(select(User).where(User.username == "new-ent")).one()
        assert stored.password_hash.startswith("$argon2id$") and "long-enough-1" not in stored.password_hash


# --- alerts ----------------------------------------------------------------------------------


def test_alert_verdicts_and_false_alarm_precision(park: Park) -> None:
    c, op = park.client, park.h("operator")
    a1, a2, a3 = park.alert(), park.alert(), park.alert(camera="cam-b1", enterprise=ENT_B)
    r = c.post(f"/api/alerts/{a1}/acknowledge", headers=op)
    assert r.status_code == 200 and (r.json()["status"], r.json()["handled_by"]) == (
        "acknowledged",
        "u-operator",
    )
    assert c.post(f"/api/alerts/{a1}/acknowledge", headers=op).status_code == 200  # idempotent
    no_reason = c.post(f"/api/alerts/{a2}/dismiss", json={}, headers=op)
    assert no_reason.status_code == 422 and detail(no_reason)[0]["loc"] == ["body", "reason"]
    d = c.post(f"/api/alerts/{a2}/dismiss", json={"reason": "误检：设备阴影"}, headers=op).json()
    assert (d["status"], d["dismiss_reason"]) == ("dismissed", "误检：设备阴影")
    again = c.post(f"/api/alerts/{a2}/dismiss", json={"reason": "again"}, headers=op)
    assert again.status_code == 409 and "already dismissed" in detail(again)
    esc = c.post(f"/api/alerts/{a2}/escalate", json={}, headers=op)
    assert esc.status_code == 409 and "false alarm" in detail(esc)
    assert c.post(f"/api/alerts/{a2}/acknowledge", headers=op).status_code == 409
    assert c.post(f"/api/alerts/{new_event_id()}/acknowledge", headers=op).status_code == 404
    # the dismissed alert is kept and counted
    assert c.get(f"/api/alerts/{a2}", headers=op).json()["status"] == "dismissed"
    p = c.get("/api/alerts/precision", headers=op).json()
    cam = {row["key"]: row for row in p["by_camera"]}
    assert cam["cam-a1"] == {
        "key": "cam-a1",
        "total": 2,
        "confirmed": 1,
        "dismissed": 1,
        "unreviewed": 0,
        "precision": 0.5,
    }
    assert cam["cam-b1"]["precision"] is None and cam["cam-b1"]["unreviewed"] == 1
    rule = {row["key"]: row for row in p["by_rule"]}
    assert rule["cam-a1-intrusion"]["dismissed"] == 1
    assert a3 in {
        a["event_id"] for a in c.get("/api/alerts", params={"status": "open"}, headers=op).json()["items"]
    }
    # filters and pagination
    page = c.get("/api/alerts", params={"enterprise_id": ENT_A, "limit": 1}, headers=op).json()
    assert (page["total"], len(page["items"])) == (2, 1)


def test_ingest_fills_the_enterprise_from_the_camera(park: Park) -> None:
    eid = park.alert(camera="cam-b1", enterprise=None)
    with park.factory() as s:
        assert s.get(Alert, eid).enterprise == ENT_B  # type: ignore[union-attr]


# --- hazards: the rectification loop ----------------------------------------------------------


def test_rectification_loop_end_to_end(park: Park) -> None:
    c, op, ent = park.client, park.h("operator"), park.h("enterprise")
    snapshot = hashlib.sha256(b"snapshot").hexdigest()
    ev = {"kind": "snapshot", "sha256": snapshot, "content_type": "image/jpeg", "size": 8}
    alert = park.alert(evidence=[ev])

    created = c.post(
        f"/api/alerts/{alert}/escalate",
        json={"level": "major", "deadline_days": 5, "assignee": "陈工"},
        headers=op,
    )
    assert created.status_code == 201, created.text
    h = created.json()
    hid = h["id"]
    assert (h["status"], h["status_label"], h["level_label"], h["source"]) == (
        "pending",
        "待整改",
        "重大",
        "ai",
    )
    assert h["before_evidence"] == [snapshot] and h["alert_id"] == alert and h["enterprise_id"] == ENT_A
    assert h["code"].startswith("YH-") and h["overdue"] is False
    a = c.get(f"/api/alerts/{alert}", headers=op).json()
    assert (a["status"], a["hazard_id"]) == ("escalated", hid)
    assert c.post(f"/api/alerts/{alert}/escalate", json={}, headers=op).status_code == 409

    # closing what was never rectified: 409 with the reason, nothing changes
    audit_before = park.count(AuditEntry)
    never = c.post(f"/api/hazards/{hid}/approve", json={}, headers=op)
    assert never.status_code == 409 and "never rectified" in detail(never)
    assert c.post(f"/api/hazards/{hid}/submit", json={"rectification": "done", "after_evidence": [snapshot]},
                  headers=ent).status_code == 409  # fmt: skip
    assert park.count(AuditEntry) == audit_before

    # the enterprise starts, uploads its photo and submits
    assert c.post(f"/api/hazards/{hid}/approve", json={}, headers=ent).status_code == 403  # it cannot review
    started = c.post(f"/api/hazards/{hid}/start", json={"note": "已安排"}, headers=ent)
    assert started.status_code == 200 and started.json()["status"] == "in_progress"
    assert c.post(f"/api/hazards/{hid}/start", json={}, headers=ent).status_code == 409
    missing = c.post(f"/api/hazards/{hid}/submit", json={"rectification": "已整改"}, headers=ent)
    assert missing.status_code == 422 and detail(missing)[0]["loc"] == ["body", "after_evidence"]
    unknown = c.post(
        f"/api/hazards/{hid}/submit",
        json={"rectification": "已整改", "after_evidence": ["e" * 64]},
        headers=ent,
    )
    assert unknown.status_code == 422 and detail(unknown)[0]["loc"] == ["body", "after_evidence", 0]
    assert c.get(f"/api/hazards/{hid}", headers=ent).json()["status"] == "in_progress"  # nothing half-written
    photo = park.upload("enterprise")
    fix = {"rectification": "已加装防护罩", "after_evidence": [photo]}
    sub = c.post(f"/api/hazards/{hid}/submit", json=fix, headers=ent)
    assert (
        sub.status_code == 200
        and sub.json()["status"] == "review"
        and sub.json()["after_evidence"] == [photo]
    )

    # the park sends it back once, then accepts it
    no_reason = c.post(f"/api/hazards/{hid}/reject", json={}, headers=op)
    assert no_reason.status_code == 422 and detail(no_reason)[0]["loc"] == ["body", "note"]
    back = c.post(f"/api/hazards/{hid}/reject", json={"note": "照片不清楚"}, headers=op)
    assert back.status_code == 200 and back.json()["status"] == "in_progress"
    c.post(
        f"/api/hazards/{hid}/submit",
        json={"rectification": "补拍照片", "after_evidence": [photo]},
        headers=ent,
    )
    closed = c.post(f"/api/hazards/{hid}/approve", json={"note": "复核通过"}, headers=op)
    assert closed.status_code == 200
    body = closed.json()
    assert (body["status"], body["status_label"], body["overdue"]) == ("closed", "已销号", False)
    assert body["closed_at"] and body["review_note"] == "复核通过"
    assert [(s["action"], s["to_status"]) for s in body["history"]] == [
        ("create", "pending"),
        ("start", "in_progress"),
        ("submit", "review"),
        ("reject", "in_progress"),
        ("submit", "review"),
        ("approve", "closed"),
    ]
    again = c.post(f"/api/hazards/{hid}/approve", json={}, headers=op)
    assert again.status_code == 409 and "already closed" in detail(again)
    assert c.patch(f"/api/hazards/{hid}", json={"assignee": "x"}, headers=op).status_code == 409
    # another enterprise's user never sees it
    with park.factory() as s:
        from tests.centerkit import add_user

        add_user(park.factory, "u-ent-b", "enterprise", enterprise_id=ENT_B)
        s.commit()
    other = bearer(login(c, "u-ent-b"))
    assert c.get(f"/api/hazards/{hid}", headers=other).status_code == 404
    assert c.post(f"/api/hazards/{hid}/start", json={}, headers=other).status_code == 404
    assert c.get("/api/hazards", headers=other).json()["items"] == []
    # every step is in the audit log
    log = c.get("/api/audit", params={"limit": 100}, headers=park.h("admin")).json()["items"]
    actions = {e["action"] for e in log}
    assert {"escalate_alert", "start_hazard", "submit_hazard", "reject_hazard", "approve_hazard"} <= actions


def test_inspection_hazard_overdue_and_filters(park: Park) -> None:
    c, op = park.client, park.h("operator")
    new = {"enterprise_id": ENT_A, "title": "消防通道堆放杂物", "deadline_days": 3}
    made = c.post("/api/hazards", json=new, headers=op)
    assert made.status_code == 201 and made.json()["source"] == "inspection"
    hid = made.json()["id"]
    assert c.get("/api/hazards", params={"overdue": True}, headers=op).json()["total"] == 0
    with park.factory.begin() as s:
        s.get(Hazard, hid).deadline_ms = now_ms() - HOUR  # type: ignore[union-attr]
    assert c.get(f"/api/hazards/{hid}", headers=op).json()["overdue"] is True
    overdue = c.get("/api/hazards", params={"overdue": True, "status": "pending"}, headers=op).json()
    assert [h["id"] for h in overdue["items"]] == [hid]
    risk = c.get(f"/api/enterprises/{ENT_A}/risk", headers=op).json()
    terms = {t["key"]: t["points"] for t in risk["terms"]}
    assert terms["overdue_hazards"] == 6.0 and terms["open_hazards"] == 4.0
    # moving the deadline clears it
    moved = c.patch(f"/api/hazards/{hid}", json={"deadline_days": 10, "assignee": "李伟"}, headers=op).json()
    assert moved["overdue"] is False and moved["assignee"] == "李伟"


def test_bad_input_404_422_409(park: Park) -> None:
    c, op, admin = park.client, park.h("operator"), park.h("admin")
    assert c.get("/api/enterprises/no-such", headers=op).status_code == 404
    assert c.get("/api/hazards/999999", headers=op).status_code == 404
    assert c.get("/api/hazards/abc", headers=op).status_code == 422
    assert c.patch("/api/users/424242", json={}, headers=admin).status_code == 404
    assert c.patch("/api/cameras/no-such", json={}, headers=op).status_code == 404
    ent = {"id": "new-co", "name": "新公司", "credit_code": CODE_A[:-1] + "0", "industry": "furniture"}
    bad = c.post("/api/enterprises", json=ent, headers=op)
    assert bad.status_code == 422 and detail(bad)[0]["loc"] == ["body", "credit_code"]
    assert "check character" in detail(bad)[0]["msg"]
    bad = c.post("/api/enterprises", json={**ent, "credit_code": "123"}, headers=op)
    assert bad.status_code == 422 and detail(bad)[0]["loc"] == ["body", "credit_code"]
    bad = c.post("/api/enterprises", json={**ent, "credit_code": CODE_A, "industry": "bakery"}, headers=op)
    assert bad.status_code == 422 and detail(bad)[0]["loc"] == ["body", "industry"]
    taken = c.post("/api/enterprises", json={**ent, "credit_code": CODE_A}, headers=op)
    assert taken.status_code == 409 and ENT_A in detail(taken)
    good_code = creditcode.make("9", "1", "440605", "MA4ABC12")
    made = c.post("/api/enterprises", json={**ent, "credit_code": good_code, "park_id": "yijia"}, headers=op)
    assert made.status_code == 201 and made.json()["industry_label"] == "家具制造"
    assert c.post("/api/enterprises", json={**ent, "credit_code": good_code}, headers=op).status_code == 409
    cam = c.post("/api/cameras", json={"id": "cam-x", "enterprise_id": "no-such"}, headers=op)
    assert cam.status_code == 422 and detail(cam)[0]["loc"] == ["body", "enterprise_id"]
    hz = c.post(
        "/api/hazards", json={"enterprise_id": ENT_A, "title": "x", "camera_id": "cam-b1"}, headers=op
    )
    assert hz.status_code == 422 and detail(hz)[0]["loc"] == ["body", "camera_id"]
    pol = {
        "enterprise_id": ENT_A,
        "insurer_id": "ins-1",
        "policy_no": "P-0001",
        "start_date": "2025-12-31",
        "end_date": "2025-01-01",
        "premium_cny": 1,
        "insured_headcount": 1,
    }
    bad = c.post("/api/policies", json=pol, headers=op)
    assert bad.status_code == 422 and detail(bad)[0]["loc"] == ["body", "end_date"]
    assert park.count(Camera) == 2 and park.count(Hazard) == 0  # nothing half-written


def test_a_camera_is_assigned_only_to_a_node_that_exists(park: Park) -> None:
    c, op = park.client, park.h("operator")
    made = c.post(
        "/api/cameras", json={"id": "cam-x", "enterprise_id": ENT_A, "node": "edge-nowhere"}, headers=op
    )
    assert made.status_code == 422 and detail(made)[0]["loc"] == ["body", "node"], made.text
    assert "edge-nowhere" in detail(made)[0]["msg"]
    moved = c.patch("/api/cameras/cam-a1", json={"node": "edge-nowhere"}, headers=op)
    assert moved.status_code == 422 and detail(moved)[0]["loc"] == ["body", "node"], moved.text
    with park.factory.begin() as s:  # the node registers itself when it first connects
        s.add(Node(site=SITE, node="edge-02", state="online", last_seen_ms=now_ms(), updated_ms=now_ms()))
    made = c.post("/api/cameras", json={"id": "cam-x", "enterprise_id": ENT_A, "node": "edge-02"}, headers=op)
    assert made.status_code == 201 and made.json()["node"] == "edge-02", made.text
    assert c.patch("/api/cameras/cam-a1", json={"node": "edge-02"}, headers=op).json()["node"] == "edge-02"
    with park.factory() as s:
        assert s.get(Camera, "cam-a1").node == "edge-02"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("method", "path", "body", "field"),
    [
        ("patch", "/api/users/{user}", {"active": 0}, "active"),
        ("patch", "/api/users/{user}", {"active": "false"}, "active"),
        ("post", "/api/cameras", {"id": "cam-s", "enterprise_id": ENT_A, "key_post": 1}, "key_post"),
        ("patch", "/api/cameras/cam-a1", {"key_post": "yes"}, "key_post"),
        ("patch", "/api/cameras/cam-a1", {"map_x": "0.5"}, "map_x"),
        (
            "post",
            "/api/hazards",
            {"enterprise_id": ENT_A, "title": "x", "deadline_days": "7"},
            "deadline_days",
        ),
        (
            "post",
            "/api/hazards",
            {"enterprise_id": ENT_A, "title": "x", "deadline_days": 7.0},
            "deadline_days",
        ),
        ("post", "/api/policies", {"insured_headcount": True}, "insured_headcount"),
        ("post", "/api/policies", {"premium_cny": "1000"}, "premium_cny"),
    ],
)
def test_booleans_and_numbers_are_not_coerced(
    park: Park, method: str, path: str, body: dict[str, Any], field: str
) -> None:
    """``{"active": 0}`` is not ``false``, ``"7"`` is not ``7``: strict types, a clear 422
    (issue 12, item 13)."""
    with park.factory() as s:
        gov = s.scalars(select(User.id).where(User.username == "u-gov")).one()
    if path == "/api/policies":
        body = {
            "enterprise_id": ENT_A, "insurer_id": "ins-2", "policy_no": "P-STRICT",
            "start_date": "2025-01-01", "end_date": "2025-12-31", "premium_cny": 1000.0,
            "insured_headcount": 10, **body,
        }  # fmt: skip
    resp = park.client.request(method, path.format(user=gov), json=body, headers=park.h("admin"))
    assert resp.status_code == 422, resp.text
    assert [e["loc"] for e in detail(resp)] == [["body", field]]
    with park.factory() as s:
        assert s.get(User, gov).active is True  # type: ignore[union-attr]
        assert s.get(Camera, "cam-a1").key_post is True  # type: ignore[union-attr]
    assert park.count(Hazard) == 0


def test_co_insurers_see_only_their_own_service_records(park: Park) -> None:
    """ins-1 and ins-2 both insure enterprise A: each sees its own records and those no insurer
    gave, never the other's, in the list and in the risk report (issue 12, item 13)."""
    c, op = park.client, park.h("operator")
    with park.factory.begin() as s:
        s.add(
            InsurancePolicy(
                enterprise_id=ENT_A, insurer_id="ins-2", policy_no="INS2-0001", start_date="2000-01-01",
                end_date="2999-12-31", premium_cny=500.0, insured_headcount=10, created_ms=now_ms(),
            )
        )  # fmt: skip
    add_user(park.factory, "u-ins-2", "insurer", insurer_id="ins-2")
    ins2 = bearer(login(c, "u-ins-2"))
    c.cookies.clear()
    ins1 = park.h("insurer")
    for who, headers in (("ins-1", ins1), ("ins-2", ins2)):
        body = {"kind": "training", "date": "2025-06-01", "summary": f"{who} 培训"}
        assert c.post(f"/api/enterprises/{ENT_A}/services", json=body, headers=headers).status_code == 201
    body = {"kind": "drill", "date": "2025-06-02", "summary": "企业自行演练"}
    assert c.post(f"/api/enterprises/{ENT_A}/services", json=body, headers=op).status_code == 201

    def seen(headers: dict[str, str]) -> set[tuple[str | None, str]]:
        listed = c.get(f"/api/enterprises/{ENT_A}/services", headers=headers)
        assert listed.status_code == 200, listed.text
        report = c.get(f"/api/enterprises/{ENT_A}/report", headers=headers)
        assert report.status_code == 200, report.text
        got = {(r["insurer_id"], r["summary"]) for r in listed.json()}
        assert {(r["insurer_id"], r["summary"]) for r in report.json()["services"]} == got
        return got

    assert seen(ins1) == {("ins-1", "ins-1 培训"), (None, "企业自行演练")}
    assert seen(ins2) == {("ins-2", "ins-2 培训"), (None, "企业自行演练")}
    assert len(seen(op)) == 3 and len(seen(park.h("enterprise"))) == 3


# --- scope by role ---------------------------------------------------------------------------


def test_enterprise_user_sees_only_its_own(park: Park) -> None:
    c, ent = park.client, park.h("enterprise")
    a, b = park.alert(), park.alert(camera="cam-b1", enterprise=ENT_B)
    assert [x["event_id"] for x in c.get("/api/alerts", headers=ent).json()["items"]] == [a]
    assert c.get(f"/api/alerts/{b}", headers=ent).status_code == 404
    assert c.get("/api/alerts", params={"enterprise_id": ENT_B}, headers=ent).json()["total"] == 0
    assert [e["id"] for e in c.get("/api/enterprises", headers=ent).json()["items"]] == [ENT_A]
    assert c.get(f"/api/enterprises/{ENT_B}", headers=ent).status_code == 404
    assert c.get(f"/api/enterprises/{ENT_B}/risk", headers=ent).status_code == 404
    assert [x["id"] for x in c.get("/api/cameras", headers=ent).json()["items"]] == ["cam-a1"]
    csv_text = c.get("/api/alerts/export.csv", headers=ent).text
    assert a in csv_text and b not in csv_text
    assert [r["enterprise_id"] for r in c.get("/api/risk", headers=ent).json()] == [ENT_A]


def test_insurer_sees_only_insured_and_never_evidence(park: Park) -> None:
    c, ins = park.client, park.h("insurer")
    park.alert()
    # ent-b's policy with ins-1 expired long ago: not insured now
    assert [e["id"] for e in c.get("/api/enterprises", headers=ins).json()["items"]] == [ENT_A]
    assert c.get(f"/api/enterprises/{ENT_B}/report", headers=ins).status_code == 404
    report = c.get(f"/api/enterprises/{ENT_A}/report", headers=ins)
    assert report.status_code == 200
    text = report.text
    assert "evidence" not in text and "objects" not in text and "sha256" not in text
    assert {p["insurer_id"] for p in report.json()["policies"]} == {"ins-1"}
    assert report.json()["alerts"]["total"] == 1
    for path in ("/api/alerts", f"/api/evidence/{'a' * 64}", "/api/hazards", "/api/alerts/export.csv"):
        assert c.get(path, headers=ins).status_code == 403, path
    policies = c.get("/api/policies", headers=ins).json()["items"]
    assert {p["policy_no"] for p in policies} == {"INS1-0001", "INS1-OLD"}
    made = c.post(f"/api/enterprises/{ENT_A}/services", json={"kind": "risk_diagnosis", "date": "2025-06-01",
                  "summary": "现场诊断"}, headers=ins)  # fmt: skip
    assert made.status_code == 201 and made.json()["insurer_id"] == "ins-1"
    assert c.post(f"/api/enterprises/{ENT_B}/services", json={"kind": "training", "date": "2025-06-01"},
                  headers=ins).status_code == 404  # fmt: skip


def test_websocket_authenticated_and_filtered_by_role(park: Park) -> None:
    c = park.client
    with pytest.raises(WebSocketDisconnect) as info, c.websocket_connect("/ws/alerts") as ws:
        ws.receive_json()
    assert info.value.code == 4401
    ins_token = park.h("insurer")["Authorization"][7:]
    with (
        pytest.raises(WebSocketDisconnect) as info,
        c.websocket_connect(f"/ws/alerts?token={ins_token}") as ws,
    ):
        ws.receive_json()
    assert info.value.code == 4403
    ent_token = park.h("enterprise")["Authorization"][7:]
    op_token = park.h("operator")["Authorization"][7:]
    hub = park.app.state.hub
    with (
        c.websocket_connect(f"/ws/alerts?token={ent_token}") as ent_ws,
        c.websocket_connect(f"/ws/alerts?token={op_token}") as op_ws,
    ):
        assert ent_ws.receive_json()["role"] == "enterprise"
        assert op_ws.receive_json()["role"] == "operator"
        hub.publish_alert_threadsafe({"event_id": "b-1", "enterprise": ENT_B})
        hub.publish_alert_threadsafe({"event_id": "none-1", "enterprise": None})
        hub.publish_alert_threadsafe({"event_id": "a-1", "enterprise": ENT_A})
        assert [op_ws.receive_json()["alert"]["event_id"] for _ in range(3)] == ["b-1", "none-1", "a-1"]
        assert ent_ws.receive_json()["alert"]["event_id"] == "a-1"  # the others never reached it


# --- evidence ----------------------------------------------------------------------------------


def test_evidence_upload_read_audit_and_scope(park: Park) -> None:
    c = park.client
    sha = park.upload("edge")
    wrong = c.put(
        f"/api/evidence/{'0' * 64}?camera=cam-a1",
        content=JPEG,
        headers={**park.h("edge"), "Content-Type": "image/jpeg"},
    )
    assert wrong.status_code == 422 and detail(wrong)[0]["loc"] == ["path", "sha256"]
    bad_type = c.put(
        f"/api/evidence/{sha}?camera=cam-a1",
        content=JPEG,
        headers={**park.h("edge"), "Content-Type": "text/plain"},
    )
    assert bad_type.status_code == 422
    again = c.put(
        f"/api/evidence/{sha}?camera=cam-a1",
        content=JPEG,
        headers={**park.h("edge"), "Content-Type": "image/jpeg"},
    )
    assert again.status_code == 200 and again.json()["created"] is False  # the first answer was 201
    # it is evidence of cam-a1, so enterprise A's; an alert of enterprise B citing it grants B nothing
    add_user(park.factory, "u-ent-b", "enterprise", enterprise_id=ENT_B)
    ent_b = bearer(login(c, "u-ent-b"))
    c.cookies.clear()
    park.alert(camera="cam-b1", enterprise=ENT_B, evidence=[{"kind": "snapshot", "sha256": sha,
               "content_type": "image/jpeg", "size": len(JPEG)}])  # fmt: skip
    assert c.get(f"/api/evidence/{sha}", headers=ent_b).status_code == 404
    got = c.get(f"/api/evidence/{sha}", headers=park.h("enterprise"))
    assert got.status_code == 200 and got.content == JPEG and got.headers["content-type"] == "image/jpeg"
    assert c.get(f"/api/evidence/{sha}", headers=park.h("government")).status_code == 200
    reads = c.get("/api/audit", params={"action": "read_evidence"}, headers=park.h("admin")).json()["items"]
    assert {(r["username"], r["target"]) for r in reads} == {
        ("u-ent-a", f"evidence:{sha}"),
        ("u-gov", f"evidence:{sha}"),
    }


def test_retention_by_age_and_quota(park: Park, tmp_workdir: Path) -> None:
    shas = [park.upload("edge", JPEG + bytes([i]) * 100) for i in range(4)]
    now = now_ms()
    with park.factory.begin() as s:
        for i, sha in enumerate(shas):  # stored 40, 30, 20, 10 days ago
            s.get(EvidenceFile, sha).stored_ms = now - (40 - 10 * i) * 86_400_000  # type: ignore[union-attr]
    size = len(JPEG) + 100
    with park.factory.begin() as s:
        dry = retention(s, tmp_workdir / "evidence", 35, None, dry_run=True)
    assert (dry["deleted_by_age"], dry["kept"]) == (1, 3) and park.count(EvidenceFile) == 4
    with park.factory.begin() as s:
        result = retention(s, tmp_workdir / "evidence", 35, 2 * size)
    assert (result["deleted_by_age"], result["deleted_by_quota"], result["kept"]) == (1, 1, 2)
    assert result["freed_bytes"] == 2 * size
    files = sorted(p.name[:64] for p in (tmp_workdir / "evidence").rglob("*.jpg"))
    assert files == sorted(shas[2:])


# --- 全安码 ------------------------------------------------------------------------------------


def test_qr_codes_and_card_by_viewer(park: Park) -> None:
    c = park.client
    png = c.get(f"/api/enterprises/{ENT_A}/qr.png", headers=park.h("operator"))
    assert (
        png.status_code == 200
        and png.content.startswith(b"\x89PNG")
        and png.headers["content-type"] == "image/png"
    )
    svg = c.get(f"/api/enterprises/{ENT_A}/qr.svg", headers=park.h("insurer"))
    assert svg.status_code == 200 and b"<svg" in svg.content
    public = c.get(f"/api/enterprises/{ENT_A}/qr.svg")  # public: it only encodes the card's URL
    assert public.status_code == 200 and public.content == svg.content
    anon = c.get(f"/api/enterprises/{ENT_A}/card").json()
    assert anon["updated_at"] and anon["updated_at"].endswith("Z")  # the last update, for anyone
    assert anon["viewer"] == "anonymous" and anon["name"] == "甲金属制品有限公司" and anon["level"] == "blue"
    assert anon["level_label"] == "蓝" and anon["score"] is None and anon["address"] is None
    own = c.get(f"/api/enterprises/{ENT_A}/card", headers=park.h("enterprise")).json()
    assert own["score"] == 0.0 and own["open_hazards"] == 0 and own["policies"] is None
    other = c.get(f"/api/enterprises/{ENT_B}/card", headers=park.h("enterprise")).json()
    assert other["score"] is None  # not its enterprise: what anyone sees
    ins = c.get(f"/api/enterprises/{ENT_A}/card", headers=park.h("insurer")).json()
    assert [p["policy_no"] for p in ins["policies"]] == ["INS1-0001"]
    assert c.get("/api/enterprises/nope/card").status_code == 404
    page = c.get(f"/e/{ENT_A}")
    assert page.status_code == 200 and f'content="{ENT_A}"' in page.text


def test_csv_exports(park: Park) -> None:
    c, op = park.client, park.h("operator")
    a = park.alert(rule_name="大门禁区")
    c.post("/api/hazards", json={"enterprise_id": ENT_A, "title": "配电房门未关"}, headers=op)
    alerts = c.get("/api/alerts/export.csv", headers=op)
    assert alerts.headers["content-type"].startswith("text/csv")
    lines = alerts.content.decode("utf-8-sig").splitlines()
    assert lines[0].startswith("event_id,started_at") and a in lines[1] and "大门禁区" in lines[1]
    hazards = c.get("/api/hazards/export.csv", params={"status": "pending"}, headers=op).content.decode(
        "utf-8-sig"
    )
    assert "配电房门未关" in hazards and "待整改" in hazards


def _csv_rows(resp: Any) -> list[dict[str, str]]:
    assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/csv"), resp.text
    return list(csv.DictReader(io.StringIO(resp.content.decode("utf-8-sig"))))


def test_alerts_csv_neutralises_formula_cells(park: Park) -> None:
    """rule_name comes from an edge node, dismiss_reason from an operator: neither may start a
    formula in a spreadsheet (OWASP CSV injection: = + - @ tab CR get a leading ')."""
    c, op = park.client, park.h("operator")
    names = ['=HYPERLINK("http://evil.example","x")', "+1+cmd|' /C calc'!A0", "-2+3", "@SUM(A1)", "\t=1+1"]
    ids = {park.alert(rule_name=name): name for name in names}
    dismissed = next(iter(ids))
    resp = c.post(f"/api/alerts/{dismissed}/dismiss", json={"reason": "=1+2 误检"}, headers=op)
    assert resp.status_code == 200, resp.text
    rows = {r["event_id"]: r for r in _csv_rows(c.get("/api/alerts/export.csv", headers=op))}
    assert {eid: rows[eid]["rule_name"] for eid in ids} == {eid: "'" + name for eid, name in ids.items()}
    assert rows[dismissed]["dismiss_reason"] == "'=1+2 误检"


def test_hazards_csv_neutralises_formula_cells(park: Park) -> None:
    """title and assignee are typed by people: neither may start a formula in a spreadsheet."""
    c, op = park.client, park.h("operator")
    cases = [("=cmd|' /C calc'!A0", "@陈国强"), ("+SUM(1,2)", "\r=1"), ("-1+1", "\t-1"), ("消防通道", "=2")]
    made = {}
    for title, assignee in cases:
        resp = c.post(
            "/api/hazards", json={"enterprise_id": ENT_A, "title": title, "assignee": assignee}, headers=op
        )
        assert resp.status_code == 201, resp.text
        made[str(resp.json()["id"])] = (title, assignee)
    rows = {r["id"]: r for r in _csv_rows(c.get("/api/hazards/export.csv", headers=op))}

    def safe(text: str) -> str:
        return "'" + text if text[0] in "=+-@\t\r" else text

    got = {hid: (rows[hid]["title"], rows[hid]["assignee"]) for hid in made}
    assert got == {hid: (safe(t), safe(a)) for hid, (t, a) in made.items()}


# --- seed ------------------------------------------------------------------------------------


def test_seed_is_idempotent_and_scores_differ(db_url: str, tmp_workdir: Path) -> None:
    config = center_config(db_url, tmp_workdir)
    engine = db.make_engine(db_url)
    db.upgrade(engine)
    factory = db.make_session_factory(engine)
    try:
        with factory.begin() as s:
            first = seed(s, config)
        assert first.created["enterprises"] == 8 and first.created["cameras"] == 30
        assert {role for _, role, _ in first.passwords} == {
            "admin", "operator", "government", "enterprise", "insurer", "edge", "service",
        }  # fmt: skip

        def counts() -> dict[str, int]:
            with factory() as s:
                return {m.__tablename__: s.scalar(select(func.count()).select_from(m)) or 0
                        for m in (Alert, Hazard, Enterprise, Camera, User)}  # fmt: skip

        before = counts()
        with factory.begin() as s:
            second = seed(s, config)
        assert second.created == {} and second.passwords == [] and counts() == before
        levels = {lv for _, _, lv in second.scores}
        assert len(levels) >= 3, second.scores
        with factory() as s:
            cam = s.get(Camera, "cam-yard-01")
            assert cam is not None and (cam.enterprise_id, cam.node) == ("yj-metal", "edge-01")
            assert all(creditcode.is_valid(e.credit_code) for e in s.scalars(select(Enterprise)))
            assert {e.industry for e in s.scalars(select(Enterprise))} >= {
                "metal_nonmetal_mining", "hazardous_chemicals", "metal_smelting", "fireworks",
                "industry_trade", "furniture", "machinery",
            }  # fmt: skip
        assert len(ENTERPRISES) == 8
    finally:
        engine.dispose()


@pytest.mark.slow  # three fresh interpreters
def test_seed_and_retention_cli(tmp_workdir: Path) -> None:
    cfg = tmp_workdir / "center.yaml"
    cfg.write_text(
        'site: yijia\nsite_name: 毅佳工业园\ndatabase: {url: "sqlite:///c.db"}\n', encoding="utf-8"
    )
    bin_ = Path(sys.executable).parent / "parkguard-center"
    first = subprocess.run([bin_, "seed", "--config", cfg], capture_output=True, text=True, timeout=120)
    assert first.returncode == 0, first.stderr
    assert "admin-demo" in first.stdout and "yj-metal" in first.stdout
    second = subprocess.run([bin_, "seed", "--config", cfg], capture_output=True, text=True, timeout=120)
    assert "nothing new" in second.stdout and "admin-demo" not in second.stdout
    ret = subprocess.run([bin_, "retention", "--config", cfg, "--dry-run"], capture_output=True, text=True)
    assert ret.returncode == 0 and "would delete 0 by age" in ret.stdout
