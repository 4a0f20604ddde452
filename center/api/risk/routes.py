"""Risk scores: the park overview, one enterprise's score explained, its daily history, the
risk-diagnosis report data, and the daily snapshot."""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import Path, Query
from sqlalchemy import select

from center.api.deps import NOT_FOUND, ConfigDep, enterprise_or_404, make_router, scope_of
from center.api.enterprises.schemas import ServiceOut
from center.api.enterprises.service import enterprise_out, policy_out, today
from center.api.risk.schemas import ReportOut, RiskDayOut, RiskOut, RiskOverviewRow, SnapshotOut
from center.api.schemas import iso_utc
from center.auth.audit import audit
from center.auth.deps import CurrentUser, SessionDep
from center.auth.policy import service_records_visible
from center.domain import scoring
from center.domain.errors import Invalid
from center.domain.timeparse import DAY_MS
from center.domain.vocabulary import HazardStatus, Role
from center.domain.workflow import is_overdue
from center.reports.data import enterprise_report
from center.reports.period import make_period
from center.store.models import Alert, Enterprise, Hazard, InsurancePolicy, Insurer, RiskScore, ServiceRecord
from protocol import now_ms

router = make_router("risk")

EnterpriseId = Annotated[str, Path(min_length=1, max_length=64)]
Days = Annotated[int, Query(ge=1, le=366, description="how many days back")]


@router.get("/risk", response_model=list[RiskOverviewRow])
def risk_overview(
    session: SessionDep,
    config: ConfigDep,
    user: CurrentUser,
    level: Annotated[str | None, Query(pattern=r"^(red|orange|yellow|blue)$")] = None,
) -> list[RiskOverviewRow]:
    """Every enterprise the caller may see with its current score and level (the risk map), highest first."""
    stmt = select(Enterprise)
    scope = scope_of(session, user, config)
    if scope is not None:
        stmt = stmt.where(Enterprise.id.in_(sorted(scope)))
    enterprises = list(session.scalars(stmt.order_by(Enterprise.id)))
    scores = scoring.current_many(session, [e.id for e in enterprises], config.risk)
    out = []
    for e in enterprises:
        r = scores[e.id]
        if level is not None and r["level"] != level:
            continue
        out.append(RiskOverviewRow.model_validate({**e.columns(), **r}))
    return sorted(out, key=lambda row: (-row.score, row.enterprise_id))


@router.get("/enterprises/{enterprise_id}/risk", response_model=RiskOut, responses=NOT_FOUND)
def get_risk(
    enterprise_id: EnterpriseId, session: SessionDep, config: ConfigDep, user: CurrentUser
) -> RiskOut:
    """The current score, explained: every input and the points each term gave (center/SCORING.md)."""
    enterprise_or_404(session, user, config, enterprise_id)
    return RiskOut.model_validate(scoring.current(session, enterprise_id, config.risk))


def _history(session: SessionDep, enterprise_id: str, days: int, config: ConfigDep) -> list[RiskDayOut]:
    first = date.fromordinal(
        datetime.now(ZoneInfo(config.timezone)).date().toordinal() - days + 1
    ).isoformat()
    rows = session.scalars(
        select(RiskScore)
        .where(RiskScore.enterprise_id == enterprise_id, RiskScore.day >= first)
        .order_by(RiskScore.day)
    )
    return [RiskDayOut.model_validate(r) for r in rows]


@router.get("/enterprises/{enterprise_id}/risk/history", response_model=list[RiskDayOut], responses=NOT_FOUND)
def risk_history(
    enterprise_id: EnterpriseId, session: SessionDep, config: ConfigDep, user: CurrentUser, days: Days = 30
) -> list[RiskDayOut]:
    """The daily scores, oldest first."""
    enterprise_or_404(session, user, config, enterprise_id)
    return _history(session, enterprise_id, days, config)


@router.get(
    "/enterprises/{enterprise_id}/report",
    response_model=ReportOut,
    responses={**NOT_FOUND, 422: {"description": "a reversed period, one in the future or over ten years"}},
)
def risk_report(
    enterprise_id: EnterpriseId,
    session: SessionDep,
    config: ConfigDep,
    user: CurrentUser,
    date_from: Annotated[
        date | None, Query(alias="from", description="first day (default: 30 days back)")
    ] = None,
    date_to: Annotated[
        date | None, Query(alias="to", description="last day YYYY-MM-DD (default: today)")
    ] = None,
) -> ReportOut:
    """风险诊断报告 data: the file, the explained score, 30 days of history, hazard and alert
    counts (no evidence), services and policies. An insurer gets its own policies only.
    ``diagnosis`` is what the PDF (``…/report.pdf``) says over the period, with its Chinese labels."""
    e = enterprise_or_404(session, user, config, enterprise_id)
    period = make_period(date_from, date_to, config.timezone)
    risk = scoring.current(session, e.id, config.risk)
    since = now_ms() - config.risk.window_days * DAY_MS
    hazards = list(session.scalars(select(Hazard).where(Hazard.enterprise_id == e.id)))
    by_status = Counter(h.status for h in hazards)
    alerts = session.execute(
        select(Alert.rule_type, Alert.severity, Alert.status).where(
            Alert.enterprise == e.id, Alert.started_ms >= since
        )
    ).all()
    policies = select(InsurancePolicy).where(InsurancePolicy.enterprise_id == e.id)
    if user.role is Role.INSURER:
        policies = policies.where(InsurancePolicy.insurer_id == user.insurer_id)
    insurers = {i.id: i for i in session.scalars(select(Insurer))}
    day = today(config)
    report_alerts: dict[str, Any] = {
        "window_days": config.risk.window_days,
        "total": len(alerts),
        "by_rule_type": dict(Counter(a.rule_type for a in alerts)),
        "by_severity": dict(Counter(a.severity for a in alerts)),
        "by_status": dict(Counter(a.status for a in alerts)),
    }
    report = ReportOut(
        enterprise=enterprise_out(session, config, e, with_risk=False),
        risk=RiskOut.model_validate(risk),
        history=_history(session, e.id, 30, config),
        hazards={
            "total": len(hazards),
            "by_status": dict(by_status),
            "by_level": dict(Counter(h.level for h in hazards)),
            "overdue_open": sum(1 for h in hazards if h.status != HazardStatus.CLOSED and is_overdue(h)),
            "closed_late": sum(1 for h in hazards if h.status == HazardStatus.CLOSED and is_overdue(h)),
        },
        alerts=report_alerts,
        services=[
            ServiceOut.model_validate(s)
            for s in session.scalars(
                select(ServiceRecord)
                .where(ServiceRecord.enterprise_id == e.id, service_records_visible(user))
                .order_by(ServiceRecord.date.desc())
            )
        ],
        policies=[policy_out(p, insurers.get(p.insurer_id), day) for p in session.scalars(policies)],
        generated_at=iso_utc(now_ms()) or "",
        period={"from": period.start.isoformat(), "to": period.end.isoformat(), "days": period.days},
        diagnosis=enterprise_report(session, config, e, period, user),
    )
    return report


@router.post("/risk/snapshot", response_model=SnapshotOut)
def snapshot_risk(
    session: SessionDep,
    config: ConfigDep,
    user: CurrentUser,
    day: Annotated[date | None, Query(description="YYYY-MM-DD; today (so far) when left out")] = None,
) -> SnapshotOut:
    """Compute and store every enterprise's score of a day (the center does today's every hour)."""
    tz = ZoneInfo(config.timezone)
    now_day = datetime.now(tz).date()
    when = day or now_day
    if not 0 <= (now_day - when).days <= 366:
        raise Invalid(("query", "day"), "give a day of the last year, not in the future")
    n = scoring.snapshot(session, config.risk, tz, when)
    audit(session, user, "snapshot_risk", f"day:{when.isoformat()}", {"stored": n})
    session.commit()
    return SnapshotOut(day=when.isoformat(), stored=n)
