"""Service requests (服务需求): an enterprise officer files one for its own enterprise; the park
and the enterprise's insurer see and answer it; nobody else sees it; every input bounded; every
action audited. SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from center.app import create_app
from center.config import CenterConfig
from center.store.models import AuditEntry, ServiceRequest
from tests.centerkit import ENT_A, ENT_B, ROLE_USERS, add_user, bearer, login, mini_park


class Park:
    def __init__(self, client: TestClient) -> None:
        self.client = client
        self.app: Any = client.app
        self.tokens = {role: login(client, user) for role, (user, _) in ROLE_USERS.items()}
        client.cookies.clear()

    def h(self, role: str) -> dict[str, str]:
        return bearer(self.tokens[role])

    def file(self, role: str, enterprise: str = ENT_A, **body: Any) -> Any:
        return self.client.post(
            f"/api/enterprises/{enterprise}/service-requests",
            json={"kind": "training", "text": "新员工20人，需要一次安全培训", **body},
            headers=self.h(role),
        )

    def answer(self, role: str, request_id: int, **body: Any) -> Any:
        return self.client.post(f"/api/service-requests/{request_id}/answer", json=body, headers=self.h(role))

    def listed(self, role: str, **params: Any) -> list[dict[str, Any]]:
        resp = self.client.get("/api/service-requests", params=params, headers=self.h(role))
        assert resp.status_code == 200, resp.text
        return list(resp.json())

    def rows(self) -> int:
        with self.app.state.session_factory() as s:
            return int(s.scalar(select(func.count()).select_from(ServiceRequest)) or 0)


@pytest.fixture
def park(db_url: str, tmp_workdir: Path) -> Iterator[Park]:
    config = CenterConfig.model_validate(
        {"site": "yijia", "database": {"url": db_url}, "evidence_dir": str(tmp_workdir / "evidence")}
    )
    app = create_app(config, start_ingest=False)
    with TestClient(app) as client:
        mini_park(app.state.session_factory)
        yield Park(client)


def test_an_officer_files_and_the_park_answers(park: Park) -> None:
    made = park.file("enterprise", kind="emergency_plan", text="  请指导修订应急预案  ")
    assert made.status_code == 201, made.text
    req = made.json()
    assert (req["enterprise_id"], req["kind_label"], req["text"], req["status"], req["status_label"]) == (
        ENT_A,
        "应急预案指导",
        "请指导修订应急预案",
        "open",
        "待受理",
    )
    assert req["enterprise_name"] == "甲金属制品有限公司" and req["created_by"] == ROLE_USERS["enterprise"][0]
    for role in ("operator", "admin", "government", "insurer", "enterprise"):
        assert [r["id"] for r in park.listed(role)] == [req["id"]], role

    accepted = park.answer("operator", req["id"], status="accepted", reply="已受理，下周二上门")
    assert accepted.status_code == 200, accepted.text
    assert (accepted.json()["status_label"], accepted.json()["reply"]) == ("已受理", "已受理，下周二上门")
    assert accepted.json()["replied_by"] == ROLE_USERS["operator"][0] and accepted.json()["replied_at"]
    done = park.answer("insurer", req["id"], status="done", reply="已完成培训，签到表已归档")
    assert done.status_code == 200 and done.json()["replied_role"] == "insurer", done.text
    assert park.listed("enterprise", status="done")[0]["reply"] == "已完成培训，签到表已归档"
    assert park.listed("enterprise", status="open") == []
    again = park.answer("operator", req["id"], status="accepted", reply="再次受理")
    assert again.status_code == 409 and "已完成" in again.json()["detail"]

    with park.app.state.session_factory() as s:
        actions = [
            (a.action, a.target, a.username)
            for a in s.scalars(
                select(AuditEntry)
                .where(AuditEntry.target == f"service_request:{req['id']}")
                .order_by(AuditEntry.id)
            )
        ]
    assert [a[0] for a in actions] == [
        "create_service_request",
        "answer_service_request",
        "answer_service_request",
    ]
    assert [a[2] for a in actions] == [ROLE_USERS[r][0] for r in ("enterprise", "operator", "insurer")]


def test_nobody_sees_or_answers_another_enterprises_request(park: Park) -> None:
    # an officer of ent-b (insured by ins-1 only under an expired policy)
    add_user(park.app.state.session_factory, "u-ent-b", "enterprise", enterprise_id=ENT_B)
    park.tokens["ent-b"] = login(park.client, "u-ent-b")
    park.client.cookies.clear()

    a = park.file("enterprise").json()
    b = park.file("ent-b", ENT_B, kind="other", text="乙公司的需求").json()
    assert [r["id"] for r in park.listed("enterprise")] == [a["id"]]
    assert [r["id"] for r in park.listed("ent-b")] == [b["id"]]
    assert park.listed("enterprise", enterprise_id=ENT_B) == []
    assert park.listed("insurer") == [r for r in park.listed("insurer") if r["enterprise_id"] == ENT_A]
    assert [r["id"] for r in park.listed("insurer")] == [a["id"]]  # ent-b's policy has expired
    assert {r["id"] for r in park.listed("operator")} == {a["id"], b["id"]}
    # filing for another enterprise, answering one outside the scope: 404 (ids not confirmed)
    assert park.file("enterprise", ENT_B).status_code == 404
    assert park.answer("insurer", b["id"], status="accepted", reply="x").status_code == 404
    # roles the policy leaves out
    assert park.file("operator").status_code == 403
    assert park.file("government").status_code == 403
    assert park.answer("enterprise", a["id"], status="done").status_code == 403
    assert park.answer("government", a["id"], status="done").status_code == 403
    assert park.client.get("/api/service-requests").status_code == 401


@pytest.mark.parametrize(
    "body",
    [
        {"kind": "training", "text": "x" * 501},
        {"kind": "training", "text": " "},
        {"kind": "massage", "text": "不在列表里的类型"},
        {"kind": "training"},
        {"kind": "training", "text": "多余字段", "status": "done"},
        {"kind": "training", "text": 123},
    ],
)
def test_bad_requests_are_refused_and_write_nothing(park: Park, body: dict[str, Any]) -> None:
    resp = park.client.post(
        f"/api/enterprises/{ENT_A}/service-requests", json=body, headers=park.h("enterprise")
    )
    assert resp.status_code == 422, resp.text
    assert park.rows() == 0


def test_bad_answers_are_refused_and_change_nothing(park: Park) -> None:
    req = park.file("enterprise").json()
    for body in (
        {"status": "open"},
        {"status": "done", "reply": "y" * 501},
        {"status": "rejected"},
        {"status": "done", "extra": 1},
    ):
        assert park.answer("operator", req["id"], **body).status_code == 422, body
    assert park.answer("operator", 2**40, status="done").status_code == 422  # beyond the id's bound
    assert park.answer("operator", 999999, status="done").status_code == 404
    got = park.listed("operator")[0]
    assert (got["status"], got["reply"], got["replied_by"]) == ("open", "", None)
    assert park.client.get("/api/service-requests?limit=5000", headers=park.h("operator")).status_code == 422


def test_an_enterprise_has_a_bounded_number_of_open_requests(park: Park) -> None:
    from center.api.requests.routes import MAX_OPEN_PER_ENTERPRISE

    with park.app.state.session_factory.begin() as s:
        for n in range(MAX_OPEN_PER_ENTERPRISE):
            s.add(
                ServiceRequest(
                    enterprise_id=ENT_A, kind="other", text=f"需求 {n}", status="open",
                    created_by="u-ent-a", created_ms=n, reply="",
                )
            )  # fmt: skip
    refused = park.file("enterprise")
    assert refused.status_code == 409 and "未完成" in refused.json()["detail"], refused.text
    assert park.rows() == MAX_OPEN_PER_ENTERPRISE
    first = park.listed("operator", limit=1)[0]
    assert park.answer("operator", first["id"], status="done", reply="已完成").status_code == 200
    assert park.file("enterprise").status_code == 201  # one finished: room for a new one
