"""网格监管 and 服务履约 against figures computed by hand on a constructed park (as of 2026-06-30):
three enterprises in two 镇街, two insurers, seven service tasks, five hazards, two claims, three
complaints whose deadlines cross the Labor Day and Dragon Boat holidays. SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient

from center.app import create_app
from center.config import CenterConfig
from center.domain.grid import complaint_deadline
from center.store.models import (
    Claim,
    Complaint,
    Enterprise,
    FollowUp,
    Hazard,
    InsurancePolicy,
    RiskScore,
    ServiceOrg,
    ServicePlan,
    ServicePlanItem,
    ServiceTask,
    Town,
)
from tests.centerkit import ENT_A, ENT_B, ROLE_USERS, add_user, bearer, login, mini_park

TZ = ZoneInfo("Asia/Shanghai")
AS_OF = "2026-06-30"


def ms(day: str) -> int:
    d = date.fromisoformat(day)
    return int(datetime(d.year, d.month, d.day, 10, tzinfo=TZ).timestamp() * 1000)


def construct(factory: Any) -> None:
    """The park of the hand computation (mini_park: ent-a and ent-b in 狮山镇, metal smelting; ent-a
    insured by ins-1 2000–2999, 10 people, ¥1000; ent-b's ins-1 policy ended in 2001)."""
    with factory.begin() as s:
        s.add(Town(id="dali", name="大沥镇", district="南海区"))
        s.flush()
        s.add(
            Enterprise(
                id="ent-c",
                park_id="yijia",
                town_id="dali",
                name="丙机械有限公司",
                credit_code="91440605MA52DJ7P0X",
                industry="machinery",
                address="",
                contacts=[],
                created_ms=0,
                updated_ms=0,
            )
        )
        s.add(
            InsurancePolicy(
                enterprise_id=ENT_B,
                insurer_id="ins-2",
                policy_no="INS2-2026",
                start_date="2026-01-01",
                end_date="2026-12-31",
                premium_cny=2000.0,
                insured_headcount=30,
                created_ms=0,
            )
        )
        s.add(ServiceOrg(id="org", name="安评", contact="", phone=""))
        s.flush()
        pol = {p.policy_no: p for p in s.query(InsurancePolicy)}
        plans = {}
        for eid, ins, no in ((ENT_A, "ins-1", "INS1-0001"), (ENT_B, "ins-2", "INS2-2026")):
            plan = ServicePlan(
                policy_id=pol[no].id,
                enterprise_id=eid,
                insurer_id=ins,
                org_id="org",
                goals="",
                created_by="t",
                created_ms=0,
            )
            s.add(plan)
            s.flush()
            item = ServicePlanItem(plan_id=plan.id, item="hazard_inspection", times=4, measures="", goal="")
            s.add(item)
            s.flush()
            plans[eid] = (plan, item)
        tasks = {}
        for key, eid, due, status in [
            ("t1", ENT_A, "2026-03-31", "archived"),
            ("t2", ENT_A, "2026-06-30", "done"),
            ("t3", ENT_A, "2026-05-31", "planned"),  # overdue
            ("t4", ENT_A, "2026-09-30", "planned"),  # not due yet
            ("t5", ENT_B, "2026-06-15", "booked"),  # overdue
            ("t6", ENT_B, "2026-06-01", "confirmed"),
            ("t7", ENT_B, "2026-12-31", "done"),  # done early, not due
        ]:
            plan, item = plans[eid]
            t = ServiceTask(
                plan_id=plan.id,
                item_id=item.id,
                enterprise_id=eid,
                insurer_id=plan.insurer_id,
                item="hazard_inspection",
                seq=1,
                due_date=due,
                status=status,
                booking_note="",
                record="",
                photos=[],
                updated_ms=0,
            )
            s.add(t)
            s.flush()
            tasks[key] = t
        for key, sat in (("t1", 5), ("t6", 4)):
            t = tasks[key]
            s.add(
                FollowUp(
                    task_id=t.id,
                    enterprise_id=t.enterprise_id,
                    satisfaction=sat,
                    opinion="",
                    created_by="t",
                    created_role="enterprise",
                    created_ms=0,
                )
            )
        for code, eid, created, deadline, status, task in [
            ("H1", ENT_A, "2026-03-20", "2026-04-05", "closed", tasks["t1"].id),
            ("H2", ENT_A, "2026-05-20", "2026-06-10", "pending", None),  # open past its deadline
            ("H3", ENT_B, "2026-02-01", "2026-02-20", "closed", None),
            ("H4", ENT_B, "2026-06-20", "2026-07-30", "in_progress", None),
            ("H5", "ent-c", "2026-07-05", "2026-07-20", "pending", None),  # after the day: not counted
        ]:
            s.add(
                Hazard(
                    code=code,
                    enterprise_id=eid,
                    title=code,
                    level="general",
                    source="inspection",
                    status=status,
                    deadline_ms=ms(deadline),
                    created_by="t",
                    created_ms=ms(created),
                    updated_ms=ms(created),
                    closed_ms=ms(deadline) if status == "closed" else None,
                    service_task_id=task,
                )
            )
        s.add(
            Claim(
                claim_no="C1",
                policy_id=pol["INS1-0001"].id,
                enterprise_id=ENT_A,
                insurer_id="ins-1",
                accident_date="2026-02-01",
                accident="x",
                status="paid",
                claimed_cny=5000.0,
                assessed_cny=4000.0,
                paid_cny=4000.0,
                reported_ms=ms("2026-02-02"),
                closed_ms=ms("2026-03-01"),
                created_by="t",
                updated_ms=0,
            )
        )
        s.add(
            Claim(
                claim_no="C2",
                policy_id=pol["INS2-2026"].id,
                enterprise_id=ENT_B,
                insurer_id="ins-2",
                accident_date="2026-06-10",
                accident="y",
                status="reported",
                claimed_cny=3000.0,
                reported_ms=ms("2026-06-11"),
                created_by="t",
                updated_ms=0,
            )
        )
        # deadlines by hand: filed Mon 1 Jun → 15 Jun (2–5, 8–12, 15); filed Sat 20 Jun → 3 Jul (19 Jun
        # 端午 off: 22–26, 29, 30, 1–3 Jul); filed Wed 6 May → 19 May (Sat 9 May works)
        for eid, ins, filed, deadline, answered in [
            (ENT_A, "ins-1", "2026-06-01", "2026-06-15", None),  # unanswered past it: late
            (ENT_B, "ins-2", "2026-06-20", "2026-07-03", None),  # in time
            (ENT_A, "ins-1", "2026-05-06", "2026-05-19", "2026-05-25"),  # answered after it: late
        ]:
            assert complaint_deadline(date.fromisoformat(filed), False).isoformat() == deadline
            s.add(
                Complaint(
                    enterprise_id=eid,
                    insurer_id=ins,
                    text="t",
                    filed_date=filed,
                    deadline=deadline,
                    status="answered" if answered else "open",
                    answer="a" if answered else "",
                    answered_date=answered,
                    created_by="t",
                    created_ms=ms(filed),
                )
            )
        for eid, day, level in (
            (ENT_A, "2026-06-30", "red"),
            (ENT_A, "2026-06-23", "yellow"),
            (ENT_B, "2026-06-28", "blue"),
        ):
            s.add(
                RiskScore(
                    enterprise_id=eid,
                    day=day,
                    score=50.0,
                    level=level,
                    coefficient=1.0,
                    terms={},
                    computed_ms=0,
                )
            )


@pytest.fixture
def client(db_url: str, tmp_workdir: Path) -> Iterator[TestClient]:
    config = CenterConfig.model_validate(
        {"site": "yijia", "database": {"url": db_url}, "evidence_dir": str(tmp_workdir / "evidence")}
    )
    app = create_app(config, start_ingest=False)
    with TestClient(app) as c:
        mini_park(app.state.session_factory)
        add_user(app.state.session_factory, "u-ins2", "insurer", insurer_id="ins-2")
        construct(app.state.session_factory)
        yield c


def _get(c: TestClient, user: str, path: str, **params: Any) -> Any:
    resp = c.get(path, params=params, headers=bearer(login(c, user)))
    assert resp.status_code == 200, resp.text
    return resp.json()


def test_the_district_figures_by_hand(client: TestClient) -> None:
    o = _get(client, ROLE_USERS["government"][0], "/api/grid/overview", as_of=AS_OF)
    # coverage: ent-a (10, ¥1000) and ent-b (30, ¥2000) insured on the day, ent-c not
    assert (o["enterprises"], o["insured"], o["coverage"], o["headcount"], o["premium_cny"]) == (
        3,
        2,
        0.6667,
        40,
        3000.0,
    )
    assert [
        (r["label"], r["enterprises"], r["insured"], r["headcount"], r["premium_cny"]) for r in o["by_town"]
    ] == [
        ("狮山镇", 2, 2, 40, 3000.0),
        ("大沥镇", 1, 0, 0, 0.0),
    ]
    assert [(r["label"], r["enterprises"], r["insured"]) for r in o["by_industry"]] == [
        ("金属冶炼", 2, 2),
        ("机械制造", 1, 0),
    ]
    # risk: ent-a red (30 Jun), ent-b blue (its latest, 28 Jun), ent-c unscored; the trend's last two weeks
    assert {x["level"]: x["count"] for x in o["levels"]} == {"red": 1, "orange": 0, "yellow": 0, "blue": 1}
    assert o["unscored"] == 1
    assert [(p["day"], sum(x["count"] for x in p["levels"])) for p in o["trend"][-2:]] == [
        ("2026-06-23", 1),
        ("2026-06-30", 1),
    ]
    assert {x["level"]: x["count"] for x in o["trend"][-2]["levels"]}["yellow"] == 1
    # services: due t1 t2 t3 t5 t6 (5), of which done t1 t2 t6 (3): 60%; done also t7 (4); overdue t3 t5
    s = o["services"]
    assert (s["tasks"], s["due"], s["done_of_due"], s["rate"], s["done"], s["overdue"]) == (
        7,
        5,
        3,
        0.6,
        4,
        2,
    )
    assert (s["satisfaction"], s["follow_ups"]) == (4.5, 2)
    assert [t["due_date"] for t in o["overdue_tasks"]] == ["2026-05-31", "2026-06-15"]
    # hazards found by the day: H1–H4 (H5 after it); closed H1 H3: 50%; from services H1; H2 overdue
    h = o["hazards"]
    assert (
        h["found"],
        h["closed"],
        h["rate"],
        h["from_services"],
        h["from_services_closed"],
        h["overdue_open"],
    ) == (
        4,
        2,
        0.5,
        1,
        1,
        1,
    )
    c = o["claims"]
    assert (c["total"], c["open"], c["claimed_cny"], c["assessed_cny"], c["paid_cny"]) == (
        2,
        1,
        8000.0,
        4000.0,
        4000.0,
    )
    assert (o["complaints"]["total"], o["complaints"]["open"], o["complaints"]["late"]) == (3, 2, 2)
    assert [x["deadline"] for x in o["late_complaints"]] == ["2026-05-19", "2026-06-15"]
    rows = {r["enterprise_id"]: r for r in o["rows"]}
    pick = ("tasks_due", "tasks_done", "tasks_overdue", "open_hazards", "open_claims", "late_complaints")
    assert tuple(rows[ENT_A][k] for k in pick) == (3, 2, 1, 1, 0, 2)
    assert tuple(rows[ENT_B][k] for k in pick) == (2, 1, 1, 1, 1, 0)
    assert tuple(rows["ent-c"][k] for k in pick) == (0, 0, 0, 0, 0, 0) and rows["ent-c"]["insured"] is False
    assert rows[ENT_A]["name"] == "甲金属制品有限公司" and rows[ENT_A]["level_label"] == "红"
    # one 镇街: 大沥镇 holds only ent-c
    d = _get(client, ROLE_USERS["government"][0], "/api/grid/overview", as_of=AS_OF, town_id="dali")
    assert (d["town_name"], d["enterprises"], d["insured"], d["services"]["tasks"]) == ("大沥镇", 1, 0, 0)


def test_an_insurers_obligations_by_hand(client: TestClient) -> None:
    o = _get(client, ROLE_USERS["insurer"][0], "/api/grid/insurer", as_of=AS_OF)  # ins-1
    assert (o["insurer_id"], o["policies"], o["enterprises"], o["headcount"], o["premium_cny"]) == (
        "ins-1",
        1,
        1,
        10,
        1000.0,
    )
    assert (o["plans"], o["without_plan"]) == (1, 0)
    s = o["services"]  # t1–t4: due t1 t2 t3, done t1 t2, overdue t3
    assert (s["tasks"], s["due"], s["done_of_due"], s["overdue"], s["satisfaction"]) == (4, 3, 2, 1, 5.0)
    assert o["by_item"] == [
        {"item": "hazard_inspection", "item_label": "隐患排查", "due": 3, "done_of_due": 2, "overdue": 1}
    ]
    assert (o["claims"]["total"], o["claims"]["open"], o["claims"]["paid_cny"]) == (1, 0, 4000.0)
    assert (o["complaints"]["total"], o["complaints"]["open"], o["complaints"]["late"]) == (2, 1, 2)
    # another insurer's figures are not the insurer's to ask for; its own are its own
    c = client
    assert (
        c.get(
            "/api/grid/insurer", params={"insurer_id": "ins-2"}, headers=bearer(login(c, "u-ins"))
        ).status_code
        == 404
    )
    two = _get(client, "u-ins2", "/api/grid/insurer", as_of=AS_OF)
    assert (
        two["services"]["tasks"],
        two["services"]["overdue"],
        two["claims"]["open"],
        two["complaints"]["late"],
    ) == (
        3,
        1,
        1,
        0,
    )
    assert {t["enterprise_id"] for t in two["overdue_tasks"]} == {ENT_B}
