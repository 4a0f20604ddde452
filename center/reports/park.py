"""The park / district report for the government (园区/辖区风险报告): every enterprise ranked by risk,
figures by 镇街 and by industry, changes since the start of the period, rectification and
coverage, the problems that recur most across enterprises. Counting is grouped SQL (one query
per figure for all enterprises); the score of each enterprise is the documented one
(center/domain/scoring.py) at the end and at the start of the period."""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from center.auth.policy import Principal
from center.config import CenterConfig
from center.domain import scoring, uptime
from center.domain.vocabulary import INDUSTRY_LABELS, RISK_LEVEL_LABELS, ROLE_LABELS, RULE_TYPE_LABELS, label
from center.reports.data import LEVEL_COLOURS, _pct, methodology
from center.reports.period import Period
from center.store.models import Alert, Camera, Enterprise, Hazard, Town
from protocol import now_ms

LEVELS = ("red", "orange", "yellow", "blue")
TOP_PROBLEMS = 10
MAX_ENTERPRISES = 2000  # ranked in one report; more are counted, not listed


def _group(rows: list[dict[str, Any]], key: str) -> list[dict[str, Any]]:
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        groups[r[key] or "未填写"].append(r)
    out = []
    for name, members in groups.items():
        found = sum(m["hazards_found"] for m in members)
        closed = sum(m["hazards_closed"] for m in members)
        levels = Counter(m["level"] for m in members)
        out.append(
            {
                "name": name,
                "enterprises": len(members),
                "levels": [levels.get(lv, 0) for lv in LEVELS],
                "mean_score": round(sum(m["score"] for m in members) / len(members), 1),
                "alerts": sum(m["alerts"] for m in members),
                "hazards_found": found,
                "rectification_pct": _pct(closed, found),
                "overdue_open": sum(m["overdue_open"] for m in members),
                "cameras": sum(m["cameras"] for m in members),
                "covered_pct": _pct(sum(1 for m in members if m["cameras"]), len(members)),
                "online_pct": _pct(
                    sum(m["online_ms"] for m in members), sum(m["window_ms"] for m in members)
                ),
            }
        )
    return sorted(out, key=lambda g: (-g["mean_score"], g["name"]))


def park_report(
    session: Session,
    config: CenterConfig,
    period: Period,
    user: Principal,
    town_id: str | None = None,
    report_no: str = "",
    progress: Any = None,
) -> dict[str, Any]:
    """What the park / district report of ``period`` says (``town_id``: one 镇街 only)."""
    tell = progress or (lambda _s, _f: None)
    at = min(now_ms(), period.to_ms)
    towns = {t.id: t.name for t in session.scalars(select(Town))}
    stmt = select(Enterprise).order_by(Enterprise.id)
    if town_id is not None:
        stmt = stmt.where(Enterprise.town_id == town_id)
    scope = user.enterprise_scope(session, config.timezone)
    if scope is not None:
        stmt = stmt.where(Enterprise.id.in_(sorted(scope)))
    enterprises = list(session.scalars(stmt.limit(MAX_ENTERPRISES + 1)))
    more = len(enterprises) > MAX_ENTERPRISES
    enterprises = enterprises[:MAX_ENTERPRISES]
    ids = [e.id for e in enterprises]
    in_period = (Alert.started_ms >= period.from_ms, Alert.started_ms < period.to_ms)
    n = func.count()
    alerts: dict[str, Counter[str]] = defaultdict(Counter)
    for eid, status, k in session.execute(
        select(Alert.enterprise, Alert.status, n).where(*in_period).group_by(Alert.enterprise, Alert.status)
    ):
        alerts[eid or ""][status] += k
    h_where = (Hazard.created_ms >= period.from_ms, Hazard.created_ms < period.to_ms)
    found = dict(
        session.execute(select(Hazard.enterprise_id, n).where(*h_where).group_by(Hazard.enterprise_id)).all()
    )
    closed = dict(
        session.execute(
            select(Hazard.enterprise_id, n)
            .where(*h_where, Hazard.closed_ms.is_not(None), Hazard.closed_ms < period.to_ms)
            .group_by(Hazard.enterprise_id)
        ).all()
    )
    overdue = dict(
        session.execute(
            select(Hazard.enterprise_id, n)
            .where(
                *h_where,
                (Hazard.closed_ms.is_(None)) | (Hazard.closed_ms >= period.to_ms),
                Hazard.deadline_ms < at,
            )
            .group_by(Hazard.enterprise_id)
        ).all()
    )
    cams = dict(session.execute(select(Camera.enterprise_id, n).group_by(Camera.enterprise_id)).all())
    key_posts = dict(
        session.execute(
            select(Camera.enterprise_id, n).where(Camera.key_post).group_by(Camera.enterprise_id)
        ).all()
    )
    # online hours of every camera over the period (center/domain/uptime.py), added up per enterprise
    cam_rows = session.execute(
        select(Camera.id, Camera.enterprise_id, Camera.created_ms).where(Camera.enterprise_id.in_(ids))
    ).all()
    spans = uptime.uptime(session, {cam: ms for cam, _e, ms in cam_rows}, period.from_ms, period.to_ms, at)
    up_by: dict[str, list[uptime.Uptime | None]] = defaultdict(list)
    for cam, eid, _ms in cam_rows:
        up_by[eid].append(spans[cam])
    tell("scores", 0.0)
    scores_now = scoring.current_many(session, ids, config.risk, at)
    scores_before = scoring.current_many(session, ids, config.risk, period.from_ms)
    rows = []
    for e in enterprises:
        now_r, before = scores_now[e.id], scores_before[e.id]
        a = alerts.get(e.id, Counter())
        reviewed = a["acknowledged"] + a["escalated"] + a["dismissed"]
        f, c = int(found.get(e.id, 0)), int(closed.get(e.id, 0))
        up = uptime.total(up_by.get(e.id, []))
        rows.append(
            {
                "enterprise_id": e.id,
                "name": e.name,
                "town": towns.get(e.town_id or "", ""),
                "industry": label(INDUSTRY_LABELS, e.industry),
                "score": now_r["score"],
                "level": now_r["level"],
                "level_label": RISK_LEVEL_LABELS[now_r["level"]],
                "level_colour": LEVEL_COLOURS[now_r["level"]],
                "coefficient": now_r["coefficient"],
                "previous_score": before["score"],
                "previous_level_label": RISK_LEVEL_LABELS[before["level"]],
                "score_change": round(now_r["score"] - before["score"], 1),
                "level_change": LEVELS.index(before["level"]) - LEVELS.index(now_r["level"]),
                "alerts": sum(a.values()),
                "false_alarm_pct": _pct(a["dismissed"], reviewed),
                "hazards_found": f,
                "hazards_closed": c,
                "rectification_pct": _pct(c, f),
                "overdue_open": int(overdue.get(e.id, 0)),
                "cameras": int(cams.get(e.id, 0)),
                "key_posts": int(key_posts.get(e.id, 0)),
                "online_ms": up.online_ms if up else 0,
                "window_ms": up.window_ms if up else 0,
            }
        )
    rows.sort(key=lambda r: (-r["score"], r["name"]))
    for rank, r in enumerate(rows, 1):
        r["rank"] = rank
    tell("problems", 0.95)
    problems = session.execute(
        select(Alert.rule_type, n, func.count(func.distinct(Alert.enterprise)))
        .where(*in_period, Alert.status != "dismissed", Alert.enterprise.in_(ids))
        .group_by(Alert.rule_type)
        .order_by(n.desc())
        .limit(TOP_PROBLEMS)
    ).all()
    total_found = sum(r["hazards_found"] for r in rows)
    total_closed = sum(r["hazards_closed"] for r in rows)
    levels = Counter(r["level"] for r in rows)
    tz_now = datetime.now(period.tz)
    who = user.display_name or user.username or "系统"
    return {
        "kind": "park",
        "cover": {
            "report_no": report_no,
            "title": "园区安全风险报告" if town_id is None else "镇街安全风险报告",
            "scope": towns.get(town_id, town_id) if town_id else config.site_name,
            "period": {
                "from": period.start.isoformat(),
                "to": period.end.isoformat(),
                "days": period.days,
                "label": period.label(),
            },
            "issuer": config.site_name,
            "issued_by": f"{who}（{label(ROLE_LABELS, user.role or '')}）",
            "issued_at": tz_now.strftime("%Y-%m-%d %H:%M"),
            "timezone": str(period.tz),
        },
        "notes": (["报告期截至今天。"] if period.asked_end else [])
        + ([f"企业超过 {MAX_ENTERPRISES} 家，只列出前 {MAX_ENTERPRISES} 家。"] if more else []),
        "summary": {
            "enterprises": len(rows),
            "levels": [
                {
                    "level": lv,
                    "label": RISK_LEVEL_LABELS[lv],
                    "colour": LEVEL_COLOURS[lv],
                    "count": levels.get(lv, 0),
                }
                for lv in LEVELS
            ],
            "alerts": sum(r["alerts"] for r in rows),
            "hazards_found": total_found,
            "rectification_pct": _pct(total_closed, total_found),
            "overdue_open": sum(r["overdue_open"] for r in rows),
            "cameras": sum(r["cameras"] for r in rows),
            "key_posts": sum(r["key_posts"] for r in rows),
            "covered": sum(1 for r in rows if r["cameras"]),
            "covered_pct": _pct(sum(1 for r in rows if r["cameras"]), len(rows)),
            "online_pct": _pct(sum(r["online_ms"] for r in rows), sum(r["window_ms"] for r in rows)),
            "rose": [r for r in rows if r["level_change"] > 0],
            "fell": [r for r in rows if r["level_change"] < 0],
        },
        "ranking": rows,
        "by_town": _group(rows, "town"),
        "by_industry": _group(rows, "industry"),
        "problems": [
            {"type": label(RULE_TYPE_LABELS, t), "alerts": k, "enterprises": m} for t, k, m in problems
        ],
        "methodology": methodology(config),
    }
