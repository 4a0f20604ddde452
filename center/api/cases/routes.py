"""Complaints (投诉) of an insured against its insurer's service: answered within 10 working
days of filing, 30 when the insurer marks it complex (AQ 9010-2019), closed only once answered;
and claims (理赔): 报案 → 查勘 → 定损 → 赔付, or 拒赔, never backwards. Rows are scoped by
:func:`center.auth.policy.insured_rows` (an insurer never sees another insurer's); another's id
answers 404, a step the status does not allow 409 with the reason. Lists are CSV too."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import Path, Query
from sqlalchemy import select
from sqlalchemy.orm import Session

from center.api.cases.schemas import (
    ClaimAdvanceIn,
    ClaimIn,
    ClaimOut,
    ComplaintAnswerIn,
    ComplaintExtendIn,
    ComplaintIn,
    ComplaintOut,
)
from center.api.deps import NOT_FOUND, ConfigDep, IdQuery, Limit, Offset, conflict, count_of, make_router
from center.api.export import csv_response
from center.api.listing import CSV_DOC, CSV_MAX_ROWS, Format, names, today_of
from center.api.schemas import Page, iso_utc
from center.auth.audit import audit
from center.auth.deps import CurrentUser, SessionDep
from center.auth.policy import Principal, insured_rows
from center.domain import grid
from center.domain.errors import Invalid, NotFound, StateConflict
from center.domain.vocabulary import (
    CLAIM_STATUS_LABELS,
    COMPLAINT_STATUS_LABELS,
    ClaimStatus,
    ComplaintStatus,
    Role,
    label,
)
from center.store.models import (
    Alert,
    Claim,
    Complaint,
    Enterprise,
    InsurancePolicy,
    Insurer,
    ServiceTask,
)
from protocol import now_ms

router = make_router("complaints and claims")

ObjectId = Annotated[int, Path(ge=1, le=2**31 - 1)]
DAY_MS = 86_400_000
MAX_OPEN_COMPLAINTS = 20  # an enterprise's unanswered complaints: a bound on what one account files


# --- complaints -----------------------------------------------------------------------------------


def complaints_out(session: Session, rows: list[Complaint], today: date) -> list[ComplaintOut]:
    ents = names(session, Enterprise, {r.enterprise_id for r in rows})
    insurers = names(session, Insurer, {r.insurer_id for r in rows})
    return [
        ComplaintOut(
            id=r.id,
            enterprise_id=r.enterprise_id,
            enterprise_name=ents.get(r.enterprise_id, r.enterprise_id),
            insurer_id=r.insurer_id,
            insurer_name=insurers.get(r.insurer_id, r.insurer_id),
            task_id=r.task_id,
            text=r.text,
            filed_date=r.filed_date,
            complex=r.complex,
            complex_reason=r.complex_reason,
            deadline=r.deadline,
            late=grid.complaint_late(r, today),
            status=r.status,
            status_label=label(COMPLAINT_STATUS_LABELS, r.status),
            answer=r.answer,
            answered_by=r.answered_by,
            answered_date=r.answered_date,
            closed_by=r.closed_by,
            created_by=r.created_by,
            created_at=iso_utc(r.created_ms),
        )
        for r in rows
    ]


@router.get("/complaints", response_model=Page[ComplaintOut], responses=CSV_DOC)
def list_complaints(
    session: SessionDep,
    config: ConfigDep,
    user: CurrentUser,
    status: Annotated[ComplaintStatus | None, Query(description="open, answered or closed")] = None,
    late: Annotated[bool | None, Query(description="only those past their deadline (true)")] = None,
    enterprise_id: IdQuery = None,
    insurer_id: IdQuery = None,
    format: Format = "json",
    limit: Limit = 100,
    offset: Offset = 0,
) -> Any:
    """Complaints, newest first: an insurer those against it, an enterprise its own, the park and
    the government all."""
    today = today_of(config)
    stmt = select(Complaint).where(insured_rows(user, Complaint))
    if status is not None:
        stmt = stmt.where(Complaint.status == status.value)
    if late is not None:
        clause = grid.complaint_late_clause(today)
        stmt = stmt.where(clause if late else ~clause)
    if enterprise_id is not None:
        stmt = stmt.where(Complaint.enterprise_id == enterprise_id)
    if insurer_id is not None:
        stmt = stmt.where(Complaint.insurer_id == insurer_id)
    order = stmt.order_by(Complaint.created_ms.desc(), Complaint.id.desc())
    if format == "csv":
        rows = complaints_out(session, list(session.scalars(order.limit(CSV_MAX_ROWS))), today)
        return csv_response(
            "complaints.csv",
            [
                "编号",
                "企业",
                "保险公司",
                "投诉内容",
                "投诉日期",
                "复杂投诉",
                "答复期限",
                "超期",
                "状态",
                "答复",
                "答复日期",
            ],
            (
                [
                    c.id,
                    c.enterprise_name,
                    c.insurer_name,
                    c.text,
                    c.filed_date,
                    "是" if c.complex else "否",
                    c.deadline,
                    "是" if c.late else "否",
                    c.status_label,
                    c.answer,
                    c.answered_date or "",
                ]
                for c in rows
            ),
        )
    total = count_of(session, stmt)
    items = complaints_out(session, list(session.scalars(order.limit(limit).offset(offset))), today)
    return Page[ComplaintOut](items=items, total=total, limit=limit, offset=offset)


@router.post(
    "/complaints",
    response_model=ComplaintOut,
    status_code=201,
    responses={**NOT_FOUND, **conflict("complaint")},
)
def create_complaint(
    body: ComplaintIn, session: SessionDep, config: ConfigDep, user: CurrentUser
) -> ComplaintOut:
    """An enterprise complains about an insurer that insures it (a policy of the two); its
    deadline is 10 working days from today (China's holidays and 调休 counted)."""
    eid = user.enterprise_id or ""
    if (
        session.scalar(
            select(InsurancePolicy.id)
            .where(InsurancePolicy.enterprise_id == eid, InsurancePolicy.insurer_id == body.insurer_id)
            .limit(1)
        )
        is None
    ):
        raise NotFound(f"no insurer {body.insurer_id!r} of this enterprise")
    if body.task_id is not None:
        task = session.get(ServiceTask, body.task_id)
        if task is None or task.enterprise_id != eid or task.insurer_id != body.insurer_id:
            raise Invalid(
                ("body", "task_id"), f"no service task {body.task_id} of this enterprise and insurer"
            )
    open_now = session.scalars(
        select(Complaint.id).where(
            Complaint.enterprise_id == eid, Complaint.status == ComplaintStatus.OPEN.value
        )
    ).all()
    if len(open_now) >= MAX_OPEN_COMPLAINTS:
        raise StateConflict(f"已有 {len(open_now)} 件待答复的投诉，请等待答复后再提交")
    today, now = today_of(config), now_ms()
    row = Complaint(
        enterprise_id=eid,
        insurer_id=body.insurer_id,
        task_id=body.task_id,
        text=body.text,
        filed_date=today.isoformat(),
        complex=False,
        complex_reason="",
        deadline=grid.complaint_deadline(today, False).isoformat(),
        status=ComplaintStatus.OPEN.value,
        answer="",
        created_by=user.username,
        created_ms=now,
    )
    session.add(row)
    session.flush()
    audit(session, user, "create_complaint", f"complaint:{row.id}", {"insurer_id": row.insurer_id})
    session.commit()
    return complaints_out(session, [row], today)[0]


def complaint_or_404(session: Session, user: Principal, complaint_id: int) -> Complaint:
    row = session.scalar(
        select(Complaint).where(Complaint.id == complaint_id, insured_rows(user, Complaint)).with_for_update()
    )
    if row is None:
        raise NotFound(f"no complaint {complaint_id}")
    return row


CONFLICT = {**NOT_FOUND, **conflict("complaint")}


@router.post("/complaints/{complaint_id}/extend", response_model=ComplaintOut, responses=CONFLICT)
def extend_complaint(
    complaint_id: ObjectId, body: ComplaintExtendIn, session: SessionDep, config: ConfigDep, user: CurrentUser
) -> ComplaintOut:
    """复杂投诉: the deadline becomes 30 working days from filing (only while open, within the 10)."""
    row = complaint_or_404(session, user, complaint_id)
    today = today_of(config)
    grid.mark_complex(row, body.reason, today)
    audit(session, user, "extend_complaint", f"complaint:{row.id}", {"deadline": row.deadline})
    session.commit()
    return complaints_out(session, [row], today)[0]


@router.post("/complaints/{complaint_id}/answer", response_model=ComplaintOut, responses=CONFLICT)
def answer_complaint(
    complaint_id: ObjectId, body: ComplaintAnswerIn, session: SessionDep, config: ConfigDep, user: CurrentUser
) -> ComplaintOut:
    """The insurer's answer (once); answered after the deadline, the complaint counts as late."""
    row = complaint_or_404(session, user, complaint_id)
    today = today_of(config)
    grid.answer_complaint(row, user.username, body.answer, now_ms(), today)
    audit(session, user, "answer_complaint", f"complaint:{row.id}")
    session.commit()
    return complaints_out(session, [row], today)[0]


@router.post("/complaints/{complaint_id}/close", response_model=ComplaintOut, responses=CONFLICT)
def close_complaint(
    complaint_id: ObjectId, session: SessionDep, config: ConfigDep, user: CurrentUser
) -> ComplaintOut:
    """办结: by the enterprise (or the park) once answered; an unanswered one: 409."""
    row = complaint_or_404(session, user, complaint_id)
    grid.close_complaint(row, user.username, now_ms())
    audit(session, user, "close_complaint", f"complaint:{row.id}")
    session.commit()
    return complaints_out(session, [row], today_of(config))[0]


# --- claims ---------------------------------------------------------------------------------------


def claims_out(session: Session, rows: list[Claim], now: int) -> list[ClaimOut]:
    ents = names(session, Enterprise, {r.enterprise_id for r in rows})
    insurers = names(session, Insurer, {r.insurer_id for r in rows})
    policies = dict(
        session.execute(
            select(InsurancePolicy.id, InsurancePolicy.policy_no).where(
                InsurancePolicy.id.in_(sorted({r.policy_id for r in rows}))
            )
        ).all()
    )
    return [
        ClaimOut(
            id=r.id,
            claim_no=r.claim_no,
            policy_id=r.policy_id,
            policy_no=policies.get(r.policy_id, ""),
            enterprise_id=r.enterprise_id,
            enterprise_name=ents.get(r.enterprise_id, r.enterprise_id),
            insurer_id=r.insurer_id,
            insurer_name=insurers.get(r.insurer_id, r.insurer_id),
            accident_date=r.accident_date,
            accident=r.accident,
            alert_id=r.alert_id,
            injured=r.injured,
            status=r.status,
            status_label=label(CLAIM_STATUS_LABELS, r.status),
            claimed_cny=r.claimed_cny,
            assessed_cny=r.assessed_cny,
            paid_cny=r.paid_cny,
            note=r.note,
            reported_at=iso_utc(r.reported_ms),
            surveyed_at=iso_utc(r.surveyed_ms),
            assessed_at=iso_utc(r.assessed_ms),
            closed_at=iso_utc(r.closed_ms),
            days_open=((r.closed_ms or now) - r.reported_ms) // DAY_MS,
        )
        for r in rows
    ]


@router.get("/claims", response_model=Page[ClaimOut], responses=CSV_DOC)
def list_claims(
    session: SessionDep,
    user: CurrentUser,
    status: Annotated[
        ClaimStatus | None, Query(description="reported, surveyed, assessed, paid or rejected")
    ] = None,
    enterprise_id: IdQuery = None,
    insurer_id: IdQuery = None,
    format: Format = "json",
    limit: Limit = 100,
    offset: Offset = 0,
) -> Any:
    """Claims, newest first: an insurer its own, an enterprise its own, the park and the government all."""
    stmt = select(Claim).where(insured_rows(user, Claim))
    if status is not None:
        stmt = stmt.where(Claim.status == status.value)
    if enterprise_id is not None:
        stmt = stmt.where(Claim.enterprise_id == enterprise_id)
    if insurer_id is not None:
        stmt = stmt.where(Claim.insurer_id == insurer_id)
    order = stmt.order_by(Claim.reported_ms.desc(), Claim.id.desc())
    now = now_ms()
    if format == "csv":
        rows = claims_out(session, list(session.scalars(order.limit(CSV_MAX_ROWS))), now)
        return csv_response(
            "claims.csv",
            [
                "报案号",
                "企业",
                "保险公司",
                "保单号",
                "事故日期",
                "事故经过",
                "伤亡人数",
                "状态",
                "报损金额",
                "定损金额",
                "赔付金额",
                "已用天数",
            ],
            (
                [
                    c.claim_no,
                    c.enterprise_name,
                    c.insurer_name,
                    c.policy_no,
                    c.accident_date,
                    c.accident,
                    c.injured,
                    c.status_label,
                    c.claimed_cny,
                    c.assessed_cny if c.assessed_cny is not None else "",
                    c.paid_cny if c.paid_cny is not None else "",
                    c.days_open,
                ]
                for c in rows
            ),
        )
    total = count_of(session, stmt)
    items = claims_out(session, list(session.scalars(order.limit(limit).offset(offset))), now)
    return Page[ClaimOut](items=items, total=total, limit=limit, offset=offset)


@router.post("/claims", response_model=ClaimOut, status_code=201, responses=NOT_FOUND)
def create_claim(body: ClaimIn, session: SessionDep, config: ConfigDep, user: CurrentUser) -> ClaimOut:
    """报案 on a policy: an enterprise on its own, an insurer on its own, the park on any; the
    accident day within the policy period and not in the future."""
    policy = session.get(InsurancePolicy, body.policy_id)
    if (
        policy is None
        or (user.role is Role.ENTERPRISE and policy.enterprise_id != user.enterprise_id)
        or (user.role is Role.INSURER and policy.insurer_id != user.insurer_id)
    ):
        raise NotFound(f"no policy {body.policy_id}")
    day = body.accident_date.isoformat()
    if not policy.start_date <= day <= policy.end_date:
        raise Invalid(
            ("body", "accident_date"),
            f"事故日期 {day} 不在保险期间 {policy.start_date}至{policy.end_date} 内",
        )
    if body.accident_date > today_of(config):
        raise Invalid(("body", "accident_date"), f"事故日期 {day} 晚于今天")
    if body.alert_id is not None:
        alert = session.get(Alert, body.alert_id)
        if alert is None or alert.enterprise != policy.enterprise_id:
            raise Invalid(("body", "alert_id"), f"no alert {body.alert_id} of this enterprise")
    now = now_ms()
    row = Claim(
        claim_no=f"tmp-{now}",
        policy_id=policy.id,
        enterprise_id=policy.enterprise_id,
        insurer_id=policy.insurer_id,
        accident_date=day,
        accident=body.accident,
        alert_id=body.alert_id,
        injured=body.injured,
        status=ClaimStatus.REPORTED.value,
        claimed_cny=float(body.claimed_cny),
        note="",
        reported_ms=now,
        created_by=user.username,
        updated_ms=now,
    )
    session.add(row)
    session.flush()
    row.claim_no = f"LP-{day[:4]}-{row.id:06d}"
    audit(session, user, "create_claim", f"claim:{row.id}", {"policy": policy.policy_no})
    session.commit()
    return claims_out(session, [row], now)[0]


@router.post(
    "/claims/{claim_id}/advance", response_model=ClaimOut, responses={**NOT_FOUND, **conflict("claim")}
)
def advance_claim(
    claim_id: ObjectId, body: ClaimAdvanceIn, session: SessionDep, user: CurrentUser
) -> ClaimOut:
    """The claim's next step (查勘, 定损 with the amount, 赔付 with the amount at most the assessed
    one, or 拒赔 with the reason); backwards, a skipped step or after closing: 409."""
    row = session.scalar(
        select(Claim).where(Claim.id == claim_id, insured_rows(user, Claim)).with_for_update()
    )
    if row is None:
        raise NotFound(f"no claim {claim_id}")
    before, now = row.status, now_ms()
    amount = float(body.amount_cny) if body.amount_cny is not None else None
    grid.advance_claim(row, ClaimStatus(body.to), amount=amount, note=body.note, now=now)
    audit(session, user, "advance_claim", f"claim:{row.id}", {"from": before, "to": row.status})
    session.commit()
    return claims_out(session, [row], now)[0]
