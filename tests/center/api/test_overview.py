"""园区总览 and 承保企业 from the API: every figure equals what the test computes from the rows it
inserts (towns, enterprises, stored scores, hazards, alerts, cameras and a node's heartbeat,
policies, service records); each is scoped (an insurer sees only the enterprises it insures now,
and no alert or evidence; an enterprise may open neither); a period out of range, an unknown sort
or insurer is refused. SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient

from center.app import create_app
from center.config import CenterConfig
from center.domain import creditcode
from center.domain.scoring import CONFIRMED, LEVEL_RANK, LEVELS
from center.domain.timeparse import DAY_MS
from center.domain.vocabulary import INDUSTRY_LABELS, RISK_LEVEL_LABELS
from center.store.models import (
    Alert,
    Camera,
    Enterprise,
    Hazard,
    InsurancePolicy,
    Node,
    RiskScore,
    ServiceRecord,
    ServiceRequest,
    Town,
)
from protocol import now_ms
from tests.centerkit import ENT_A, ENT_B, ROLE_USERS, add_user, bearer, login, mini_park

TZ = ZoneInfo("Asia/Shanghai")
HOUR = 3_600_000
ENT_C, ENT_D = "ent-c", "ent-d"

# enterprise -> (town, industry); ENT_A and ENT_B come from mini_park (狮山镇, 金属冶炼)
PLACES = {
    ENT_A: ("shishan", "metal_smelting"),
    ENT_B: ("shishan", "metal_smelting"),
    ENT_C: ("dali", "fireworks"),
    ENT_D: (None, "machinery"),
}
TOWNS = {"shishan": "狮山镇", "dali": "大沥镇", "lishui": "里水镇"}
# stored scores: enterprise -> {days ago: (score, level)}; ENT_C's newest is yesterday's, ENT_D has none
SCORES = {
    ENT_A: {0: (80.0, "red"), 7: (50.0, "orange"), 30: (10.0, "blue")},
    ENT_B: {0: (45.0, "orange"), 7: (40.0, "orange")},
    ENT_C: {1: (25.0, "yellow"), 7: (5.0, "blue"), 30: (30.0, "yellow")},
}


@dataclass
class H:  # a hazard, in hours relative to now
    enterprise: str
    level: str
    created_h: float
    deadline_h: float
    closed_h: float | None = None


HAZARDS = [
    H(ENT_A, "general", -20 * 24, -24),  # open, overdue
    H(ENT_A, "major", -48, 5 * 24),  # open
    H(ENT_A, "general", -10 * 24, -5 * 24, -3 * 24),  # closed late, in the period
    H(ENT_B, "general", -40 * 24, -30 * 24, -35 * 24),  # closed on time, before 30 days
    H(ENT_B, "general", -50 * 24, 24),  # open
    H(ENT_C, "major", -5 * 24, -1),  # open, overdue
    H(ENT_B, "major", -24, 1),  # open, due in an hour: not overdue
    H(ENT_C, "general", -6 * 24, 24, -24),  # closed on time
]


@dataclass
class A:  # an alert
    enterprise: str | None
    hours_ago: float
    status: str
    severity: str = "general"


ALERTS = [
    A(ENT_A, 24, "acknowledged"),
    A(ENT_A, 25, "dismissed"),
    A(ENT_A, 26, "open", "major"),
    A(ENT_A, 20 * 24, "escalated"),
    A(ENT_B, 3 * 24, "acknowledged", "significant"),
    A(ENT_C, 10 * 24, "dismissed"),
    A(ENT_C, 10 * 24 + 2, "open", "major"),
    A(ENT_D, 60 * 24, "acknowledged"),
    A(None, 24, "open"),  # no enterprise: in no figure
]
# (enterprise, days ago, insurer)
SERVICES = [(ENT_A, 2, "ins-1"), (ENT_A, 2, "ins-2"), (ENT_A, 40, None), (ENT_C, 1, None)]
# (enterprise, insurer, policy no, start, end) in days from today, on top of mini_park's
POLICIES = [
    (ENT_C, "ins-2", "INS2-C", -100, 200),
    (ENT_A, "ins-2", "INS2-A", -10, 300),  # co-insured
    (ENT_D, "ins-1", "INS1-D-NEXT", 10, 375),  # not in force yet
]
# cameras: mini_park's cam-a1 (key post, edge-01) and cam-b1 (edge-01), and these
CAMERAS = [("cam-c1", ENT_C, None, True)]
HEARTBEAT = {"cam-a1": "online", "cam-b1": "offline"}


class Park:
    def __init__(self, client: TestClient) -> None:
        self.client = client
        self.app: Any = client.app
        self.tokens = {role: login(client, user) for role, (user, _) in ROLE_USERS.items()}
        client.cookies.clear()
        self.now = now_ms()
        self.today = datetime.fromtimestamp(self.now / 1000, TZ).date()
        self._insert()

    def day(self, ago: int) -> str:
        return (self.today - timedelta(days=ago)).isoformat()

    def _insert(self) -> None:
        now = self.now
        with self.app.state.session_factory.begin() as s:
            for tid in ("dali", "lishui"):
                s.add(Town(id=tid, name=TOWNS[tid], district="南海区"))
            s.flush()
            for eid, org8 in ((ENT_C, "MA4XMH5N"), (ENT_D, "MA52DJ7P")):
                town, industry = PLACES[eid]
                s.add(
                    Enterprise(
                        id=eid, park_id="yijia", town_id=town, name=f"{eid} 有限公司",
                        credit_code=creditcode.make("9", "1", "440605", org8), industry=industry,
                        address="", contacts=[], created_ms=now, updated_ms=now,
                    )
                )  # fmt: skip
            s.flush()
            for eid, by_day in SCORES.items():
                for ago, (score, level) in by_day.items():
                    s.add(
                        RiskScore(
                            enterprise_id=eid, day=self.day(ago), score=score, level=level,
                            coefficient=round(0.7 + score / 200, 2), terms={}, computed_ms=now - ago * DAY_MS,
                        )
                    )  # fmt: skip
            for i, h in enumerate(HAZARDS):
                closed = h.closed_h is not None
                s.add(
                    Hazard(
                        code=f"T-{i}", enterprise_id=h.enterprise, title="测试隐患", level=h.level,
                        source="inspection", status="closed" if closed else "pending",
                        deadline_ms=now + int(h.deadline_h * HOUR), created_by="t",
                        created_ms=now + int(h.created_h * HOUR), updated_ms=now,
                        closed_ms=now + int(h.closed_h * HOUR) if h.closed_h is not None else None,
                    )
                )  # fmt: skip
            for a in ALERTS:
                t = now - int(a.hours_ago * HOUR)
                s.add(
                    Alert(
                        event_id=str(uuid.uuid4()), site="yijia", node="edge-01", camera="cam-a1",
                        enterprise=a.enterprise, rule_id="r", rule_type="intrusion", severity=a.severity,
                        phase="end", seq=1, started_ms=t, last_ms=t, received_ms=t, updated_ms=t,
                        status=a.status,
                    )
                )  # fmt: skip
            for eid, ago, insurer in SERVICES:
                s.add(
                    ServiceRecord(
                        enterprise_id=eid, kind="training", date=self.day(ago), insurer_id=insurer,
                        created_by="t", created_ms=now,
                    )
                )  # fmt: skip
            for eid, status in ((ENT_A, "open"), (ENT_B, "done"), (ENT_C, "open")):
                s.add(
                    ServiceRequest(
                        enterprise_id=eid, kind="training", text="需要培训", status=status,
                        created_by="t", created_ms=now,
                    )
                )  # fmt: skip
            for eid, insurer, no, start, end in POLICIES:
                s.add(
                    InsurancePolicy(
                        enterprise_id=eid, insurer_id=insurer, policy_no=no, start_date=self.day(-start),
                        end_date=self.day(-end), premium_cny=1000.0 + len(no), insured_headcount=5,
                        created_ms=now,
                    )
                )  # fmt: skip
            for cid, eid, node, key in CAMERAS:
                s.add(Camera(id=cid, enterprise_id=eid, node=node, name=cid, key_post=key, created_ms=now))
            s.add(
                Node(
                    site="yijia", node="edge-01", state="online", status_ms=now, last_seen_ms=now,
                    cameras=list(HEARTBEAT), updated_ms=now,
                    heartbeat={"interval_s": 10, "received_ms": now,
                               "cameras": [{"camera": c, "state": st} for c, st in HEARTBEAT.items()]},
                )
            )  # fmt: skip
            s.add(
                Node(
                    site="yijia", node="edge-02", state="offline", status_ms=None, last_seen_ms=0,
                    cameras=[], updated_ms=now, heartbeat=None,
                )
            )  # fmt: skip

    def get(self, role: str, path: str) -> Any:
        return self.client.get(path, headers=bearer(self.tokens[role]))


@pytest.fixture
def park(db_url: str, tmp_workdir: Path) -> Iterator[Park]:
    config = CenterConfig.model_validate(
        {"site": "yijia", "database": {"url": db_url}, "evidence_dir": str(tmp_workdir / "evidence")}
    )
    app = create_app(config, start_ingest=False)
    with TestClient(app) as client:
        mini_park(app.state.session_factory)
        yield Park(client)


# --- what the test expects, computed from the rows above ----------------------------------------


def latest(eid: str) -> tuple[float, str] | None:
    by_day = SCORES.get(eid, {})
    return by_day[min(by_day)] if by_day else None


def is_open(h: H) -> bool:
    return h.closed_h is None


def overdue(h: H) -> bool:
    return is_open(h) and h.deadline_h < 0


def alerts_in(days: int, eid: str | None = None) -> list[A]:
    return [
        a
        for a in ALERTS
        if a.enterprise and a.hours_ago <= days * 24 and (eid is None or a.enterprise == eid)
    ]


def group_expect(key_of: dict[str, str | None], days: int) -> dict[str | None, dict[str, int]]:
    out: dict[str | None, dict[str, int]] = {}
    for eid in PLACES:
        g = out.setdefault(key_of[eid], Counter())
        level = (latest(eid) or (0, ""))[1]
        g["enterprises"] += 1
        g["red"] += level == "red"
        g["orange"] += level == "orange"
        g["open_hazards"] += sum(is_open(h) for h in HAZARDS if h.enterprise == eid)
        g["overdue_hazards"] += sum(overdue(h) for h in HAZARDS if h.enterprise == eid)
        mine = alerts_in(days, eid)
        g["alerts"] += len(mine)
        g["confirmed"] += sum(a.status in CONFIRMED for a in mine)
        g["dismissed"] += sum(a.status == "dismissed" for a in mine)
        g["major"] += sum(a.severity == "major" for a in mine)
    return {k: dict(v) for k, v in out.items()}


FIGURES = (
    "enterprises",
    "red",
    "orange",
    "open_hazards",
    "overdue_hazards",
    "alerts",
    "confirmed",
    "dismissed",
)


@pytest.mark.parametrize("days", [7, 30, 90])
def test_the_overview_figures_are_the_rows_figures(park: Park, days: int) -> None:
    resp = park.get("government", f"/api/overview?days={days}")
    assert resp.status_code == 200, resp.text
    o = resp.json()
    assert o["days"] == days and o["enterprises"] == len(PLACES)
    levels = Counter(s[1] for s in (latest(e) for e in PLACES) if s)
    assert [(x["level"], x["level_label"], x["count"]) for x in o["levels"]] == [
        (lv, RISK_LEVEL_LABELS[lv], levels[lv]) for lv in LEVELS
    ]
    assert o["unscored"] == sum(latest(e) is None for e in PLACES)

    # hazards: open and overdue now, by level; the period's rectification
    hz = o["hazards"]
    for level in ("general", "major"):
        assert hz[f"open_{level}"] == sum(is_open(h) and h.level == level for h in HAZARDS)
        assert hz[f"overdue_{level}"] == sum(overdue(h) and h.level == level for h in HAZARDS)
    created = [h for h in HAZARDS if -h.created_h <= days * 24]
    assert hz["created"] == len(created)
    assert hz["created_closed"] == sum(not is_open(h) for h in created)
    assert hz["rectification_rate"] == pytest.approx(hz["created_closed"] / len(created), abs=1e-4)
    closed = [h for h in HAZARDS if h.closed_h is not None and -h.closed_h <= days * 24]
    assert hz["closed"] == len(closed)
    assert hz["closed_on_time"] == sum(h.closed_h <= h.deadline_h for h in closed if h.closed_h is not None)
    mean = sum((h.closed_h or 0) - h.created_h for h in closed) / len(closed) / 24
    assert hz["mean_days_to_close"] == pytest.approx(mean, abs=0.01)

    # by 镇街 (every town, with a row for the enterprises of none) and by industry, by name
    towns = group_expect({e: p[0] for e, p in PLACES.items()}, days)
    got_towns = {g["key"]: g for g in o["by_town"]}
    assert set(got_towns) == {*TOWNS, None}
    for key, g in got_towns.items():
        assert g["name"] == (TOWNS[key] if key else "未登记镇街")
        want = towns.get(key, {})
        assert {f: g[f] for f in FIGURES} == {f: want.get(f, 0) for f in FIGURES}, key
    industries = group_expect({e: p[1] for e, p in PLACES.items()}, days)
    assert {g["key"]: g["name"] for g in o["by_industry"]} == {k: INDUSTRY_LABELS[k] for k in industries}
    for g in o["by_industry"]:
        assert {f: g[f] for f in (*FIGURES, "major")} == {
            f: industries[g["key"]][f] for f in (*FIGURES, "major")
        }
    assert [g["alerts"] for g in o["by_industry"]] == sorted(
        (g["alerts"] for g in o["by_industry"]), reverse=True
    )

    # alerts by day: every day of the period, their sum the period's alerts
    trend = o["trend"]
    assert trend[-1]["day"] == park.today.isoformat() and len(trend) in (days, days + 1)
    assert sum(d["alerts"] for d in trend) == len(alerts_in(days))
    assert sum(d["confirmed"] for d in trend) == sum(a.status in CONFIRMED for a in alerts_in(days))
    yesterday = [a for a in alerts_in(days) if a.hours_ago <= 26]
    by_day = Counter(
        datetime.fromtimestamp((park.now - a.hours_ago * HOUR) / 1000, TZ).date().isoformat()
        for a in yesterday
    )
    for d in trend:
        if d["day"] in by_day:
            assert d["alerts"] == by_day[d["day"]]

    # coverage: cameras and key posts, online by the node's heartbeat; nodes
    cams = {"cam-a1": True, "cam-b1": False, **{c[0]: c[3] for c in CAMERAS}}
    assert o["coverage"] == {
        "cameras": len(cams),
        "cameras_online": sum(st == "online" for st in HEARTBEAT.values()),
        "key_posts": sum(cams.values()),
        "key_posts_online": sum(cams[c] for c, st in HEARTBEAT.items() if st == "online"),
        "unassigned": sum(c[2] is None for c in CAMERAS),
        "nodes": 2,
        "nodes_online": 1,
        # no uptime span recorded (a heartbeat written straight into the node's row): no rate; the
        # rates from spans: tests/center/reports/test_reports.py::test_coverage_online_hours_from_spans
        "online_rate": None,
        "key_online_rate": None,
    }
    assert o["services"] == sum(ago <= days for _, ago, _ in SERVICES)
    assert o["open_requests"] == 2

    # needing attention: red/orange or overdue; highest level, most overdue, highest score first
    def needs(eid: str) -> bool:
        s = latest(eid)
        return (s is not None and s[1] in ("red", "orange")) or any(
            overdue(h) for h in HAZARDS if h.enterprise == eid
        )

    def rank(eid: str) -> tuple[int, int, float]:
        s = latest(eid)
        over = sum(overdue(h) for h in HAZARDS if h.enterprise == eid)
        return (-LEVEL_RANK[s[1]] if s else 0, -over, -(s[0] if s else 0))

    want = sorted((e for e in PLACES if needs(e)), key=rank)
    assert [a["enterprise_id"] for a in o["attention"]] == want
    first = o["attention"][0]
    assert first["name"] and first["town_name"] == TOWNS[PLACES[want[0]][0] or ""]
    assert first["industry_label"] == INDUSTRY_LABELS[PLACES[want[0]][1]]
    assert first["alerts"] == len(alerts_in(days, want[0]))


@pytest.mark.parametrize("role", ["admin", "operator"])
def test_the_park_staff_see_the_same_overview(park: Park, role: str) -> None:
    mine = park.get(role, "/api/overview?days=30").json()
    gov = park.get("government", "/api/overview?days=30").json()
    for key in ("levels", "hazards", "by_town", "by_industry", "coverage", "attention"):
        assert mine[key] == gov[key], key


@pytest.mark.parametrize(
    "query", ["days=0", "days=367", "days=-7", "days=thirty", "days=7.5"], ids=lambda q: q
)
def test_a_period_out_of_range_is_refused(park: Park, query: str) -> None:
    for path in ("/api/overview", "/api/portfolio"):
        resp = park.get("government", f"{path}?{query}")
        assert resp.status_code == 422, (path, resp.text)
        assert resp.json()["detail"][0]["loc"] == ["query", "days"]


@pytest.mark.parametrize(
    "query",
    [
        "sort=alerts",
        "sort=--score",
        "sort=score;drop",
        "limit=0",
        "limit=1001",
        "offset=-1",
        "insurer_id=a%20b",
    ],
)
def test_a_bad_portfolio_query_is_refused(park: Park, query: str) -> None:
    assert park.get("government", f"/api/portfolio?{query}").status_code == 422


def test_who_may_open_them(park: Park) -> None:
    assert park.get("enterprise", "/api/overview").status_code == 403
    assert park.get("enterprise", "/api/portfolio").status_code == 403
    assert park.get("insurer", "/api/overview").status_code == 403
    assert park.get("edge", "/api/portfolio").status_code == 403
    assert park.get("operator", "/api/portfolio").status_code == 403
    assert park.client.get("/api/overview").status_code == 401
    for role in ("admin", "government", "insurer"):
        assert park.get(role, "/api/portfolio").status_code == 200, role


# --- 承保企业 ---------------------------------------------------------------------------------


def in_force(park: Park, insurer: str | None) -> list[tuple[str, str, str]]:
    """(enterprise, insurer, policy no) of the policies in force today: mini_park's INS1-0001 of
    ENT_A (ins-1, 2000–2999) and INS1-OLD of ENT_B (ended 2001), and the test's."""
    rows = [
        (ENT_A, "ins-1", "INS1-0001", "2000-01-01", "2999-12-31"),
        (ENT_B, "ins-1", "INS1-OLD", "2000-01-01", "2001-12-31"),
    ]
    rows += [(e, i, no, park.day(-start), park.day(-end)) for e, i, no, start, end in POLICIES]
    today = park.today.isoformat()
    return [(e, i, no) for e, i, no, a, b in rows if a <= today <= b and insurer in (None, i)]


def test_an_insurer_sees_only_its_policies_in_force_and_no_alert_or_evidence(park: Park) -> None:
    resp = park.get("insurer", "/api/portfolio?days=30")
    assert resp.status_code == 200, resp.text
    out = resp.json()
    want = in_force(park, "ins-1")
    assert sorted((r["enterprise_id"], r["insurer_id"], r["policy_no"]) for r in out["items"]) == sorted(want)
    assert out["insurer_id"] == "ins-1" and out["insurer_name"] == "测试保险"
    assert out["summary"]["policies"] == out["total"] == len(want)
    text = resp.text
    for word in ("alert", "evidence", "sha256", "objects", "snapshot"):
        assert word not in text, word
    # another insurer's portfolio: not found, whether it exists or not
    assert park.get("insurer", "/api/portfolio?insurer_id=ins-2").status_code == 404
    assert park.get("insurer", "/api/portfolio?insurer_id=nobody").status_code == 404
    assert park.get("insurer", "/api/portfolio?insurer_id=ins-1").json()["total"] == len(want)


def test_the_government_sees_every_insurer_or_one(park: Park) -> None:
    every = park.get("government", "/api/portfolio").json()
    assert sorted((r["enterprise_id"], r["insurer_id"], r["policy_no"]) for r in every["items"]) == sorted(
        in_force(park, None)
    )
    assert every["insurer_id"] is None
    one = park.get("government", "/api/portfolio?insurer_id=ins-2").json()
    assert sorted(r["policy_no"] for r in one["items"]) == sorted(no for _, _, no in in_force(park, "ins-2"))
    assert one["insurer_name"] == "另一家保险"
    assert {r["insurer_name"] for r in one["items"]} == {"另一家保险"}
    assert park.get("admin", "/api/portfolio?insurer_id=nobody").status_code == 404


@pytest.mark.parametrize("days", [7, 30, 90])
def test_each_row_carries_its_scores_changes_hazards_and_services(park: Park, days: int) -> None:
    out = park.get("government", f"/api/portfolio?days={days}").json()
    worse_7: set[str] = set()  # enterprises, once each (ENT_A has two insurers' policies)
    worse_30: set[str] = set()
    better_30: set[str] = set()
    for r in out["items"]:
        eid = r["enterprise_id"]
        by_day = SCORES.get(eid, {})
        now = latest(eid)
        assert (r["score"], r["level"]) == (now if now else (None, None))
        assert r["level_label"] == (RISK_LEVEL_LABELS[now[1]] if now else None)
        assert r["scored_day"] == (park.day(min(by_day)) if by_day else None)
        for ago in (7, 30):
            past = by_day.get(ago)
            assert (r[f"score_{ago}d"], r[f"level_{ago}d"]) == (past if past else (None, None))
            if now and past:
                assert r[f"change_{ago}d"] == pytest.approx(now[0] - past[0], abs=0.05)
                assert r[f"level_change_{ago}d"] == LEVEL_RANK[now[1]] - LEVEL_RANK[past[1]]
            else:
                assert r[f"change_{ago}d"] is None and r[f"level_change_{ago}d"] is None
        if r["level_change_7d"] and r["level_change_7d"] > 0:
            worse_7.add(eid)
        if r["level_change_30d"] and r["level_change_30d"] > 0:
            worse_30.add(eid)
        if r["level_change_30d"] and r["level_change_30d"] < 0:
            better_30.add(eid)
        assert r["open_hazards"] == sum(is_open(h) for h in HAZARDS if h.enterprise == eid)
        assert r["overdue_hazards"] == sum(overdue(h) for h in HAZARDS if h.enterprise == eid)
        assert r["services"] == sum(e == eid and ago <= days for e, ago, _ in SERVICES)
        assert r["industry_label"] == INDUSTRY_LABELS[PLACES[eid][1]]
        assert r["town_name"] == (TOWNS[PLACES[eid][0]] if PLACES[eid][0] else None)
    s = out["summary"]
    assert (s["worse_7d"], s["worse_30d"], s["better_30d"]) == (len(worse_7), len(worse_30), len(better_30))
    assert s["enterprises"] == len({r["enterprise_id"] for r in out["items"]}) < s["policies"]
    levels = Counter(dict({r["enterprise_id"]: r["level"] for r in out["items"]}).values())
    assert {x["level"]: x["count"] for x in s["levels"]} == {lv: levels[lv] for lv in LEVELS}
    assert s["premium_cny"] == pytest.approx(sum(r["premium_cny"] for r in out["items"]))
    # an insurer counts its own service records and the park's, never a co-insurer's
    mine = park.get("insurer", f"/api/portfolio?days={days}").json()
    for r in mine["items"]:
        eid = r["enterprise_id"]
        assert r["services"] == sum(
            e == eid and ago <= days and i in (None, "ins-1") for e, ago, i in SERVICES
        )


@pytest.mark.parametrize(
    "sort", ["score", "-score", "name", "-change_7d", "open_hazards", "-premium", "level"]
)
def test_the_portfolio_sorts_in_the_database(park: Park, sort: str) -> None:
    rows = park.get("government", f"/api/portfolio?sort={sort}").json()["items"]
    key = {"premium": "premium_cny", "level": "level_change_7d"}.get(sort.lstrip("-"), sort.lstrip("-"))
    if sort.lstrip("-") == "level":
        values = [LEVEL_RANK.get(r["level"] or "", 0) for r in rows]
    else:
        values = [r[key] for r in rows]
    present = [v for v in values if v is not None]
    assert values[: len(present)] == present  # no value: last
    assert present == sorted(present, reverse=sort.startswith("-"))
    page = park.get("government", f"/api/portfolio?sort={sort}&limit=1&offset=1").json()
    assert page["total"] == len(rows) and [r["policy_id"] for r in page["items"]] == [rows[1]["policy_id"]]


def test_nothing_in_scope_gives_empty_figures_not_errors(park: Park) -> None:
    """An insurer account linked to no insurer sees an empty portfolio."""
    add_user(park.app.state.session_factory, "u-ins-none", "insurer")
    token = login(park.client, "u-ins-none")
    park.client.cookies.clear()
    out = park.client.get("/api/portfolio", headers=bearer(token)).json()
    assert (
        out["items"] == [] and out["summary"]["policies"] == 0 and out["summary"]["mean_coefficient"] is None
    )
