"""The authorization matrix: every endpoint of the app × every role, generated from the app's
routes (a new endpoint without a policy in center/auth/policy.py fails here, and the app refuses
to start). Then data isolation: an enterprise never sees another's data, an insurer never
gets evidence. On the seeded demo park, on SQLite and on PostgreSQL."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.routing import APIRoute, APIWebSocketRoute
from fastapi.testclient import TestClient
from sqlalchemy import select
from starlette.websockets import WebSocketDisconnect

from center.app import create_app
from center.auth.policy import POLICY, Access, iter_routes, missing_policies
from center.config import CenterConfig
from center.ingest.process import process
from center.seed import demo_password, seed
from center.store.models import (
    Alert,
    Claim,
    Complaint,
    Hazard,
    ServiceRequest,
    ServiceStaff,
    ServiceTask,
    User,
)
from protocol import Topic, new_event_id, now_ms
from tests.centerkit import bearer, emptied, event

ROLES = ["anonymous", "admin", "operator", "government", "enterprise", "insurer", "edge", "service"]
USERS = {
    "admin": "admin",
    "operator": "operator",
    "government": "gov",
    "enterprise": "yjmetal",  # yj-metal
    "insurer": "picc",  # insures yj-metal, dj-machinery, sy-quarry
    "edge": "edge-01",
    "service": "svc-liu",  # 第三方服务人员 of 广东安评 (picc's, cpic's services)
}
SCOPE = {
    "enterprise": {"yj-metal"},
    "insurer": {"yj-metal", "dj-machinery", "sy-quarry"},
    # svc-liu serves picc's and cpic's insured (广东安评): the enterprises of its own tasks only
    "service": {"yj-metal", "dj-machinery", "sy-quarry", "lc-furniture", "hf-trade", "jl-alu"},
}
OWN, OTHER = "yj-metal", "hx-chem"  # hx-chem is insured by pingan: outside both scopes
PHOTO = b"\xff\xd8\xff\xe0authz-photo"
PHOTO_SHA = hashlib.sha256(PHOTO).hexdigest()
OTHER_PHOTO = b"\xff\xd8\xff\xe0other-photo"
OTHER_SHA = hashlib.sha256(OTHER_PHOTO).hexdigest()
EVIDENCE_KEYS = {"evidence", "before_evidence", "after_evidence", "objects"}


class Seeded:
    def __init__(self, client: TestClient) -> None:
        self.client = client
        self.app: Any = client.app
        self.tokens = {role: self.login(user) for role, user in USERS.items()}
        factory = self.app.state.session_factory
        with factory.begin() as s:
            self.ids = {OWN: self._ids(s, OWN, PHOTO_SHA), OTHER: self._ids(s, OTHER, OTHER_SHA)}
            self.ids[OWN]["user_id"] = str(s.scalars(select(User.id).where(User.username == "gov")).one())
        for data, camera in ((PHOTO, "cam-yard-01"), (OTHER_PHOTO, "cam-hx-tank")):
            sha = hashlib.sha256(data).hexdigest()
            resp = client.put(
                f"/api/evidence/{sha}?camera={camera}",  # edge-01's cameras (yj-metal's, hx-chem's)
                content=data,
                headers={**self.h("edge"), "content-type": "image/jpeg"},
            )
            assert resp.status_code == 201, resp.text

    def login(self, username: str) -> str:
        resp = self.client.post(
            "/api/auth/login", json={"username": username, "password": demo_password(username)}
        )
        assert resp.status_code == 200, resp.text
        self.client.cookies.clear()
        return resp.json()["token"]

    @staticmethod
    def _ids(s: Any, enterprise: str, sha: str) -> dict[str, str]:
        alert = s.scalars(
            select(Alert)
            .where(Alert.enterprise == enterprise, Alert.status == "open")
            .order_by(Alert.event_id)
        ).first()
        alert.evidence = [{"kind": "snapshot", "sha256": sha, "content_type": "image/jpeg", "size": 10}]
        hazard = s.scalars(
            select(Hazard).where(Hazard.enterprise_id == enterprise).order_by(Hazard.id)
        ).first()
        camera = "cam-yard-01" if enterprise == OWN else "cam-hx-tank"
        request = ServiceRequest(
            enterprise_id=enterprise,
            kind="training",
            text="矩阵测试的服务需求",
            status="open",
            created_by="seed",
            created_ms=now_ms(),
            reply="",
        )
        s.add(request)
        s.flush()
        # the service loop's rows of the seed: a task of the enterprise (for yj-metal one of svc-liu's)
        tasks = select(ServiceTask).where(ServiceTask.enterprise_id == enterprise).order_by(ServiceTask.id)
        if enterprise == OWN:
            mine = select(ServiceStaff.id).where(ServiceStaff.username == "svc-liu")
            tasks = tasks.where(ServiceTask.staff_id.in_(mine))
        task = s.scalars(tasks).first()
        complaint = s.scalars(select(Complaint).where(Complaint.enterprise_id == enterprise)).first()
        claim = s.scalars(select(Claim).where(Claim.enterprise_id == enterprise)).first()
        return {
            "task_id": str(task.id),
            "plan_id": str(task.plan_id),
            "complaint_id": str(complaint.id),
            "claim_id": str(claim.id),
            "org_id": "anping",
            "request_id": str(request.id),
            "enterprise_id": enterprise,
            "event_id": alert.event_id,
            "hazard_id": str(hazard.id),
            "camera_id": camera,
            "sha256": sha,
        }

    def h(self, role: str) -> dict[str, str]:
        return {} if role == "anonymous" else bearer(self.tokens[role])


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def seeded(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Seeded]:
    workdir = tmp_path_factory.mktemp("authz")
    if request.param == "sqlite":
        url = f"sqlite:///{workdir / 'center.db'}"
    else:
        url = emptied(request.getfixturevalue("pg_url"))
    config = CenterConfig.model_validate(
        {
            "site": "yijia",
            "database": {"url": url},
            "evidence_dir": str(workdir / "evidence"),
            "mqtt": {"client_id": "t"},
        }
    )
    app = create_app(config, start_ingest=False)
    with TestClient(app) as client:
        with app.state.session_factory.begin() as s:
            seed(s, config)
        yield Seeded(client)


def api_routes() -> list[tuple[str, str, str]]:
    """(route name, method, path) of every HTTP route of the app."""
    app = create_app(CenterConfig(site="yijia"), start_ingest=False)
    out = []
    for route in iter_routes(app.routes):
        if isinstance(route, APIRoute):
            for method in sorted(route.methods - {"HEAD"}):
                out.append((route.name, method, route.path))
    return out


ROUTES = api_routes()


def test_every_route_has_a_policy_and_every_policy_a_route() -> None:
    app = create_app(CenterConfig(site="yijia"), start_ingest=False)
    names = [r.name for r in iter_routes(app.routes) if isinstance(r, APIRoute | APIWebSocketRoute)]
    assert missing_policies(names) == []
    assert set(POLICY) == set(names), "stale entries in POLICY"
    assert len(ROUTES) >= 50


def sample_body(name: str, role: str, seeded: Seeded) -> dict[str, Any] | None:
    own = seeded.ids[OWN]
    return (
        {
            "login": {"username": "nobody", "password": "wrong-password"},
            "create_user": {"username": f"m-{role}", "password": "long-password-1", "role": "operator"},
            "update_user": {"display_name": "狮山镇应急办"},
            "create_enterprise": {
                "id": f"m-{role}",
                "name": "矩阵测试有限公司",
                "credit_code": "91440605MA4ABC12XW",
                "industry": "machinery",
            },
            "update_enterprise": {"address": "佛山市南海区狮山镇"},
            "create_camera": {"id": f"cam-m-{role}", "enterprise_id": OWN},
            "update_camera": {"post_name": "厂区主通道"},
            "create_policy": {
                "enterprise_id": OWN,
                "insurer_id": "picc",
                "policy_no": f"M-{role}",
                "start_date": "2025-01-01",
                "end_date": "2025-12-31",
                "premium_cny": 1000,
                "insured_headcount": 10,
            },
            "create_service": {"kind": "training", "date": "2025-06-01", "summary": "矩阵测试"},
            "dismiss_alert": {"reason": "误检：矩阵测试"},
            "escalate_alert": {"level": "general"},
            "create_hazard": {"enterprise_id": OWN, "title": "矩阵测试隐患"},
            "update_hazard": {"assignee": "陈国强"},
            "start_hazard": {},
            "submit_hazard": {"rectification": "已整改完毕", "after_evidence": [PHOTO_SHA]},
            "approve_hazard": {},
            "reject_hazard": {"note": "矩阵测试退回"},
            "create_service_request": {"kind": "training", "text": "矩阵测试：需要安全培训"},
            "answer_service_request": {"status": "accepted", "reply": f"矩阵测试受理 {role}"},
            "create_service_org": {"id": f"m-{role}", "name": "矩阵测试服务机构"},
            "create_service_staff": {"name": f"矩阵测试{role}"},
            "create_service_plan": {
                "policy_id": 1,
                "org_id": "anping",
                "items": [{"item": "training", "times": 1}],
            },
            "book_service_task": {"date": "2999-01-01"},
            "record_service_visit": {"record": "矩阵测试服务记录"},
            "follow_up_service_task": {"satisfaction": 5},
            "create_complaint": {"insurer_id": "picc", "text": "矩阵测试投诉"},
            "extend_complaint": {"reason": "矩阵测试"},
            "answer_complaint": {"answer": "矩阵测试答复"},
            "create_claim": {"policy_id": 1, "accident_date": "2026-01-05", "accident": "矩阵测试事故"},
            "advance_claim": {"to": "surveyed"},
        }.get(name)
        if own
        else None
    )


# Routes that render a PDF for seconds: the matrix asks them for a period in the future, which a
# caller the policy lets through gets answered with 422 after the access and scope checks (401, 403,
# 404 come first), so the matrix stays fast; tests/center/reports renders them for each role.
RENDERING = {"risk_report_pdf", "park_report_pdf"}
CHANGES_FROM_START = {"after": "0.0"}  # alert_changes needs a starting point: every change
FUTURE = {"from": "2999-01-01", "to": "2999-01-31"}


def call(seeded: Seeded, role: str, name: str, method: str, path: str, which: str = OWN) -> Any:
    ids = seeded.ids[which]
    url = re.sub(r"\{(\w+)\}", lambda m: ids.get(m.group(1), "x"), path)
    headers = seeded.h(role)
    if name == "logout" and role != "anonymous":
        headers = bearer(seeded.login(USERS[role]))  # a session of its own, so the matrix keeps its token
    if name == "upload_evidence":
        data = PHOTO if which == OWN else OTHER_PHOTO
        return seeded.client.request(
            method,
            url,
            params={"camera": ids["camera_id"]},  # an edge node names the camera (on its node)
            content=data,
            headers={**headers, "content-type": "image/jpeg"},
        )
    if name == "upload_photo":  # a photo from the console: the center hashes it
        data = PHOTO if which == OWN else OTHER_PHOTO
        return seeded.client.request(
            method, url, content=data, headers={**headers, "content-type": "image/jpeg"}
        )
    body = sample_body(name, role, seeded)
    params = FUTURE if name in RENDERING else CHANGES_FROM_START if name == "alert_changes" else None
    return seeded.client.request(method, url, json=body, headers=headers, params=params)


def expected_ok(name: str, role: str) -> bool:
    rule = POLICY[name]
    if rule is Access.SCRAPE:  # /metrics: scrape token or loopback (tests/center/test_metrics.py)
        return False
    return rule is Access.PUBLIC or (role != "anonymous" and role in rule)


@pytest.mark.parametrize(("name", "method", "path"), ROUTES, ids=[f"{m} {p}" for _, m, p in ROUTES])
def test_matrix(seeded: Seeded, name: str, method: str, path: str) -> None:
    """Each role: 401 without a login, 403 for a role the policy leaves out, never 401/403/5xx otherwise."""
    got = {}
    for role in ROLES:
        resp = call(seeded, role, name, method, path)
        got[role] = resp.status_code
        assert resp.status_code < 500, (role, resp.text)
        if expected_ok(name, role):
            assert resp.status_code not in (401, 403) or (name == "login" and resp.status_code == 401), (
                role,
                resp.text,
            )
        elif role == "anonymous":
            assert resp.status_code == 401, (role, resp.text)
        else:
            assert resp.status_code == 403, (role, resp.text)


def test_websocket_matrix(seeded: Seeded) -> None:
    allowed = POLICY["alerts_feed"]
    for role in ROLES:
        token = "" if role == "anonymous" else seeded.tokens[role]
        try:
            with seeded.client.websocket_connect(f"/ws/alerts?token={token}") as ws:
                hello = ws.receive_json()
            code = None
        except WebSocketDisconnect as exc:
            code = exc.code
        if role == "anonymous":
            assert code == 4401
        elif role in allowed:  # type: ignore[operator]
            assert code is None and hello["role"] == role
        else:
            assert code == 4403, role


OBJECT_PARAMS = (
    *("{enterprise_id}", "{event_id}", "{hazard_id}", "{sha256}", "{request_id}"),
    *("{plan_id}", "{task_id}", "{complaint_id}", "{claim_id}"),
)


def _enterprise_ids(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for key, item in value.items():
            if key in ("enterprise_id", "enterprise") and isinstance(item, str):
                yield item
            else:
                yield from _enterprise_ids(item)
    elif isinstance(value, list):
        for item in value:
            yield from _enterprise_ids(item)


def _keys(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from _keys(item)
    elif isinstance(value, list):
        for item in value:
            yield from _keys(item)


@pytest.mark.parametrize("role", ["enterprise", "insurer", "service"])
def test_scoped_roles_never_see_other_enterprises(seeded: Seeded, role: str) -> None:
    checked = 0
    for name, method, path in ROUTES:
        if not expected_ok(name, role) or POLICY[name] is Access.PUBLIC:
            continue
        if any(p in path for p in OBJECT_PARAMS):
            resp = call(seeded, role, name, method, path, which=OTHER)
            if name == "upload_evidence":  # uploading is not reading: it must not reveal anything
                assert resp.status_code in (200, 403), resp.text
                continue
            assert resp.status_code in (403, 404, 422), (name, resp.status_code, resp.text)
            checked += 1
        elif method == "GET":
            resp = call(seeded, role, name, method, path)
            if resp.headers.get("content-type", "").startswith("application/json"):
                seen = set(_enterprise_ids(resp.json()))
                assert seen <= SCOPE[role], (name, seen - SCOPE[role])
            elif resp.headers.get("content-type", "").startswith("text/csv"):
                text = resp.content.decode("utf-8-sig")
                assert OTHER not in text, name
            checked += 1
    assert checked >= (4 if role == "service" else 15)  # service staff: their tasks and photos only


ALERT_READS = ("/api/alerts", "/api/alerts/changes", "/api/alerts/export.csv", "/api/alerts/precision")


@pytest.mark.parametrize("path", ALERT_READS)
def test_an_officer_asking_for_another_enterprise_gets_nothing(seeded: Seeded, path: str) -> None:
    """The alert reads' filters cannot widen the scope: an enterprise officer naming another
    enterprise, its camera or its name in the search gets nothing of it (the park's staff do)."""
    other = seeded.ids[OTHER]
    name = "恒鑫化工"  # hx-chem's name, in the free-text search
    for params in ({"enterprise_id": OTHER}, {"camera": other["camera_id"]}, {"q": name}):
        query = {**params, **CHANGES_FROM_START} if path.endswith("/changes") else params
        officer = seeded.client.get(path, params=query, headers=seeded.h("enterprise"))
        operator = seeded.client.get(path, params=query, headers=seeded.h("operator"))
        assert officer.status_code == operator.status_code == 200, (params, officer.text)
        if path.endswith(".csv"):
            assert OTHER not in officer.content.decode("utf-8-sig"), params
            assert OTHER in operator.content.decode("utf-8-sig"), params
            continue
        body, staff = officer.json(), operator.json()
        if path.endswith("/precision"):  # filtered by enterprise and time only: the rest of the scope
            cameras = {row["key"] for row in body["by_camera"]}
            assert other["camera_id"] not in cameras, params
            if "enterprise_id" in params:
                assert body == {"by_rule": [], "by_camera": []} and staff["by_camera"], params
            continue
        assert body["items"] == [] and body.get("total", 0) == 0, params
        assert staff["items"] and {a["enterprise"] for a in staff["items"]} == {OTHER}, params


def test_insurer_never_gets_evidence_or_faces(seeded: Seeded) -> None:
    checked = 0
    for name, method, path in ROUTES:
        if method != "GET" or not expected_ok(name, "insurer"):
            continue
        resp = call(seeded, "insurer", name, method, path)
        if resp.status_code == 200 and resp.headers.get("content-type", "").startswith("application/json"):
            keys = set(_keys(resp.json()))
            assert not keys & EVIDENCE_KEYS, (name, keys & EVIDENCE_KEYS)
            assert PHOTO_SHA not in json.dumps(resp.json()), name
            checked += 1
    assert checked >= 10  # the answers looked at, so the loop cannot pass by seeing none
    for sha in (PHOTO_SHA, OTHER_SHA):
        assert seeded.client.get(f"/api/evidence/{sha}", headers=seeded.h("insurer")).status_code == 403


def test_the_matrix_figures(seeded: Seeded) -> None:
    """How big the matrix is (reported; it grows with the app)."""
    http = len(ROUTES)
    cells = (http + 1) * len(ROLES)
    print(f"authorization matrix: {http} HTTP endpoints + 1 WebSocket × {len(ROLES)} roles = {cells}")
    assert http * len(ROLES) >= 350


def test_policy_invariants() -> None:
    """What must stay true whatever the policy table grows into."""
    by_role = {
        role: {n for n, rule in POLICY.items() if isinstance(rule, frozenset) and role in rule}
        for role in ROLES[1:]
    }
    # one's own session and one's own notification subscriptions are not writes to the park's data,
    # nor is watching a camera live (the offer and its close are POSTs that change nothing stored)
    writes = {name for name, method, _ in ROUTES if method != "GET"} - {
        "login",
        "logout",
        "put_my_notifications",
        "live_offer",
        "live_close",
    }
    assert not by_role["government"] & writes, "government reads only"
    assert by_role["edge"] == {"logout", "me", "upload_evidence"}
    no_insurer = {"list_alerts", "get_alert", "export_alerts", "get_evidence", "list_hazards", "get_hazard"}
    assert not by_role["insurer"] & (no_insurer | {"export_hazards", "alerts_feed"})
    assert not by_role["insurer"] & {"live_cameras", "live_offer", "live_close"}, "an insurer gets no video"
    no_enterprise = {
        "list_users",
        "create_user",
        "update_user",
        "list_audit",
        "list_quarantine",
        "list_nodes",
    }
    assert not by_role["enterprise"] & (
        no_enterprise | {"approve_hazard", "reject_hazard", "answer_service_request"}
    )
    overviews = {"park_overview", "insurer_portfolio"}  # 园区总览, 承保企业: figures over many enterprises
    assert not by_role["enterprise"] & overviews and "park_overview" not in by_role["insurer"]
    assert "insurer_portfolio" in by_role["insurer"] and not {"insurer_portfolio"} & by_role["edge"]
    assert by_role["enterprise"] & {"create_service_request"} and not {"create_service_request"} & (
        by_role["insurer"] | by_role["government"] | by_role["operator"]
    )
    assert "upload_photo" in by_role["enterprise"] and not {"upload_photo"} & (
        by_role["insurer"] | by_role["edge"]
    )
    assert {"list_users", "create_user", "update_user", "list_audit"} <= by_role["admin"] - by_role[
        "operator"
    ]
    # 第三方服务人员: their tasks, the visit's record and photos; nothing else of the park
    assert by_role["service"] == {
        *("logout", "me", "list_service_tasks", "get_service_task", "book_service_task"),
        *("record_service_visit", "upload_photo", "my_service_tasks"),
    }
    # the enterprise's side of the loop is the enterprise's; claims advance by the insurer (or admin)
    assert {"confirm_service_task", "create_complaint"} <= by_role["enterprise"]
    assert not {"confirm_service_task", "create_complaint"} & (by_role["insurer"] | by_role["service"])
    assert "advance_claim" in by_role["insurer"] and "advance_claim" not in by_role["enterprise"]


def _in_progress_hazard(seeded: Seeded) -> int:
    """A new hazard of the officer's own enterprise, started (so it can be submitted)."""
    c = seeded.client
    resp = c.post(
        "/api/hazards", json={"enterprise_id": OWN, "title": "证据引用测试"}, headers=seeded.h("operator")
    )
    assert resp.status_code == 201, resp.text
    hid = int(resp.json()["id"])
    assert c.post(f"/api/hazards/{hid}/start", json={}, headers=seeded.h("enterprise")).status_code == 200
    return hid


def test_evidence_by_hash_grants_nothing(seeded: Seeded) -> None:
    """Knowing another enterprise's hash neither lets an officer cite it as 'after' evidence of
    its own hazard nor read it, and an alert citing it (as an edge node can) grants nothing either
    (issue 12, item 1). OTHER_SHA is a snapshot of hx-chem's camera; PHOTO_SHA of yj-metal's."""
    c, ent, op = seeded.client, seeded.h("enterprise"), seeded.h("operator")
    hid = _in_progress_hazard(seeded)
    body = {"rectification": "已整改完毕", "after_evidence": [OTHER_SHA]}
    cited = c.post(f"/api/hazards/{hid}/submit", json=body, headers=ent)
    unknown = c.post(f"/api/hazards/{hid}/submit", json={**body, "after_evidence": ["f" * 64]}, headers=ent)
    assert (cited.status_code, unknown.status_code) == (422, 422), cited.text
    # the same answer as for a file that does not exist: the hash is not confirmed
    assert cited.json()["detail"][0]["msg"].replace(OTHER_SHA, "f" * 64) == unknown.json()["detail"][0]["msg"]
    assert c.get(f"/api/hazards/{hid}", headers=ent).json()["after_evidence"] == []
    assert c.get(f"/api/evidence/{OTHER_SHA}", headers=ent).status_code == 404

    # one of its own enterprise's alerts cites hx-chem's file (a node can put any hash in a message)
    factory = seeded.app.state.session_factory
    with factory.begin() as s:
        alert = s.get(Alert, seeded.ids[OWN]["event_id"])
        saved = list(alert.evidence)
        alert.evidence = [*saved, {"kind": "snapshot", "sha256": OTHER_SHA, "content_type": "image/jpeg"}]
    try:
        assert c.get(f"/api/evidence/{OTHER_SHA}", headers=ent).status_code == 404
        # nor can the park's staff move it into a hazard of yj-metal (by the alert or by hand)
        made = c.post(
            "/api/hazards",
            json={"enterprise_id": OWN, "title": "跨企业证据", "before_evidence": [OTHER_SHA]},
            headers=op,
        )
        assert made.status_code == 422, made.text
    finally:
        with factory.begin() as s:
            s.get(Alert, seeded.ids[OWN]["event_id"]).evidence = saved

    # its own enterprise's file: cited and read; the park's staff and the government read both
    ok = c.post(f"/api/hazards/{hid}/submit", json={**body, "after_evidence": [PHOTO_SHA]}, headers=ent)
    assert ok.status_code == 200 and ok.json()["after_evidence"] == [PHOTO_SHA], ok.text
    assert c.get(f"/api/evidence/{PHOTO_SHA}", headers=ent).status_code == 200
    for role in ("operator", "government", "admin"):
        assert c.get(f"/api/evidence/{OTHER_SHA}", headers=seeded.h(role)).status_code == 200, role
    assert c.get(f"/api/evidence/{PHOTO_SHA}", headers=seeded.h("insurer")).status_code == 403


def test_evidence_an_officer_uploads_is_its_own(seeded: Seeded) -> None:
    """An officer's upload belongs to its enterprise: it cites and reads it; another enterprise's
    officer, knowing the hash, does neither; a staff upload is bound to the hazard it is cited in."""
    c = seeded.client
    photo = b"\xff\xd8\xff\xe0officer-after-photo"
    sha = hashlib.sha256(photo).hexdigest()
    put = c.put(
        f"/api/evidence/{sha}",
        content=photo,
        headers={**seeded.h("enterprise"), "content-type": "image/jpeg"},
    )
    assert put.status_code in (200, 201), put.text
    hid = _in_progress_hazard(seeded)
    ok = c.post(
        f"/api/hazards/{hid}/submit",
        json={"rectification": "已整改完毕", "after_evidence": [sha]},
        headers=seeded.h("enterprise"),
    )
    assert ok.status_code == 200, ok.text
    assert c.get(f"/api/evidence/{sha}", headers=seeded.h("enterprise")).status_code == 200
    hx = bearer(seeded.login("hxchem"))
    assert c.get(f"/api/evidence/{sha}", headers=hx).status_code == 404

    staff_photo = b"\xff\xd8\xff\xe0inspection-photo"
    staff_sha = hashlib.sha256(staff_photo).hexdigest()
    op = seeded.h("operator")
    put = c.put(
        f"/api/evidence/{staff_sha}", content=staff_photo, headers={**op, "content-type": "image/jpeg"}
    )
    assert put.status_code in (200, 201), put.text
    assert (
        c.get(f"/api/evidence/{staff_sha}", headers=seeded.h("enterprise")).status_code == 404
    )  # not bound yet
    made = c.post(
        "/api/hazards",
        json={"enterprise_id": OWN, "title": "巡查发现", "before_evidence": [staff_sha]},
        headers=op,
    )
    assert made.status_code == 201, made.text
    assert c.get(f"/api/evidence/{staff_sha}", headers=seeded.h("enterprise")).status_code == 200
    assert c.get(f"/api/evidence/{staff_sha}", headers=hx).status_code == 404


def test_attribution_over_mqtt(seeded: Seeded) -> None:
    """An edge node publishes only for the cameras registered to it, and the enterprise of an
    event is the registry's, never the message's (issue 12, item 6): so a node cannot put
    alerts (and their evidence) into another enterprise's file, score or feed."""
    factory = seeded.app.state.session_factory
    c = seeded.client

    def send(node: str, **fields: Any) -> Any:
        msg = event(new_event_id(), node=node, **fields)
        topic = Topic.of("yijia", node, "event")
        return msg["event_id"], process(factory, "yijia", topic, json.dumps(msg).encode(), now_ms())

    foreign_id, foreign = send("edge-02", camera="cam-yard-01")  # edge-01's camera
    assert foreign.outcome == "quarantined"
    assert (
        foreign.reason
        == "camera cam-yard-01 is registered to node edge-01, not to node edge-02 that sent this message"
    )
    unknown_id, unknown = send("edge-01", camera="cam-not-registered")
    assert unknown.outcome == "quarantined" and "is not registered at the center" in (unknown.reason or "")
    snapshot = {"kind": "snapshot", "sha256": OTHER_SHA, "content_type": "image/jpeg", "size": 10}
    claimed_id, claimed = send("edge-01", camera="cam-yard-01", enterprise=OTHER, evidence=[snapshot])
    assert claimed.outcome == "inserted" and claimed.alert["enterprise"] == OWN  # the camera's enterprise

    hx = bearer(seeded.login("hxchem"))
    for eid in (foreign_id, unknown_id):
        assert c.get(f"/api/alerts/{eid}", headers=seeded.h("operator")).status_code == 404
    assert c.get(f"/api/alerts/{claimed_id}", headers=hx).status_code == 404  # not put into hx-chem's file
    mine = c.get(f"/api/alerts/{claimed_id}", headers=seeded.h("enterprise"))
    assert mine.status_code == 200 and mine.json()["enterprise"] == OWN
    # and citing hx-chem's snapshot in it gave yj-metal nothing
    assert c.get(f"/api/evidence/{OTHER_SHA}", headers=seeded.h("enterprise")).status_code == 404
    quarantine = c.get("/api/quarantine", headers=seeded.h("operator")).json()
    assert {q["reason"] for q in quarantine} >= {foreign.reason, unknown.reason}


LIVE_SDP = (
    "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\n"
    "a=rtpmap:96 H264/90000\r\n"
)


def test_live_video_is_scoped_before_anything_reaches_a_node(seeded: Seeded) -> None:
    """An enterprise opens only its own cameras (another's: 404, as if it did not exist); an
    insurer none (403); the park's staff and the government any. Here no broker is connected:
    an offer the center lets through ends at 409 (camera or node not online) or 503 (no broker),
    never at a node, and the relay published nothing."""
    own, other = seeded.ids[OWN]["camera_id"], seeded.ids[OTHER]["camera_id"]
    offer = "/api/live/offer"
    for role, camera, expected in [
        ("enterprise", other, {404}),
        ("enterprise", own, {409, 503}),
        ("insurer", own, {403}),
        ("operator", other, {409, 503}),
        ("government", other, {409, 503}),
        ("anonymous", own, {401}),
    ]:
        resp = seeded.client.post(offer, json={"camera_id": camera, "sdp": LIVE_SDP}, headers=seeded.h(role))
        assert resp.status_code in expected, (role, camera, resp.status_code, resp.text)
    listed = seeded.client.get("/api/live/cameras", headers=seeded.h("enterprise")).json()["items"]
    assert listed and {c["enterprise_id"] for c in listed} == {OWN}
    assert all(c["name"] for c in listed)  # names for people, never blank
    assert seeded.client.get("/api/live/cameras", headers=seeded.h("insurer")).status_code == 403
    close = {"camera_id": other, "session_id": "0" * 32}
    assert (
        seeded.client.post("/api/live/close", json=close, headers=seeded.h("enterprise")).status_code == 404
    )
    # malformed offers: a clear 422 naming what is wrong
    for sdp, says in [
        ("hello, not an offer", "v=0"),
        ("v=0\r\ns=-\r\n", "m=video"),
        ("v=0\r\nbad line\r\nm=video 9\r\n", "第 2 行"),
    ]:
        resp = seeded.client.post(offer, json={"camera_id": own, "sdp": sdp}, headers=seeded.h("operator"))
        assert resp.status_code == 422 and says in resp.text, (sdp, resp.text)
    resp = seeded.client.post(
        offer, json={"camera_id": own, "sdp": "v=0\r\n" + "a=x\r\n" * 5000}, headers=seeded.h("operator")
    )
    assert resp.status_code == 422 and "sdp" in resp.text, resp.text
    assert seeded.app.state.live_relay is None or seeded.app.state.live_relay.published == 0
