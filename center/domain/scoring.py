"""Risk score of an enterprise: transparent, documented in center/SCORING.md.

All of it is a pure function of a few counts (:class:`RiskInputs`), so every score can be
explained term by term and tested on hand-built histories; :func:`gather` reads those
counts from the database as of a moment, :func:`snapshot` stores a day's scores.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, and_, case, func, select
from sqlalchemy.orm import InstrumentedAttribute, Session, aliased

from center.config import RiskConfig
from center.domain.timeparse import DAY_MS
from center.domain.vocabulary import RISK_LEVEL_LABELS
from center.store.models import Alert, Camera, Enterprise, Hazard, RiskScore
from protocol import now_ms

CONFIRMED = ("acknowledged", "escalated")
#: the terms' names as every page and report shows them (the keys are in the API, in English)
TERM_LABELS = {
    "events": "告警频度（每千摄像头小时按严重程度加权的告警数）",
    "repeats": "重复发生（同一摄像头同一规则的重复告警）",
    "open_hazards": "未销号隐患",
    "overdue_hazards": "逾期隐患",
}
LEVELS = ("red", "orange", "yellow", "blue")  # highest first
LEVEL_RANK = {"red": 4, "orange": 3, "yellow": 2, "blue": 1}


@dataclass(frozen=True)
class AlertFact:
    camera: str
    rule_id: str
    severity: str  # general / significant / major
    status: str  # open / acknowledged / dismissed / escalated


@dataclass
class RiskInputs:
    cameras: int
    window_days: int
    alerts: list[AlertFact] = field(default_factory=list)
    open_hazards: Counter[str] = field(default_factory=Counter)  # level -> count
    overdue_hazards: Counter[str] = field(default_factory=Counter)  # level -> count (also in open)


def precision_by_camera(alerts: list[AlertFact]) -> dict[str, float]:
    """Laplace-smoothed share of reviewed alerts that were real: (confirmed+1)/(reviewed+2)."""
    confirmed: Counter[str] = Counter()
    dismissed: Counter[str] = Counter()
    for a in alerts:
        if a.status in CONFIRMED:
            confirmed[a.camera] += 1
        elif a.status == "dismissed":
            dismissed[a.camera] += 1
    cams = {a.camera for a in alerts}
    return {c: (confirmed[c] + 1) / (confirmed[c] + dismissed[c] + 2) for c in cams}


def level_of(score: float, cfg: RiskConfig) -> str:
    t = cfg.thresholds
    if score >= t.red:
        return "red"
    if score >= t.orange:
        return "orange"
    if score >= t.yellow:
        return "yellow"
    return "blue"


def coefficient_of(score: float, cfg: RiskConfig) -> float:
    return round(cfg.coefficient_min + (cfg.coefficient_max - cfg.coefficient_min) * score / 100.0, 2)


def compute(inputs: RiskInputs, cfg: RiskConfig) -> dict[str, Any]:
    """The score with its explanation: every input, and the points of every term."""
    camera_hours = max(inputs.cameras, 1) * inputs.window_days * 24
    precision = precision_by_camera(inputs.alerts)
    w = cfg.severity_weights
    confirmed_w = sum(w[a.severity] for a in inputs.alerts if a.status in CONFIRMED)
    open_w = sum(w[a.severity] * precision[a.camera] for a in inputs.alerts if a.status == "open")
    weighted = confirmed_w + open_w
    rate = weighted / camera_hours * 1000.0
    events_points = cfg.event_rate_weight * rate

    groups = Counter((a.camera, a.rule_id) for a in inputs.alerts if a.status != "dismissed")
    repeats = sum(n - 1 for n in groups.values() if n > 1)
    repeat_points = min(cfg.repeat_cap, cfg.repeat_weight * repeats)

    open_points = sum(cfg.open_hazard_weights[lv] * n for lv, n in inputs.open_hazards.items())
    overdue_points = sum(cfg.overdue_hazard_weights[lv] * n for lv, n in inputs.overdue_hazards.items())

    raw = events_points + repeat_points + open_points + overdue_points
    score = round(min(100.0, raw), 1)
    level = level_of(score, cfg)
    status_counts = Counter(a.status for a in inputs.alerts)
    terms = [
        {
            "key": "events",
            "label": TERM_LABELS["events"],
            "points": round(events_points, 2),
            "detail": {
                "confirmed_weight": round(confirmed_w, 3),
                "unreviewed_weight": round(open_w, 3),
                "weighted_alerts": round(weighted, 3),
                "camera_hours": camera_hours,
                "rate_per_1000_camera_hours": round(rate, 3),
                "weight": cfg.event_rate_weight,
            },
        },
        {
            "key": "repeats",
            "label": TERM_LABELS["repeats"],
            "points": round(repeat_points, 2),
            "detail": {"repeats": repeats, "weight": cfg.repeat_weight, "cap": cfg.repeat_cap},
        },
        {
            "key": "open_hazards",
            "label": TERM_LABELS["open_hazards"],
            "points": round(open_points, 2),
            "detail": {"counts": dict(inputs.open_hazards), "weights": cfg.open_hazard_weights},
        },
        {
            "key": "overdue_hazards",
            "label": TERM_LABELS["overdue_hazards"],
            "points": round(overdue_points, 2),
            "detail": {"counts": dict(inputs.overdue_hazards), "weights": cfg.overdue_hazard_weights},
        },
    ]
    return {
        "score": score,
        "raw_points": round(raw, 2),
        "level": level,
        "level_label": RISK_LEVEL_LABELS[level],
        "coefficient": coefficient_of(score, cfg),
        "inputs": {
            "cameras": inputs.cameras,
            "window_days": inputs.window_days,
            "alerts": {
                "total": len(inputs.alerts),
                "confirmed": sum(status_counts[s] for s in CONFIRMED),
                "unreviewed": status_counts["open"],
                "dismissed_false_alarms": status_counts["dismissed"],
            },
            "camera_precision": {c: round(p, 3) for c, p in sorted(precision.items())},
            "severity_weights": w,
        },
        "terms": terms,
        "thresholds": cfg.thresholds.model_dump(),
        "formula": (
            "score = min(100, events + repeats + open_hazards + overdue_hazards); "
            "events = event_rate_weight × 1000 × Σ(severity weight × [1 if confirmed, camera precision if "
            "unreviewed, 0 if dismissed]) / camera-hours; repeats = min(cap, repeat_weight × Σ(n−1) per "
            "camera and rule); hazards = Σ weight(level) × count; coefficient = min + (max − min) × score/100"
        ),
    }


# --- from the database -------------------------------------------------------------------


#: ids per IN (...) list: well under SQLite's and PostgreSQL's bound parameter limits
IN_CHUNK = 500


def gather_many(
    session: Session, enterprise_ids: Sequence[str] | None, at_ms: int, cfg: RiskConfig, chunk: int = IN_CHUNK
) -> dict[str, RiskInputs]:
    """:func:`gather` for many enterprises in three queries per ``chunk`` of them (every
    enterprise when ``enterprise_ids`` is None): the park's map and risk list score thousands at once."""
    since = at_ms - cfg.window_days * DAY_MS
    if enterprise_ids is None:
        ids = list(session.scalars(select(Enterprise.id)))
        chunks: list[list[str] | None] = [None]
    else:
        ids = list(dict.fromkeys(enterprise_ids))
        chunks = [ids[i : i + chunk] for i in range(0, len(ids), chunk)]
    cameras: Counter[str] = Counter()
    facts: dict[str, list[AlertFact]] = {eid: [] for eid in ids}
    open_h: dict[str, Counter[str]] = {eid: Counter() for eid in ids}
    overdue: dict[str, Counter[str]] = {eid: Counter() for eid in ids}
    for part in chunks:
        cam_q = select(Camera.enterprise_id, func.count()).group_by(Camera.enterprise_id)
        alert_q = select(Alert.enterprise, Alert.camera, Alert.rule_id, Alert.severity, Alert.status).where(
            Alert.started_ms >= since, Alert.started_ms < at_ms
        )
        hazard_q = select(Hazard.enterprise_id, Hazard.level, Hazard.deadline_ms).where(
            Hazard.created_ms <= at_ms, (Hazard.closed_ms.is_(None)) | (Hazard.closed_ms > at_ms)
        )
        if part is not None:
            cam_q = cam_q.where(Camera.enterprise_id.in_(part))
            alert_q = alert_q.where(Alert.enterprise.in_(part))
            hazard_q = hazard_q.where(Hazard.enterprise_id.in_(part))
        for cam_ent, n in session.execute(cam_q):
            if cam_ent is not None:
                cameras[cam_ent] += n
        for alert_ent, camera, rule_id, severity, status in session.execute(alert_q):
            if alert_ent in facts:  # not an alert of a camera of no (or an unknown) enterprise
                facts[alert_ent].append(AlertFact(camera, rule_id, severity, status))
        for eid, level, deadline in session.execute(hazard_q):
            if eid in open_h:
                open_h[eid][level] += 1
                if deadline < at_ms:
                    overdue[eid][level] += 1
    return {
        eid: RiskInputs(int(cameras[eid]), cfg.window_days, facts[eid], open_h[eid], overdue[eid])
        for eid in ids
    }


def gather(session: Session, enterprise_id: str, at_ms: int, cfg: RiskConfig) -> RiskInputs:
    """The inputs as of ``at_ms``: alerts that started in the window before it, hazards open
    at that moment (created before, not closed yet) and, of those, the overdue ones."""
    return gather_many(session, [enterprise_id], at_ms, cfg)[enterprise_id]


def _explained(enterprise_id: str, inputs: RiskInputs, cfg: RiskConfig, at: int) -> dict[str, Any]:
    result = compute(inputs, cfg)
    result["enterprise_id"] = enterprise_id
    result["as_of_ms"] = at
    result["window"] = {"from_ms": at - cfg.window_days * DAY_MS, "to_ms": at}
    return result


def current(
    session: Session, enterprise_id: str, cfg: RiskConfig, at_ms: int | None = None
) -> dict[str, Any]:
    at = now_ms() if at_ms is None else at_ms
    return _explained(enterprise_id, gather(session, enterprise_id, at, cfg), cfg, at)


def current_many(
    session: Session, enterprise_ids: Sequence[str] | None, cfg: RiskConfig, at_ms: int | None = None
) -> dict[str, dict[str, Any]]:
    """:func:`current` of many enterprises (all when None), keyed by id, in the order given."""
    at = now_ms() if at_ms is None else at_ms
    inputs = gather_many(session, enterprise_ids, at, cfg)
    return {eid: _explained(eid, got, cfg, at) for eid, got in inputs.items()}


def day_end_ms(day: date, tz: ZoneInfo) -> int:
    return int(datetime.combine(day + timedelta(days=1), time(), tz).timestamp() * 1000)


def snapshot(session: Session, cfg: RiskConfig, tz: ZoneInfo, day: date | None = None) -> int:
    """Store each enterprise's score of ``day`` (today so far when None, or a past day as of
    its end). Replaces that day's row. Returns how many were stored; the caller commits."""
    now = now_ms()
    today = datetime.now(tz).date()
    day = day or today
    at = min(now, day_end_ms(day, tz))
    n = 0
    stored = {
        r.enterprise_id: r for r in session.scalars(select(RiskScore).where(RiskScore.day == day.isoformat()))
    }
    for ent, result in current_many(session, None, cfg, at).items():
        row = stored.get(ent)
        if row is None:
            row = RiskScore(enterprise_id=ent, day=day.isoformat())
            session.add(row)
        row.score = result["score"]
        row.level = result["level"]
        row.coefficient = result["coefficient"]
        row.terms = {t["key"]: t["points"] for t in result["terms"]}
        row.computed_ms = now
        n += 1
    return n


# --- the stored scores, in SQL (the overview and the portfolio aggregate over them) ---------------


def level_rank(column: ColumnElement[str] | InstrumentedAttribute[str]) -> ColumnElement[int]:
    """:data:`LEVEL_RANK` of a level column as SQL (0 for none), so "worse" compares as numbers."""
    return case(LEVEL_RANK, value=column, else_=0)


def latest_score(enterprise_id: Any, day: str) -> tuple[Any, ColumnElement[bool]]:
    """An alias of :class:`RiskScore` and the condition that joins it to ``enterprise_id`` (a
    column) as that enterprise's newest stored daily score up to ``day`` (YYYY-MM-DD): outer-join
    it for the enterprises without one. The newest day is found per enterprise through the primary
    key (enterprise_id, day), so it costs an index lookup a row. Today's row is refreshed every
    hour (center/app.py), so this is at most an hour behind :func:`current`."""
    cur = aliased(RiskScore, name="cur")
    newer = aliased(RiskScore, name="newest")
    newest = (
        select(func.max(newer.day))
        .where(newer.enterprise_id == enterprise_id, newer.day <= day)
        .scalar_subquery()
    )
    return cur, and_(cur.enterprise_id == enterprise_id, cur.day == newest)
