"""The 风险诊断报告 as a PDF (``…/report.pdf``, the JSON beside it is ``…/report`` in
center/api/risk), and checking a copy of an issued report by its SHA-256."""

from __future__ import annotations

import threading
from datetime import date
from typing import Annotated, Any

from fastapi import HTTPException, Path, Query
from fastapi.responses import Response
from sqlalchemy import select

from center.api.deps import NOT_FOUND, ConfigDep, enterprise_or_404, make_router
from center.api.reports.schemas import ReportRecordOut
from center.api.schemas import iso_utc
from center.auth.audit import audit
from center.auth.deps import CurrentUser, SessionDep
from center.auth.policy import service_records_visible
from center.domain.errors import Invalid, NotFound
from center.reports import park
from center.reports.period import make_period
from center.reports.render import RenderError
from center.reports.service import BuiltReport, enterprise_pdf, find_record, park_pdf, service_pdf
from center.store.models import Enterprise, ServiceRecord, Town, User

router = make_router("reports")

EnterpriseId = Annotated[str, Path(min_length=1, max_length=64)]
DateFrom = Annotated[
    date | None, Query(alias="from", description="first day YYYY-MM-DD (default: 30 days back)")
]
DateTo = Annotated[date | None, Query(alias="to", description="last day YYYY-MM-DD (default: today)")]

RENDERS_AT_ONCE = 2  # PDFs rendered at the same time (each takes a CPU core for seconds)
WAIT_S = 30.0
_renders = threading.BoundedSemaphore(RENDERS_AT_ONCE)
KIND_LABELS = {"enterprise": "风险诊断报告", "park": "园区安全风险报告", "service": "事故预防技术服务报告"}
BAD_PERIOD: dict[int | str, dict[str, Any]] = {
    422: {"description": "a reversed period, one in the future or longer than ten years"}
}
CANNOT_RENDER: dict[int | str, dict[str, Any]] = {
    503: {"description": "the center cannot render PDFs (no CJK font or pango), or is busy rendering"}
}
TownId = Annotated[str | None, Query(max_length=64, description="one 镇街 only (its id)")]


@router.get(
    "/enterprises/{enterprise_id}/report.pdf",
    response_class=Response,
    responses={
        **NOT_FOUND,
        200: {"content": {"application/pdf": {}}, "description": "the 风险诊断报告, A4"},
        **BAD_PERIOD,
        **CANNOT_RENDER,
    },
)
def risk_report_pdf(
    enterprise_id: EnterpriseId,
    session: SessionDep,
    config: ConfigDep,
    user: CurrentUser,
    date_from: DateFrom = None,
    date_to: DateTo = None,
) -> Response:
    """风险诊断报告 of the enterprise over the period, as the caller may see it (an insurer: its own
    policies and services, no evidence images). Its number and the PDF's SHA-256 are recorded
    (``GET /api/reports/verify``)."""
    e = enterprise_or_404(session, user, config, enterprise_id)
    period = make_period(date_from, date_to, config.timezone)
    if not _renders.acquire(timeout=WAIT_S):
        raise HTTPException(503, "报告生成繁忙，请稍后再试 (the center is busy rendering reports)")
    try:
        built = enterprise_pdf(session, config, e, period, user)
    except RenderError as exc:
        raise HTTPException(503, f"无法生成报告：{exc}") from None
    finally:
        _renders.release()
    audit(
        session,
        user,
        "issue_report",
        f"report:{built.report_no}",
        {"enterprise_id": e.id, "from": period.start.isoformat(), "to": period.end.isoformat()},
    )
    session.commit()
    return _pdf_response(built)


ServiceId = Annotated[int, Path(ge=1, le=2**31 - 1)]


@router.get(
    "/enterprises/{enterprise_id}/services/{service_id}/report.pdf",
    response_class=Response,
    responses={
        **NOT_FOUND,
        200: {"content": {"application/pdf": {}}, "description": "the 服务报告 of one service, A4"},
        **CANNOT_RENDER,
    },
)
def service_report_pdf(
    enterprise_id: EnterpriseId,
    service_id: ServiceId,
    session: SessionDep,
    config: ConfigDep,
    user: CurrentUser,
) -> Response:
    """服务报告 of one accident-prevention service: what it was, the hazards recorded on site that
    day (photos, none for an insurer), advice, and lines for both sides to confirm. An insurer
    gets those of its own services and of services no insurer gave."""
    e = enterprise_or_404(session, user, config, enterprise_id)
    record = session.scalars(
        select(ServiceRecord).where(
            ServiceRecord.id == service_id, ServiceRecord.enterprise_id == e.id, service_records_visible(user)
        )
    ).first()
    if record is None:
        raise NotFound(f"no service {service_id} of this enterprise")
    if not _renders.acquire(timeout=WAIT_S):
        raise HTTPException(503, "报告生成繁忙，请稍后再试 (the center is busy rendering reports)")
    try:
        built = service_pdf(session, config, e, record, user)
    except RenderError as exc:
        raise HTTPException(503, f"无法生成报告：{exc}") from None
    finally:
        _renders.release()
    audit(
        session,
        user,
        "issue_report",
        f"report:{built.report_no}",
        {"enterprise_id": e.id, "service": record.id},
    )
    session.commit()
    return _pdf_response(built)


def _town(session: SessionDep, town_id: str | None) -> str | None:
    if town_id is not None and session.get(Town, town_id) is None:
        raise Invalid(("query", "town_id"), f"没有镇街 {town_id!r} (no such town)")
    return town_id


@router.get(
    "/reports/park",
    response_model=dict[str, Any],
    responses=BAD_PERIOD,
)
def park_report(
    session: SessionDep,
    config: ConfigDep,
    user: CurrentUser,
    date_from: DateFrom = None,
    date_to: DateTo = None,
    town_id: TownId = None,
) -> dict[str, Any]:
    """园区/镇街安全风险报告 data: every enterprise ranked by risk, by 镇街 and industry, changes since
    the start of the period, rectification and coverage, the problems that recur most."""
    period = make_period(date_from, date_to, config.timezone)
    return park.park_report(session, config, period, user, _town(session, town_id))


@router.get(
    "/reports/park.pdf",
    response_class=Response,
    responses={
        200: {"content": {"application/pdf": {}}, "description": "the park / 镇街 report, A4"},
        **BAD_PERIOD,
        **CANNOT_RENDER,
    },
)
def park_report_pdf(
    session: SessionDep,
    config: ConfigDep,
    user: CurrentUser,
    date_from: DateFrom = None,
    date_to: DateTo = None,
    town_id: TownId = None,
) -> Response:
    """The park (or one 镇街's) report as a PDF, recorded like every issued report."""
    period = make_period(date_from, date_to, config.timezone)
    town = _town(session, town_id)
    if not _renders.acquire(timeout=WAIT_S):
        raise HTTPException(503, "报告生成繁忙，请稍后再试 (the center is busy rendering reports)")
    try:
        built = park_pdf(session, config, period, user, town)
    except RenderError as exc:
        raise HTTPException(503, f"无法生成报告：{exc}") from None
    finally:
        _renders.release()
    audit(
        session,
        user,
        "issue_report",
        f"report:{built.report_no}",
        {"town_id": town, "from": period.start.isoformat(), "to": period.end.isoformat()},
    )
    session.commit()
    return _pdf_response(built)


def _pdf_response(built: BuiltReport) -> Response:
    return Response(
        built.rendered.pdf,
        media_type="application/pdf",
        headers={
            "Cache-Control": "no-store",
            "Content-Disposition": f'attachment; filename="{built.report_no}.pdf"',
            "X-Report-No": built.report_no,
            "X-Report-SHA256": built.rendered.sha256,
        },
    )


Sha256 = Annotated[str, Query(pattern=r"^[0-9a-fA-F]{64}$", description="SHA-256 of the PDF copy")]


@router.get("/reports/verify", response_model=ReportRecordOut, responses=NOT_FOUND)
def verify_report(
    sha256: Sha256, session: SessionDep, config: ConfigDep, user: CurrentUser
) -> ReportRecordOut:
    """Was a PDF with this SHA-256 issued by the center? Its record (number, enterprise, period,
    who, when), for a report of an enterprise the caller may see; 404 otherwise."""
    row = find_record(session, sha256)
    if row is None or not user.may_see(session, row.enterprise_id, config.timezone):
        raise NotFound("没有这份报告的记录 (no report with this SHA-256)")
    name = session.scalar(select(Enterprise.name).where(Enterprise.id == row.enterprise_id))
    who = session.scalar(select(User.display_name).where(User.username == row.created_by))
    return ReportRecordOut(
        report_no=row.report_no,
        kind=row.kind,
        kind_label=KIND_LABELS.get(row.kind, row.kind),
        enterprise_id=row.enterprise_id,
        enterprise_name=name,
        period_from=row.period_from,
        period_to=row.period_to,
        sha256=row.sha256,
        size=row.size,
        pages=row.pages,
        created_by=who or row.created_by,
        created_at=iso_utc(row.created_ms) or "",
    )
