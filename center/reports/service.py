"""Build a report: gather its data, render the PDF, record its number and SHA-256. Shared by the
CLI (``parkguard-center report``) and the API (``GET /api/enterprises/{id}/report.pdf``)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from center.auth.policy import Principal
from center.config import CenterConfig
from center.reports import charts, data, park, service_report
from center.reports.period import Period
from center.reports.render import Progress, Rendered, render_pdf
from center.store.models import Enterprise, ReportRecord, ServiceRecord
from protocol import now_ms


@dataclass
class BuiltReport:
    data: dict[str, Any]
    rendered: Rendered
    record: ReportRecord

    @property
    def report_no(self) -> str:
        return self.record.report_no


def enterprise_pdf(
    session: Session,
    config: CenterConfig,
    enterprise: Enterprise,
    period: Period,
    user: Principal,
    progress: Progress | None = None,
) -> BuiltReport:
    """The 风险诊断报告 of ``enterprise`` over ``period`` as the reader ``user`` may see it,
    recorded in ``report_records`` (the caller commits). ``rendered.timings`` has each stage."""
    tell = progress or (lambda _s, _f: None)
    t = time.perf_counter()
    tell("query", 0.0)
    number = data.new_report_no("FXZD", datetime.now(period.tz).date().isoformat())
    report = data.enterprise_report(session, config, enterprise, period, user, number)
    gathered = time.perf_counter() - t

    def stage(name: str, frac: float) -> None:
        tell(name, 0.2 + 0.8 * frac)

    rendered = render_pdf("enterprise.html", report, charts.enterprise_charts, stage)
    rendered.timings = {"query": gathered, **rendered.timings}
    return _recorded(
        session, report, rendered, user, report["cover"]["report_no"], "enterprise", enterprise.id,
        period.start.isoformat(), period.end.isoformat(),
    )  # fmt: skip


def _recorded(
    session: Session,
    report: dict[str, Any],
    rendered: Rendered,
    user: Principal,
    number: str,
    kind: str,
    enterprise_id: str | None,
    period_from: str,
    period_to: str,
) -> BuiltReport:
    """The issued PDF's row in ``report_records`` (its number and SHA-256), added and flushed."""
    record = ReportRecord(
        report_no=number,
        kind=kind,
        enterprise_id=enterprise_id,
        period_from=period_from,
        period_to=period_to,
        sha256=rendered.sha256,
        size=len(rendered.pdf),
        pages=rendered.pages,
        created_by=user.username or "cli",
        created_role=str(user.role or ""),
        created_ms=now_ms(),
    )
    session.add(record)
    session.flush()
    return BuiltReport(report, rendered, record)


def find_record(session: Session, sha256: str) -> ReportRecord | None:
    """The record of the report whose PDF has this SHA-256 (a copy checked later)."""
    return session.scalars(select(ReportRecord).where(ReportRecord.sha256 == sha256.lower()).limit(1)).first()


def park_pdf(
    session: Session,
    config: CenterConfig,
    period: Period,
    user: Principal,
    town_id: str | None = None,
    progress: Progress | None = None,
) -> BuiltReport:
    """The park (or one 镇街's) report over ``period``, recorded (the caller commits)."""
    tell = progress or (lambda _s, _f: None)
    t = time.perf_counter()
    number = data.new_report_no("YQBG", datetime.now(period.tz).date().isoformat())
    report = park.park_report(session, config, period, user, town_id, number, lambda s, f: tell(s, 0.5 * f))
    gathered = time.perf_counter() - t
    rendered = render_pdf("park.html", report, charts.park_charts, lambda s, f: tell(s, 0.5 + 0.5 * f))
    rendered.timings = {"query": gathered, **rendered.timings}
    return _recorded(
        session,
        report,
        rendered,
        user,
        number,
        "park",
        None,
        period.start.isoformat(),
        period.end.isoformat(),
    )


def service_pdf(
    session: Session, config: CenterConfig, enterprise: Enterprise, record: ServiceRecord, user: Principal
) -> BuiltReport:
    """The 服务报告 of one service record, recorded (the caller commits)."""
    tz = ZoneInfo(config.timezone)
    t = time.perf_counter()
    number = data.new_report_no("FWBG", datetime.now(tz).date().isoformat())
    report = service_report.service_report(session, config, enterprise, record, user, tz, number)
    gathered = time.perf_counter() - t
    rendered = render_pdf("service.html", report, lambda _d: {})
    rendered.timings = {"query": gathered, **rendered.timings}
    return _recorded(
        session, report, rendered, user, number, "service", enterprise.id, record.date, record.date
    )
