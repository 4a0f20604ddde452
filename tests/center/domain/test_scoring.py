"""Risk scoring on constructed histories, against results computed by hand (center/SCORING.md)."""

from __future__ import annotations

import uuid
from collections import Counter
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from center.config import RiskConfig
from center.domain import scoring
from center.domain.scoring import AlertFact, RiskInputs
from center.ingest.upsert import apply_alert
from center.store import db
from center.store.models import Alert, Hazard, RiskScore
from protocol import AlertEvent
from tests.centerkit import ENT_A, ENT_B, mini_park

CFG = RiskConfig()
DAY = 86_400_000
T = 1_750_000_000_000


def test_defaults_are_the_documented_ones() -> None:
    assert CFG.severity_weights == {"general": 1.0, "significant": 3.0, "major": 10.0}
    assert (CFG.event_rate_weight, CFG.repeat_weight, CFG.repeat_cap) == (0.25, 0.2, 10.0)
    assert CFG.open_hazard_weights == {"general": 4.0, "major": 15.0}
    assert CFG.overdue_hazard_weights == {"general": 6.0, "major": 20.0}
    assert (CFG.thresholds.red, CFG.thresholds.orange, CFG.thresholds.yellow) == (60, 35, 15)
    assert (CFG.coefficient_min, CFG.coefficient_max, CFG.window_days) == (0.7, 1.3, 30)


def test_a_mixed_history_by_hand() -> None:
    alerts = [
        AlertFact("cam1", "r1", "major", "acknowledged"),
        AlertFact("cam1", "r1", "general", "open"),
        AlertFact("cam1", "r1", "general", "open"),
        AlertFact("cam1", "r2", "significant", "dismissed"),
        AlertFact("cam2", "r3", "significant", "escalated"),
        AlertFact("cam2", "r3", "general", "dismissed"),
        AlertFact("cam2", "r4", "general", "dismissed"),
    ]
    inputs = RiskInputs(2, 30, alerts, Counter(general=2, major=1), Counter(major=1))
    r = scoring.compute(inputs, CFG)
    # camera-hours 2 × 30 × 24 = 1440; precision cam1 (1+1)/(1+1+2) = 0.5, cam2 (1+1)/(1+2+2) = 0.4
    assert r["inputs"]["camera_precision"] == {"cam1": 0.5, "cam2": 0.4}
    terms = {t["key"]: t for t in r["terms"]}
    # confirmed 10 + 3, unreviewed 2 × 1 × 0.5 → 14 weighted; 14 / 1440 × 1000 = 9.7222; × 0.25
    assert terms["events"]["detail"]["weighted_alerts"] == 14.0
    assert terms["events"]["detail"]["rate_per_1000_camera_hours"] == pytest.approx(9.722, abs=1e-3)
    assert terms["events"]["points"] == pytest.approx(2.43, abs=0.005)
    # (cam1, r1) has 3 non-dismissed alerts → 2 repeats × 0.2
    assert (terms["repeats"]["detail"]["repeats"], terms["repeats"]["points"]) == (2, 0.4)
    assert terms["open_hazards"]["points"] == 2 * 4 + 15
    assert terms["overdue_hazards"]["points"] == 20
    # 2.4306 + 0.4 + 23 + 20 = 45.83
    assert (r["score"], r["level"], r["level_label"]) == (45.8, "orange", "橙")
    assert r["coefficient"] == 0.97  # 0.7 + 0.6 × 0.458
    assert r["inputs"]["alerts"] == {"total": 7, "confirmed": 2, "unreviewed": 2, "dismissed_false_alarms": 3}


def test_false_alarms_lower_the_score() -> None:
    real = [AlertFact("cam1", f"r{i}", "major", "open") for i in range(6)]
    noisy = [*real, *(AlertFact("cam1", "rx", "general", "dismissed") for _ in range(8))]
    plain = scoring.compute(RiskInputs(1, 30, real), CFG)
    corrected = scoring.compute(RiskInputs(1, 30, noisy), CFG)
    # without reviews each unreviewed alert counts at precision 1/2; 8 dismissals make it 1/10
    assert plain["terms"][0]["detail"]["weighted_alerts"] == 30.0
    assert corrected["terms"][0]["detail"]["weighted_alerts"] == 6.0
    assert corrected["score"] < plain["score"]


def test_empty_history_is_blue_and_the_cap_is_red() -> None:
    empty = scoring.compute(RiskInputs(0, 30), CFG)
    assert (empty["score"], empty["level"], empty["coefficient"]) == (0.0, "blue", 0.7)
    worst = scoring.compute(RiskInputs(1, 30, [], Counter(major=5), Counter(major=5)), CFG)
    assert (worst["raw_points"], worst["score"], worst["level"], worst["coefficient"]) == (
        175.0,
        100.0,
        "red",
        1.3,
    )
    repeats = [AlertFact("c", "r", "general", "acknowledged")] * 200
    assert scoring.compute(RiskInputs(1, 30, repeats), CFG)["terms"][1]["points"] == 10.0  # capped


@pytest.mark.parametrize(
    ("score", "level"),
    [
        (0, "blue"),
        (14.9, "blue"),
        (15, "yellow"),
        (34.9, "yellow"),
        (35, "orange"),
        (59.9, "orange"),
        (60, "red"),
    ],
)
def test_levels_at_the_thresholds(score: float, level: str) -> None:
    assert scoring.level_of(score, CFG) == level


def test_thresholds_and_coefficients_are_configurable() -> None:
    cfg = RiskConfig.model_validate(
        {"thresholds": {"red": 40, "orange": 20, "yellow": 5}, "coefficient_min": 0.8, "coefficient_max": 1.2}
    )
    r = scoring.compute(RiskInputs(1, 30, [], Counter(general=5)), cfg)  # 20 points
    assert (r["score"], r["level"], r["coefficient"]) == (20.0, "orange", 0.88)
    with pytest.raises(ValueError, match="red > orange > yellow"):
        RiskConfig.model_validate({"thresholds": {"red": 10, "orange": 20, "yellow": 5}})


# --- from the database, as of a moment -------------------------------------------------------


@pytest.fixture
def factory(db_url: str) -> Any:
    engine = db.make_engine(db_url)
    db.upgrade(engine)
    f = db.make_session_factory(engine)
    mini_park(f)
    yield f
    engine.dispose()


def _alert(s: Any, enterprise: str | None, camera: str, started: int, severity: str, status: str) -> None:
    ev = AlertEvent(
        event_id=str(uuid.uuid4()), phase="new", seq=0, site="yijia", node="edge-01", camera=camera,
        enterprise=enterprise, rule_id="r1", rule_type="intrusion", severity=severity, started_ms=started,
        last_ms=started,
    )  # fmt: skip
    _, row = apply_alert(s, ev, started)
    row.status = status


def _hazard(s: Any, code: str, level: str, created: int, deadline: int, closed: int | None) -> None:
    s.add(
        Hazard(
            code=code, enterprise_id=ENT_A, title=code, description="", level=level, source="inspection",
            status="closed" if closed is not None and closed <= T else "in_progress", deadline_ms=deadline,
            assignee="", before_evidence=[], after_evidence=[], rectification="", review_note="",
            created_by="t", created_ms=created, updated_ms=created, closed_ms=closed,
        )
    )  # fmt: skip


def test_gather_as_of_a_moment_by_hand(factory: Any) -> None:
    with factory.begin() as s:
        _alert(s, ENT_A, "cam-a1", T - 1 * DAY, "major", "acknowledged")
        _alert(s, ENT_A, "cam-a1", T - 2 * DAY, "general", "open")
        _alert(s, ENT_A, "cam-a1", T - 3 * DAY, "general", "dismissed")
        _alert(s, ENT_A, "cam-a1", T - 31 * DAY, "major", "acknowledged")  # before the window
        _alert(s, ENT_A, "cam-a1", T + 3_600_000, "major", "acknowledged")  # after the moment
        _alert(s, ENT_B, "cam-b1", T - 1 * DAY, "major", "acknowledged")  # another enterprise
        _hazard(s, "H1", "general", T - 10 * DAY, T - 3 * DAY, None)  # open and overdue
        _hazard(s, "H2", "major", T - 5 * DAY, T + 5 * DAY, T + DAY)  # open at T (closed later)
        _hazard(s, "H3", "major", T - 20 * DAY, T - 10 * DAY, T - 15 * DAY)  # closed before T
        _hazard(s, "H4", "general", T + DAY, T + 9 * DAY, None)  # found after T
    with factory() as s:
        r = scoring.current(s, ENT_A, CFG, at_ms=T)
    terms = {t["key"]: t["points"] for t in r["terms"]}
    # 1 camera → 720 camera-hours; precision (1+1)/(1+1+2) = 0.5; weighted 10 + 1 × 0.5 = 10.5
    # 10.5 / 720 × 1000 = 14.583 × 0.25 = 3.646; one repeat (2 non-dismissed on cam-a1/r1) = 0.2
    assert terms == {"events": 3.65, "repeats": 0.2, "open_hazards": 19.0, "overdue_hazards": 6.0}
    assert (r["score"], r["level"], r["coefficient"]) == (28.8, "yellow", 0.87)  # 3.646 + 0.2 + 4 + 15 + 6
    assert r["window"] == {"from_ms": T - 30 * DAY, "to_ms": T}


def test_many_at_once_scores_as_one_at_a_time(factory: Any) -> None:
    test_gather_as_of_a_moment_by_hand(factory)  # the same history
    with factory.begin() as s:
        _alert(s, ENT_B, "cam-b1", T - 2 * DAY, "general", "dismissed")
        _alert(s, None, "cam-x", T - 2 * DAY, "major", "open")  # a camera of no known enterprise
    with factory() as s:
        one = {e: scoring.current(s, e, CFG, at_ms=T) for e in (ENT_A, ENT_B, "nobody")}
        every = scoring.current_many(s, None, CFG, at_ms=T)
        assert every == {e: one[e] for e in (ENT_A, ENT_B)}
        assert scoring.current_many(s, [ENT_B, ENT_A, "nobody", ENT_B], CFG, at_ms=T) == {
            ENT_B: one[ENT_B],
            ENT_A: one[ENT_A],
            "nobody": one["nobody"],
        }
        chunked = scoring.gather_many(s, [ENT_A, ENT_B, "nobody"], T, CFG, chunk=1)
        assert chunked == {e: scoring.gather(s, e, T, CFG) for e in (ENT_A, ENT_B, "nobody")}
    assert one[ENT_A]["score"] == 28.8 and one[ENT_B]["score"] > 0 and one["nobody"]["score"] == 0


def test_snapshot_keeps_one_row_per_enterprise_and_day(factory: Any) -> None:
    tz = ZoneInfo("Asia/Shanghai")
    from datetime import date

    with factory.begin() as s:
        assert scoring.snapshot(s, CFG, tz, date(2025, 6, 1)) == 2
    with factory.begin() as s:
        _alert(s, ENT_A, "cam-a1", T - DAY, "major", "acknowledged")
        assert scoring.snapshot(s, CFG, tz, date(2025, 6, 1)) == 2  # replaces that day's rows
    with factory() as s:
        rows = list(s.query(RiskScore).order_by(RiskScore.enterprise_id))
        assert [(r.enterprise_id, r.day) for r in rows] == [(ENT_A, "2025-06-01"), (ENT_B, "2025-06-01")]
        assert set(rows[0].terms) == {"events", "repeats", "open_hazards", "overdue_hazards"}
        assert s.query(Alert).count() == 1
