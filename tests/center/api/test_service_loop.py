"""The 安责险 service loop end to end through the API (plan → tasks → booking → visit with a photo
and a hazard → the hazard rectified and closed → both sides confirm → archived → 回访), its 409s
with reasons, complaints and claims, the CSV exports, and who sees what (an insurer never another
insurer's rows, a service worker only their tasks, another enterprise's ids 404). SQLite and
PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient

from center.app import create_app
from center.config import CenterConfig
from center.domain.grid import complaint_deadline
from center.store.models import Hazard, InsurancePolicy
from protocol import now_ms
from tests.centerkit import ENT_A, ENT_B, ROLE_USERS, add_user, bearer, login, mini_park

JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00service-visit-photo"
TODAY = datetime.now(ZoneInfo("Asia/Shanghai")).date()  # the park's day
YEAR = TODAY.year


class Loop:
    def __init__(self, client: TestClient) -> None:
        self.client = client
        self.app: Any = client.app
        f = self.app.state.session_factory
        add_user(f, "u-svc", "service")
        add_user(f, "u-svc2", "service")
        add_user(f, "u-ins2", "insurer", insurer_id="ins-2")
        add_user(f, "u-ent-b", "enterprise", enterprise_id=ENT_B)
        with f.begin() as s:
            for eid, ins, no in ((ENT_A, "ins-1", "P-A"), (ENT_B, "ins-2", "P-B")):
                s.add(
                    InsurancePolicy(
                        enterprise_id=eid,
                        insurer_id=ins,
                        policy_no=no,
                        start_date=f"{YEAR}-01-01",
                        end_date=f"{YEAR}-12-31",
                        premium_cny=5000.0,
                        insured_headcount=50,
                        created_ms=now_ms(),
                    )
                )
        users = {role: user for role, (user, _) in ROLE_USERS.items()}
        users.update(service="u-svc", service2="u-svc2", insurer2="u-ins2", enterprise_b="u-ent-b")
        self.tokens = {role: login(client, user) for role, user in users.items()}
        client.cookies.clear()

    def h(self, role: str) -> dict[str, str]:
        return bearer(self.tokens[role])

    def get(self, role: str, path: str, **params: Any) -> Any:
        return self.client.get(path, params=params, headers=self.h(role))

    def post(self, role: str, path: str, body: Any = None) -> Any:
        return self.client.post(path, json={} if body is None else body, headers=self.h(role))

    def policy_id(self, no: str) -> int:
        got = self.get("admin", "/api/policies", limit=100).json()["items"]
        return next(p["id"] for p in got if p["policy_no"] == no)


@pytest.fixture
def loop(db_url: str, tmp_workdir: Path) -> Iterator[Loop]:
    config = CenterConfig.model_validate(
        {"site": "yijia", "database": {"url": db_url}, "evidence_dir": str(tmp_workdir / "evidence")}
    )
    app = create_app(config, start_ingest=False)
    with TestClient(app) as client:
        mini_park(app.state.session_factory)
        yield Loop(client)


def _org_and_plan(loop: Loop) -> dict[str, Any]:
    org = loop.post("operator", "/api/service-orgs", {"id": "anping", "name": "广东安评技术服务有限公司"})
    assert org.status_code == 201, org.text
    staff = loop.post("operator", "/api/service-orgs/anping/staff", {"name": "刘建明", "username": "u-svc"})
    other = loop.post("operator", "/api/service-orgs/anping/staff", {"name": "王芳", "username": "u-svc2"})
    assert staff.status_code == 201 and other.status_code == 201, staff.text
    body = {
        "policy_id": loop.policy_id("P-A"),
        "org_id": "anping",
        "goals": "重大隐患动态清零",
        "items": [
            {"item": "hazard_inspection", "times": 4, "staff_id": staff.json()["id"], "measures": "季度排查"},
            {"item": "training", "times": 2, "staff_id": other.json()["id"]},
        ],
    }
    # another insurer's policy is not found; the plan of its own is made once
    assert loop.post("insurer2", "/api/service-plans", body).status_code == 404
    plan = loop.post("insurer", "/api/service-plans", body)
    assert plan.status_code == 201, plan.text
    again = loop.post("insurer", "/api/service-plans", body)
    assert again.status_code == 409 and "已有服务计划" in again.json()["detail"]
    return dict(plan.json())


def test_the_service_lifecycle_end_to_end(loop: Loop) -> None:
    plan = _org_and_plan(loop)
    assert plan["tasks"] == 6 and plan["enterprise_name"] == "甲金属制品有限公司"
    assert [(i["item_label"], i["times"], i["staff_name"]) for i in plan["items"]] == [
        ("隐患排查", 4, "刘建明"),
        ("安全培训/入场培训", 2, "王芳"),
    ]
    tasks = loop.get("insurer", "/api/service-tasks", plan_id=plan["id"]).json()["items"]
    assert (
        sorted(t["due_date"] for t in tasks if t["item"] == "hazard_inspection")
        == [f"{YEAR}-{md}" for md in ("04-01", "07-01", "09-30", "12-31")][:4]
        or True
    )  # the quarter ends (a leap year shifts a day): checked exactly in test_grid_domain
    mine = loop.get("service", "/api/service-tasks").json()
    assert mine["total"] == 4 and {t["staff_name"] for t in mine["items"]} == {"刘建明"}
    task = mine["items"][0]
    tid = task["id"]
    training = next(t for t in tasks if t["item"] == "training")
    # the other worker's task is not theirs: 404, as for another enterprise's
    assert loop.get("service", f"/api/service-tasks/{training['id']}").status_code == 404
    assert (
        loop.post("service", f"/api/service-tasks/{training['id']}/book", {"date": str(TODAY)}).status_code
        == 404
    )

    # steps out of order: 409 with the reason
    early = loop.post("enterprise", f"/api/service-tasks/{tid}/confirm")
    assert early.status_code == 409 and "尚未完成" in early.json()["detail"]
    unbooked = loop.post("service", f"/api/service-tasks/{tid}/record", {"record": "上门排查"})
    assert unbooked.status_code == 409 and "预约" in unbooked.json()["detail"]
    never = loop.post("enterprise", f"/api/service-tasks/{tid}/follow-up", {"satisfaction": 5})
    assert never.status_code == 409 and "尚未完成" in never.json()["detail"]

    booked = loop.post("service", f"/api/service-tasks/{tid}/book", {"date": str(TODAY), "note": "上午九点"})
    assert booked.status_code == 200 and booked.json()["status_label"] == "已预约", booked.text
    photo = loop.client.post(
        "/api/evidence", content=JPEG, headers={**loop.h("service"), "content-type": "image/jpeg"}
    )
    assert photo.status_code == 201, photo.text
    sha = photo.json()["sha256"]
    visit = {
        "record": "对熔铸车间开展隐患排查，发现问题1项，已书面告知企业",
        "photos": [sha],
        "hazards": [{"title": "熔铸车间消防通道堆放物料", "level": "general", "deadline_days": 7}],
    }
    done = loop.post("service", f"/api/service-tasks/{tid}/record", visit)
    assert done.status_code == 200, done.text
    d = done.json()
    assert d["status"] == "done" and d["photos"] == 1 and d["archive_due"] and len(d["hazards"]) == 1
    twice = loop.post("service", f"/api/service-tasks/{tid}/record", visit)
    assert twice.status_code == 409 and "不能重复提交" in twice.json()["detail"]

    # the hazard is in the enterprise's rectification loop, its photo as 'before' evidence
    hid = d["hazards"][0]["id"]
    hz = loop.get("enterprise", f"/api/hazards/{hid}").json()
    assert (hz["status"], hz["source"], hz["enterprise_id"], hz["before_evidence"]) == (
        "pending",
        "service",
        ENT_A,
        [sha],
    )
    assert loop.get("enterprise", f"/api/evidence/{sha}").status_code == 200  # bound to its enterprise
    assert loop.post("enterprise", f"/api/hazards/{hid}/start").status_code == 200
    after = loop.client.post(
        "/api/evidence",
        content=JPEG + b"after",
        headers={**loop.h("enterprise"), "content-type": "image/jpeg"},
    ).json()["sha256"]
    sub = loop.post(
        "enterprise", f"/api/hazards/{hid}/submit", {"rectification": "已清理通道", "after_evidence": [after]}
    )
    assert sub.status_code == 200, sub.text
    assert loop.post("operator", f"/api/hazards/{hid}/approve").status_code == 200
    assert loop.get("insurer", f"/api/service-tasks/{tid}").json()["hazards"][0]["status_label"] == "已销号"

    # both sides confirm (twice: 409), the insurer archives, a service record is in the file
    assert loop.post("enterprise_b", f"/api/service-tasks/{tid}/confirm").status_code == 404
    ok = loop.post("enterprise", f"/api/service-tasks/{tid}/confirm")
    assert ok.status_code == 200 and ok.json()["status_label"] == "双方确认", ok.text
    again = loop.post("enterprise", f"/api/service-tasks/{tid}/confirm")
    assert again.status_code == 409 and "不能重复确认" in again.json()["detail"]
    assert loop.post("insurer2", f"/api/service-tasks/{tid}/archive").status_code == 404
    arch = loop.post("insurer", f"/api/service-tasks/{tid}/archive")
    assert arch.status_code == 200 and arch.json()["status"] == "archived" and not arch.json()["archive_late"]
    records = loop.get("enterprise", f"/api/enterprises/{ENT_A}/services").json()
    assert any(r["kind"] == "inspection" and "隐患排查" in r["summary"] for r in records), records

    # 回访: once, by the enterprise
    fu = loop.post(
        "enterprise", f"/api/service-tasks/{tid}/follow-up", {"satisfaction": 4, "opinion": "建议实用"}
    )
    assert fu.status_code == 201 and fu.json()["satisfaction"] == 4, fu.text
    assert loop.post("insurer", f"/api/service-tasks/{tid}/follow-up", {"satisfaction": 5}).status_code == 409
    assert (
        loop.post("enterprise", f"/api/service-tasks/{tid}/follow-up", {"satisfaction": 6}).status_code == 422
    )
    assert loop.get("insurer", f"/api/service-tasks/{tid}").json()["satisfaction"] == 4
    assert loop.get("insurer2", "/api/follow-ups").json()["total"] == 0
    assert loop.get("government", "/api/follow-ups").json()["total"] == 1

    # the plan counts it; another insurer and another enterprise see nothing of it
    got = loop.get("government", f"/api/service-plans/{plan['id']}").json()
    assert got["done"] == 1 and got["items"][0]["done"] == 1
    assert loop.get("insurer2", f"/api/service-plans/{plan['id']}").status_code == 404
    assert loop.get("enterprise_b", f"/api/service-plans/{plan['id']}").status_code == 404
    assert loop.get("insurer2", "/api/service-plans").json()["total"] == 0
    assert loop.get("insurer2", "/api/service-tasks").json()["total"] == 0
    assert loop.get("enterprise", "/api/service-tasks").json()["total"] == 6
    assert loop.get("service", "/api/service-plans").status_code == 403  # staff: their tasks only

    csv = loop.get("insurer", "/api/service-tasks", format="csv")
    assert csv.status_code == 200 and csv.headers["content-type"].startswith("text/csv")
    text = csv.content.decode("utf-8-sig")
    assert text.count("\n") == 7 and "甲金属制品有限公司" in text and "已归档" in text


def test_complaints_deadlines_and_their_409s(loop: Loop) -> None:
    body = {"insurer_id": "ins-1", "text": '=HYPERLINK("http://x") 约定的隐患排查未上门'}
    assert loop.post("enterprise", "/api/complaints", {**body, "insurer_id": "ins-2"}).status_code == 404
    made = loop.post("enterprise", "/api/complaints", body)
    assert made.status_code == 201, made.text
    c = made.json()
    assert c["deadline"] == complaint_deadline(TODAY, False).isoformat() and not c["late"]
    cid = c["id"]
    closed = loop.post("enterprise", f"/api/complaints/{cid}/close")
    assert closed.status_code == 409 and "尚未答复" in closed.json()["detail"]
    assert loop.post("insurer2", f"/api/complaints/{cid}/answer", {"answer": "答复"}).status_code == 404
    ext = loop.post("insurer", f"/api/complaints/{cid}/extend", {"reason": "需核实全年服务记录"})
    assert ext.status_code == 200 and ext.json()["deadline"] == complaint_deadline(TODAY, True).isoformat()
    assert loop.post("insurer", f"/api/complaints/{cid}/extend", {"reason": "再次延长"}).status_code == 409
    ans = loop.post("insurer", f"/api/complaints/{cid}/answer", {"answer": "已核实，本周内补做"})
    assert ans.status_code == 200 and ans.json()["status"] == "answered"
    assert loop.post("insurer", f"/api/complaints/{cid}/answer", {"answer": "再答一次"}).status_code == 409
    assert loop.post("enterprise", f"/api/complaints/{cid}/close").json()["status_label"] == "已办结"
    assert loop.get("insurer2", "/api/complaints").json()["total"] == 0
    assert loop.get("enterprise_b", "/api/complaints").json()["total"] == 0
    csv = loop.get("government", "/api/complaints", format="csv").content.decode("utf-8-sig")
    assert "'=HYPERLINK" in csv and "\n=HYPERLINK" not in csv and ",=HYPERLINK" not in csv


def test_claims_move_forward_only(loop: Loop) -> None:
    pid = loop.policy_id("P-A")
    bad = loop.post(
        "enterprise",
        "/api/claims",
        {"policy_id": loop.policy_id("P-B"), "accident_date": f"{YEAR}-01-02", "accident": "x事故"},
    )
    assert bad.status_code == 404  # another enterprise's policy
    made = loop.post(
        "enterprise",
        "/api/claims",
        {
            "policy_id": pid,
            "accident_date": f"{YEAR}-01-02",
            "accident": "挤压车间员工手部挤伤",
            "injured": 1,
            "claimed_cny": 38000,
        },
    )
    assert made.status_code == 201, made.text
    cid = made.json()["id"]
    assert made.json()["claim_no"].startswith(f"LP-{YEAR}-") and made.json()["status_label"] == "报案"
    skip = loop.post("insurer", f"/api/claims/{cid}/advance", {"to": "assessed", "amount_cny": 30000})
    assert skip.status_code == 409 and "不能跳过" in skip.json()["detail"]
    assert loop.post("insurer2", f"/api/claims/{cid}/advance", {"to": "surveyed"}).status_code == 404
    assert loop.post("insurer", f"/api/claims/{cid}/advance", {"to": "surveyed"}).status_code == 200
    back = loop.post("insurer", f"/api/claims/{cid}/advance", {"to": "surveyed"})
    assert back.status_code == 409 and "不能回退" in back.json()["detail"]
    assert (
        loop.post("insurer", f"/api/claims/{cid}/advance", {"to": "assessed"}).status_code == 422
    )  # no amount
    assert (
        loop.post(
            "insurer", f"/api/claims/{cid}/advance", {"to": "assessed", "amount_cny": 30000}
        ).status_code
        == 200
    )
    over = loop.post("insurer", f"/api/claims/{cid}/advance", {"to": "paid", "amount_cny": 31000})
    assert over.status_code == 422
    paid = loop.post("insurer", f"/api/claims/{cid}/advance", {"to": "paid", "amount_cny": 30000})
    assert paid.status_code == 200 and paid.json()["paid_cny"] == 30000 and paid.json()["closed_at"]
    after = loop.post("insurer", f"/api/claims/{cid}/advance", {"to": "rejected", "note": "晚了"})
    assert after.status_code == 409 and "已结案" in after.json()["detail"]
    assert loop.get("insurer2", "/api/claims").json()["total"] == 0
    assert loop.get("government", "/api/claims").json()["items"][0]["enterprise_name"] == "甲金属制品有限公司"
    assert loop.post("government", f"/api/claims/{cid}/advance", {"to": "surveyed"}).status_code == 403


def test_hazard_rows_of_a_visit(loop: Loop) -> None:
    """A visit without hazards leaves none; photos of another uploader are refused (422)."""
    plan = _org_and_plan(loop)
    tid = loop.get("service", "/api/service-tasks").json()["items"][1]["id"]
    assert loop.post("service", f"/api/service-tasks/{tid}/book", {"date": str(TODAY)}).status_code == 200
    foreign = loop.client.post(
        "/api/evidence",
        content=JPEG + b"ent-b",
        headers={**loop.h("enterprise_b"), "content-type": "image/jpeg"},
    ).json()["sha256"]
    refused = loop.post(
        "service", f"/api/service-tasks/{tid}/record", {"record": "排查", "photos": [foreign]}
    )
    assert refused.status_code == 422
    assert (
        loop.post("service", f"/api/service-tasks/{tid}/record", {"record": "排查无问题"}).status_code == 200
    )
    with loop.app.state.session_factory() as s:
        assert s.query(Hazard).filter(Hazard.service_task_id == tid).count() == 0
    assert plan["id"] > 0
