"""What a 风险诊断报告 says, gathered from the store: one dict of plain values (the JSON answer,
and what the templates and charts are drawn from). Counting is done by the database (GROUP BY),
so a year of 100,000 alerts costs a few grouped queries, not 100,000 rows in Python.

Every label is Chinese (from center/domain/vocabulary.py); every list is bounded; people are
named, never given by id. An insurer's report holds its own policies and service records only.
Evidence thumbnails (recurring problems) have every face blurred at render time
(center/reports/faces.py) for every reader; an insurer gets only these blurred thumbnails, never
the evidence itself (center/auth/policy.py)."""

from __future__ import annotations

import logging
import uuid
from collections import Counter, defaultdict
from datetime import datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from center.auth.policy import Principal, service_records_visible
from center.config import CenterConfig
from center.domain import scoring, uptime
from center.domain.vocabulary import (
    ALERT_STATUS_LABELS,
    HAZARD_LEVEL_LABELS,
    HAZARD_STATUS_LABELS,
    INDUSTRY_LABELS,
    RISK_LEVEL_LABELS,
    ROLE_LABELS,
    RULE_TYPE_LABELS,
    SERVICE_LABELS,
    Role,
    label,
)
from center.reports.faces import Thumbnails
from center.reports.period import Period
from center.store.models import (
    Alert,
    Camera,
    Enterprise,
    EvidenceFile,
    EvidenceOwner,
    Hazard,
    InsurancePolicy,
    Insurer,
    Node,
    NodeConfigVersion,
    Park,
    ServiceRecord,
    Town,
)
from protocol import now_ms

log = logging.getLogger(__name__)

HOUR_MS = 3_600_000
DAY_MS = 86_400_000
LIST_CAP = 100  # rows of a listed table (major hazards, rules, services); the rest are counted
RECURRING_TOP = 8  # recurring problems shown
LEVEL_COLOURS = {"red": "#d32f2f", "orange": "#ef6c00", "yellow": "#f9a825", "blue": "#1565c0"}
SEVERITY_LABELS_ZH = {"general": "一般", "significant": "较大", "major": "重大"}
RECOMMENDATIONS_FILE = Path(__file__).with_name("recommendations.yaml")


@lru_cache(maxsize=1)
def recommendations() -> dict[str, Any]:
    """The recommendations table (center/reports/recommendations.yaml)."""
    with RECOMMENDATIONS_FILE.open(encoding="utf-8") as f:
        data: dict[str, Any] = yaml.safe_load(f)
    return data


def new_report_no(kind: str, day: str) -> str:
    """A report number nobody else gets: kind, day and a random part (FXZD-20261203-5F3A9C1B)."""
    return f"{kind}-{day.replace('-', '')}-{uuid.uuid4().hex[:8].upper()}"


def _pct(num: float, den: float) -> float | None:
    return round(100.0 * num / den, 1) if den else None


def _iso_day(ms: int | None, period: Period) -> str:
    if ms is None:
        return ""
    return datetime.fromtimestamp(ms / 1000, period.tz).strftime("%Y-%m-%d")


# --- the parts ------------------------------------------------------------------------------


def _cover(
    session: Session, config: CenterConfig, e: Enterprise, period: Period, user: Principal, report_no: str
) -> dict[str, Any]:
    town = session.get(Town, e.town_id) if e.town_id else None
    park = session.get(Park, e.park_id) if e.park_id else None
    first, last = period.start.isoformat(), period.end.isoformat()
    stmt = (
        select(InsurancePolicy, Insurer.name)
        .join(Insurer, Insurer.id == InsurancePolicy.insurer_id)
        .where(
            InsurancePolicy.enterprise_id == e.id,
            InsurancePolicy.start_date <= last,
            InsurancePolicy.end_date >= first,
        )
        .order_by(InsurancePolicy.start_date)
    )
    if user.role is Role.INSURER:
        stmt = stmt.where(InsurancePolicy.insurer_id == user.insurer_id)
    policies = [
        {
            "insurer": name,
            "policy_no": p.policy_no,
            "start_date": p.start_date,
            "end_date": p.end_date,
            "premium_cny": p.premium_cny,
            "insured_headcount": p.insured_headcount,
        }
        for p, name in session.execute(stmt.limit(LIST_CAP))
    ]
    tz_now = datetime.now(period.tz)
    issuer_name = user.display_name or user.username or "系统"
    return {
        "report_no": report_no,
        "title": "风险诊断报告",
        "enterprise_name": e.name,
        "credit_code": e.credit_code,
        "industry": label(INDUSTRY_LABELS, e.industry),
        "town": town.name if town else "",
        "park": park.name if park else "",
        "address": e.address,
        "period": {"from": first, "to": last, "days": period.days, "label": period.label()},
        "period_cut": period.asked_end.isoformat() if period.asked_end else None,
        "policies": policies,
        "issuer": config.site_name,
        "issued_by": f"{issuer_name}（{label(ROLE_LABELS, user.role or '')}）",
        "issued_at": tz_now.strftime("%Y-%m-%d %H:%M"),
        "timezone": str(period.tz),
    }


def _summary(session: Session, config: CenterConfig, e: Enterprise, period: Period) -> dict[str, Any]:
    """The score as of the end of the period and as of its start (the end of the period before)."""
    at = min(now_ms(), period.to_ms)
    now = scoring.current(session, e.id, config.risk, at)
    before = scoring.current(session, e.id, config.risk, period.from_ms)
    terms = [{"key": t["key"], "label": t["label"], "points": t["points"]} for t in now["terms"]]
    prev_terms = {t["key"]: t["points"] for t in before["terms"]}
    for t in terms:
        t["previous"] = prev_terms.get(t["key"], 0.0)
        t["change"] = round(t["points"] - t["previous"], 2)
    return {
        "score": now["score"],
        "level": now["level"],
        "level_label": RISK_LEVEL_LABELS[now["level"]] + "色",
        "level_colour": LEVEL_COLOURS[now["level"]],
        "coefficient": now["coefficient"],
        "as_of": datetime.fromtimestamp(at / 1000, period.tz).strftime("%Y-%m-%d %H:%M"),
        "window_days": config.risk.window_days,
        "previous": {
            "score": before["score"],
            "level_label": RISK_LEVEL_LABELS[before["level"]] + "色",
            "level_colour": LEVEL_COLOURS[before["level"]],
            "coefficient": before["coefficient"],
            "as_of": period.start.isoformat(),
        },
        "score_change": round(now["score"] - before["score"], 1),
        "coefficient_change": round(now["coefficient"] - before["coefficient"], 2),
        "terms": terms,
    }


def _schedule_text(schedule: Any) -> str:
    if not isinstance(schedule, dict):
        return "全天"
    days = schedule.get("weekdays") or []
    names = dict(zip(["mon", "tue", "wed", "thu", "fri", "sat", "sun"], "一二三四五六日", strict=True))
    day_text = (
        "每天" if not days or len(days) == 7 else "周" + "、".join(names.get(str(d)[:3], "?") for d in days)
    )
    times = schedule.get("times") or ["00:00-24:00"]
    time_text = "全天" if times == ["00:00-24:00"] else "，".join(str(t) for t in times[:6])
    return "全天" if (day_text, time_text) == ("每天", "全天") else f"{day_text} {time_text}"


def _coverage(session: Session, e: Enterprise, period: Period) -> dict[str, Any]:
    cams = list(session.scalars(select(Camera).where(Camera.enterprise_id == e.id).order_by(Camera.id)))
    nodes = {c.node for c in cams if c.node}
    node_rows = (
        {n.node: n for n in session.scalars(select(Node).where(Node.node.in_(nodes)))} if nodes else {}
    )
    # the rules each camera runs, from its node's newest configuration (plain dicts: the center does
    # not import the edge's models)
    rules_by_camera: dict[str, list[dict[str, str]]] = defaultdict(list)
    for node_id in nodes:
        cfg = session.scalars(
            select(NodeConfigVersion.config)
            .where(NodeConfigVersion.node == node_id)
            .order_by(NodeConfigVersion.version.desc())
            .limit(1)
        ).first()
        for cam in (cfg or {}).get("cameras") or []:
            if not isinstance(cam, dict):
                continue
            for rule in (cam.get("rules") or [])[:50]:
                if isinstance(rule, dict):
                    rules_by_camera[str(cam.get("id"))].append(
                        {
                            "name": str(
                                rule.get("name") or label(RULE_TYPE_LABELS, str(rule.get("type", "")))
                            ),
                            "type": label(RULE_TYPE_LABELS, str(rule.get("type", ""))),
                            "schedule": _schedule_text(rule.get("schedule")),
                        }
                    )
    # rules seen firing in the period, for cameras whose configuration the center does not hold
    seen = session.execute(
        select(Alert.camera, Alert.rule_type, Alert.rule_name)
        .where(Alert.enterprise == e.id, Alert.started_ms >= period.from_ms, Alert.started_ms < period.to_ms)
        .group_by(Alert.camera, Alert.rule_type, Alert.rule_name)
    ).all()
    seen_by_camera: dict[str, list[dict[str, str]]] = defaultdict(list)
    for cam, rtype, rname in seen:
        seen_by_camera[cam].append(
            {
                "name": rname or label(RULE_TYPE_LABELS, rtype),
                "type": label(RULE_TYPE_LABELS, rtype),
                "schedule": "—",
            }
        )
    spans = uptime.uptime(session, {c.id: c.created_ms for c in cams}, period.from_ms, period.to_ms, now_ms())
    rows = []
    online = 0
    for c in cams:
        node = node_rows.get(c.node or "")
        state = "未接入"
        if node is not None:
            figures = {
                x.get("camera"): x for x in (node.heartbeat or {}).get("cameras") or [] if isinstance(x, dict)
            }
            if node.state != "online":
                state = "节点离线"
            elif c.id in figures:
                state = {"online": "在线", "stalled": "卡顿", "offline": "离线", "starting": "启动中"}.get(
                    str(figures[c.id].get("state")), "状态未知"
                )
            else:
                state = "未上报"
        online += state == "在线"
        rules = rules_by_camera.get(c.id) or seen_by_camera.get(c.id) or []
        up = spans.get(c.id)
        rows.append(
            {
                "name": c.name or c.post_name or "未命名摄像头",
                "post": c.post_name,
                "key_post": c.key_post,
                "state": state,
                "online_hours": up.online_hours if up else None,
                "hours": up.window_hours if up else None,
                "online_pct": up.pct if up else None,
                "rules": rules[:20],
                "rules_from": "配置" if c.id in rules_by_camera else ("告警" if rules else ""),
            }
        )
    everyone = uptime.total(spans.values())
    keys = uptime.total(spans[c.id] for c in cams if c.key_post)
    since = uptime.recording_since(session)
    since_note = ""
    if since is not None and since > period.from_ms:
        since_note = f"在线记录自 {_iso_day(since, period)} 起，此前的时段不计入。"
    return {
        "cameras": len(cams),
        "key_posts": sum(1 for c in cams if c.key_post),
        "online_now": online,
        "online_now_pct": _pct(online, len(cams)),
        "online_hours": everyone.online_hours if everyone else None,
        "hours": everyone.window_hours if everyone else None,
        "online_pct": everyone.pct if everyone else None,
        "key_online_pct": keys.pct if keys else None,
        "rows": rows[:LIST_CAP],
        "more": max(0, len(rows) - LIST_CAP),
        "note": (
            "在线率 = 报告期内摄像头在线小时数 ÷ 应在线小时数（自摄像头登记起、截至出报告时），"
            "在线时段由边缘节点的心跳记录：心跳显示在线即计入，"
            "节点离线、停止或连续 3 个心跳周期无心跳即中断。"
            + since_note
            + "状态为出报告时的状态；规则及其重点时段取自边缘节点的最新远程配置，"
            "无配置时列出报告期内产生过告警的规则。"
        ),
    }


def _alerts(session: Session, e: Enterprise, period: Period) -> dict[str, Any]:
    where = (Alert.enterprise == e.id, Alert.started_ms >= period.from_ms, Alert.started_ms < period.to_ms)
    n = func.count()
    grouped = session.execute(
        select(Alert.rule_type, Alert.severity, Alert.status, n)
        .where(*where)
        .group_by(Alert.rule_type, Alert.severity, Alert.status)
    ).all()
    by_type: Counter[str] = Counter()
    by_sev: Counter[str] = Counter()
    by_status: Counter[str] = Counter()
    for rtype, sev, status, k in grouped:
        by_type[rtype] += k
        by_sev[sev] += k
        by_status[status] += k
    total = sum(by_type.values())
    # hour of day and day in the park's time zone, exact across a change of its UTC offset
    by_hour = [0] * 24
    by_day: Counter[int] = Counter()
    for lo, hi, off in period.offset_ranges():
        part = (Alert.enterprise == e.id, Alert.started_ms >= lo, Alert.started_ms < hi)
        hour = ((Alert.started_ms + off) // HOUR_MS) % 24
        for h, k in session.execute(select(hour, n).where(*part).group_by(hour)):
            by_hour[int(h) % 24] += k
        day_no = (Alert.started_ms + off) // DAY_MS
        for dn, k in session.execute(select(day_no, n).where(*part).group_by(day_no)):
            by_day[int(dn)] += k
    # per month (or per day for a period up to 62 days)
    trend: dict[str, int] = {}
    daily = period.days <= 62
    d = period.start
    while d <= period.end:
        key = d.isoformat() if daily else d.strftime("%Y-%m")
        trend.setdefault(key, 0)
        d += timedelta(days=1)
    epoch = datetime(1970, 1, 1).date()
    for dn, k in by_day.items():
        dd = epoch + timedelta(days=dn)
        key = dd.isoformat() if daily else dd.strftime("%Y-%m")
        if key in trend:
            trend[key] += k
    # per post (camera)
    cams = {c.id: c for c in session.scalars(select(Camera).where(Camera.enterprise_id == e.id))}
    by_camera = session.execute(
        select(Alert.camera, Alert.severity, n).where(*where).group_by(Alert.camera, Alert.severity)
    ).all()
    posts: dict[str, dict[str, Any]] = {}
    for cam, sev, k in by_camera:
        c = cams.get(cam)
        name = (c.post_name or c.name) if c else "未登记摄像头"
        row = posts.setdefault(
            name, {"post": name, "key_post": bool(c and c.key_post), "total": 0, "major": 0, "significant": 0}
        )
        row["total"] += k
        if sev in ("major", "significant"):
            row[sev] += k
        row["key_post"] = row["key_post"] or bool(c and c.key_post)
    post_rows = sorted(posts.values(), key=lambda r: (-r["total"], r["post"]))
    # false alarms per rule: dismissed / reviewed
    per_rule = session.execute(
        select(Alert.rule_id, Alert.rule_type, Alert.rule_name, Alert.status, n)
        .where(*where)
        .group_by(Alert.rule_id, Alert.rule_type, Alert.rule_name, Alert.status)
    ).all()
    rules: dict[str, dict[str, Any]] = {}
    for rid, rtype, rname, status, k in per_rule:
        r = rules.setdefault(
            rid,
            {
                "rule": rname or label(RULE_TYPE_LABELS, rtype),
                "type": label(RULE_TYPE_LABELS, rtype),
                "total": 0,
                "confirmed": 0,
                "dismissed": 0,
                "unreviewed": 0,
            },
        )
        r["total"] += k
        if status in scoring.CONFIRMED:
            r["confirmed"] += k
        elif status == "dismissed":
            r["dismissed"] += k
        else:
            r["unreviewed"] += k
    for r in rules.values():
        r["false_alarm_pct"] = _pct(r["dismissed"], r["confirmed"] + r["dismissed"])
    rule_rows = sorted(rules.values(), key=lambda r: (-r["total"], r["rule"]))
    reviewed = by_status["acknowledged"] + by_status["escalated"] + by_status["dismissed"]
    return {
        "total": total,
        "by_type": [
            {"type": label(RULE_TYPE_LABELS, k), "count": v}
            for k, v in sorted(by_type.items(), key=lambda x: -x[1])
        ],
        "by_severity": [
            {"severity": SEVERITY_LABELS_ZH.get(s, s), "count": by_sev.get(s, 0)}
            for s in ("general", "significant", "major")
        ],
        "by_status": [
            {"status": label(ALERT_STATUS_LABELS, s), "count": by_status.get(s, 0)}
            for s in ("open", "acknowledged", "escalated", "dismissed")
        ],
        "by_hour": by_hour,
        "trend": {"unit": "日" if daily else "月", "labels": list(trend), "counts": list(trend.values())},
        "by_post": post_rows[:LIST_CAP],
        "key_post_total": sum(r["total"] for r in post_rows if r["key_post"]),
        "rules": rule_rows[:LIST_CAP],
        "reviewed": reviewed,
        "reviewed_pct": _pct(reviewed, total),
        "false_alarm_pct": _pct(by_status["dismissed"], reviewed),
    }


def _hazards(session: Session, e: Enterprise, period: Period) -> dict[str, Any]:
    at = min(now_ms(), period.to_ms)
    where = (
        Hazard.enterprise_id == e.id,
        Hazard.created_ms >= period.from_ms,
        Hazard.created_ms < period.to_ms,
    )
    n = func.count()
    by = session.execute(
        select(Hazard.level, Hazard.status, n).where(*where).group_by(Hazard.level, Hazard.status)
    ).all()
    found = sum(k for _l, _s, k in by)
    by_level: Counter[str] = Counter()
    by_status: Counter[str] = Counter()
    for lv, st, k in by:
        by_level[lv] += k
        by_status[st] += k
    closed_where = (*where, Hazard.closed_ms.is_not(None), Hazard.closed_ms < period.to_ms)
    closed, mean_ms, late = session.execute(
        select(
            n,
            func.avg(Hazard.closed_ms - Hazard.created_ms),
            func.sum(case((Hazard.closed_ms > Hazard.deadline_ms, 1), else_=0)),
        ).where(*closed_where)
    ).one()
    open_where = (*where, (Hazard.closed_ms.is_(None)) | (Hazard.closed_ms >= period.to_ms))
    overdue_open = session.scalar(select(n).where(*open_where, Hazard.deadline_ms < at)) or 0
    majors = session.execute(
        select(
            Hazard.code, Hazard.title, Hazard.status, Hazard.deadline_ms, Hazard.created_ms, Hazard.closed_ms
        )
        .where(*where, Hazard.level == "major")
        .order_by(Hazard.created_ms)
        .limit(LIST_CAP)
    ).all()
    return {
        "found": found,
        "by_level": [
            {"level": label(HAZARD_LEVEL_LABELS, lv), "count": by_level.get(lv, 0)}
            for lv in ("general", "major")
        ],
        "by_status": [
            {"status": label(HAZARD_STATUS_LABELS, s), "count": by_status.get(s, 0)}
            for s in ("pending", "in_progress", "review", "closed")
        ],
        "closed": int(closed or 0),
        "rectification_pct": _pct(int(closed or 0), found),
        "mean_days_to_close": round(float(mean_ms) / DAY_MS, 1) if mean_ms is not None else None,
        "closed_late": int(late or 0),
        "overdue_open": int(overdue_open),
        "major_total": by_level.get("major", 0),
        "majors": [
            {
                "code": code,
                "title": title,
                "status": label(HAZARD_STATUS_LABELS, status),
                "found": _iso_day(created, period),
                "deadline": _iso_day(deadline, period),
                "closed": _iso_day(closed_ms, period) if closed_ms and closed_ms < period.to_ms else "",
                "overdue": (closed_ms or at) > deadline,
            }
            for code, title, status, deadline, created, closed_ms in majors
        ],
    }


MAX_IMAGE_BYTES = 32 * 1024 * 1024  # an evidence image larger than this is not thumbnailed


def thumbnails(config: CenterConfig) -> Thumbnails:
    """The face-blurring thumbnail maker of one report (center/reports/faces.py)."""
    r = config.reports
    return Thumbnails(r.face_manifest, r.face_model, r.face_score, r.person_model)


def _thumbnail(thumbs: Thumbnails, evidence_dir: Path, sha256: str, content_type: str) -> str | None:
    """A JPEG data URI of the stored image, faces blurred, at most faces.THUMB_PX on its long side; None if
    unreadable, too large, or not safely blurred."""
    from center.api.evidence.service import path_of

    path = path_of(evidence_dir, sha256, content_type)
    try:
        if path.stat().st_size > MAX_IMAGE_BYTES:
            log.warning("report: evidence %s larger than %d bytes: left out", sha256[:12], MAX_IMAGE_BYTES)
            return None
        data = path.read_bytes()
    except OSError as exc:
        log.warning("report: evidence %s unreadable: %s", sha256[:12], exc)
        return None
    return thumbs.data_uri(data)


def _recurring(
    session: Session, config: CenterConfig, e: Enterprise, period: Period, user: Principal
) -> dict[str, Any]:
    """The (post, problem) pairs that came back most often (alerts not dismissed as false), with the
    snapshot of the latest one as a thumbnail with every face blurred (any reader, an insurer too)."""
    where = (
        Alert.enterprise == e.id,
        Alert.started_ms >= period.from_ms,
        Alert.started_ms < period.to_ms,
        Alert.status != "dismissed",
    )
    n = func.count()
    top = session.execute(
        select(Alert.camera, Alert.rule_type, n, func.max(Alert.started_ms))
        .where(*where)
        .group_by(Alert.camera, Alert.rule_type)
        .having(n >= 2)
        .order_by(n.desc(), Alert.camera, Alert.rule_type)
        .limit(RECURRING_TOP)
    ).all()
    cams = {c.id: c for c in session.scalars(select(Camera).where(Camera.enterprise_id == e.id))}
    thumbs = thumbnails(config)
    rows = []
    for cam, rtype, k, last_ms in top:
        c = cams.get(cam)
        thumb = _latest_snapshot(session, config, thumbs, e.id, cam, rtype, last_ms)
        rows.append(
            {
                "post": (c.post_name or c.name) if c else "未登记摄像头",
                "type_key": rtype,
                "type": label(RULE_TYPE_LABELS, rtype),
                "count": k,
                "last": datetime.fromtimestamp(last_ms / 1000, period.tz).strftime("%Y-%m-%d %H:%M"),
                "thumbnail": thumb,
            }
        )
    note = "证据图片为边缘节点上传的最近一次抓拍，缩略显示。" + thumbs.note()
    if user.role is Role.INSURER:
        note += "保险机构只获得人脸已模糊的缩略图，不获得原始证据。"
    return {"rows": rows, "image_note": note}


def _latest_snapshot(
    session: Session,
    config: CenterConfig,
    thumbs: Thumbnails,
    enterprise_id: str,
    camera: str,
    rule_type: str,
    last_ms: int,
) -> str | None:
    """The newest snapshot of this camera and rule that belongs to the enterprise (its owner rows)."""
    alerts = session.scalars(
        select(Alert.evidence)
        .where(
            Alert.enterprise == enterprise_id,
            Alert.camera == camera,
            Alert.rule_type == rule_type,
            Alert.started_ms <= last_ms,
            Alert.status != "dismissed",
        )
        .order_by(Alert.started_ms.desc())
        .limit(20)
    )
    for evidence in alerts:
        for item in evidence or []:
            if not isinstance(item, dict) or item.get("kind") != "snapshot":
                continue
            sha = str(item.get("sha256", ""))
            owned = session.scalar(
                select(EvidenceFile.content_type)
                .join(EvidenceOwner, EvidenceOwner.sha256 == EvidenceFile.sha256)
                .where(EvidenceFile.sha256 == sha, EvidenceOwner.enterprise_id == enterprise_id)
                .limit(1)
            )
            if owned is None:
                continue
            thumb = _thumbnail(thumbs, config.evidence_dir, sha, owned)
            if thumb:
                return thumb
    return None


def _advice(alerts: dict[str, Any], recurring: dict[str, Any], hazards: dict[str, Any]) -> dict[str, Any]:
    table = recommendations()
    entries: dict[str, Any] = table["entries"]
    keys: list[str] = []
    for r in recurring["rows"]:
        if r["type_key"] not in keys:
            keys.append(r["type_key"])
    if hazards["major_total"]:
        keys.append("hazard_major")
    if hazards["overdue_open"] or hazards["closed_late"]:
        keys.append("hazard_overdue")
    if (alerts["false_alarm_pct"] or 0) >= 30:
        keys.append("false_alarms")
    return {
        "items": [{**entries[k], "key": k} for k in keys if k in entries],
        "basis": table["basis"],
        "review_status": table["review_status"],
    }


def _services(session: Session, e: Enterprise, period: Period, user: Principal) -> list[dict[str, Any]]:
    rows = session.execute(
        select(ServiceRecord, Insurer.name)
        .outerjoin(Insurer, Insurer.id == ServiceRecord.insurer_id)
        .where(
            ServiceRecord.enterprise_id == e.id,
            ServiceRecord.date >= period.start.isoformat(),
            ServiceRecord.date <= period.end.isoformat(),
            service_records_visible(user),
        )
        .order_by(ServiceRecord.date)
        .limit(LIST_CAP)
    ).all()
    return [
        {
            "date": s.date,
            "kind": label(SERVICE_LABELS, s.kind),
            "provider": s.provider or insurer or "",
            "insurer": insurer or "",
            "summary": s.summary,
        }
        for s, insurer in rows
    ]


def enterprise_report(
    session: Session,
    config: CenterConfig,
    e: Enterprise,
    period: Period,
    user: Principal,
    report_no: str = "",
) -> dict[str, Any]:
    """All a 风险诊断报告 of ``e`` over ``period`` says, for the reader ``user`` (``report_no``:
    the number of the PDF issued from it; empty for the JSON answer, which is not issued)."""
    alerts = _alerts(session, e, period)
    hazards = _hazards(session, e, period)
    recurring = _recurring(session, config, e, period, user)
    coverage = _coverage(session, e, period)
    notes = []
    if period.asked_end:
        notes.append(f"所选截止日 {period.asked_end} 晚于今天，报告期截至 {period.end}。")
    if not coverage["cameras"]:
        notes.append("该企业尚未登记摄像头，报告期内没有视频监测数据。")
    if not alerts["total"] and not hazards["found"]:
        notes.append("报告期内没有告警和隐患记录。")
    return {
        "kind": "enterprise",
        "cover": _cover(session, config, e, period, user, report_no),
        "notes": notes,
        "summary": _summary(session, config, e, period),
        "coverage": coverage,
        "alerts": alerts,
        "hazards": hazards,
        "recurring": recurring,
        "advice": _advice(alerts, recurring, hazards),
        "services": _services(session, e, period, user),
        "methodology": methodology(config),
    }


def methodology(config: CenterConfig) -> dict[str, Any]:
    """The scoring method: center/SCORING.md as HTML, and the weights this center uses."""
    return {
        "source": "center/SCORING.md",
        "weights": config.risk.model_dump(),
    }
