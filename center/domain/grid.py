"""The 安责险 accident-prevention service loop (AQ 9010-2019), complaints and claims.

A service plan of a policy lists catalogue items (风险辨识评估, 隐患排查, 安全培训 …) with how
often each is due; :func:`make_tasks` spreads each item's services evenly over the policy period,
each due by the end of its slice. A task moves 计划 → 已预约 (the visit agreed with the enterprise
beforehand) → 已完成 (the visit recorded, hazards found go into the rectification loop) → 双方确认
(the enterprise confirms the record) → 已归档 (the insurer files it, leaving a service record in
the enterprise's file); 逾期 is derived: not done by its due day. A 回访 (follow-up) rates a done
service. Complaints are answered within 10 working days, 30 when marked complex; claims go
报案 → 查勘 → 定损 → 赔付, or 拒赔, never backwards.

Functions change rows in the caller's session and raise :mod:`center.domain.errors` (409 with the
reason for a step the status does not allow); the caller commits.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import ColumnElement, and_, or_
from sqlalchemy.orm import Session

from center.domain import workflow
from center.domain.errors import Invalid, StateConflict
from center.domain.vocabulary import (
    CLAIM_STATUS_LABELS,
    COMPLAINT_STATUS_LABELS,
    SERVICE_ITEM_LABELS,
    SERVICE_ITEM_RECORD_KIND,
    TASK_STATUS_LABELS,
    ClaimStatus,
    ComplaintStatus,
    HazardLevel,
    HazardSource,
    ServiceItem,
    TaskStatus,
    label,
)
from center.domain.workdays import add_working_days
from center.store.models import (
    Claim,
    Complaint,
    FollowUp,
    Hazard,
    ServiceOrg,
    ServicePlan,
    ServicePlanItem,
    ServiceRecord,
    ServiceTask,
)

ARCHIVE_WORKING_DAYS = 5  # a record is confirmed by both sides and archived within 5 working days
COMPLAINT_WORKING_DAYS = 10
COMPLEX_COMPLAINT_WORKING_DAYS = 30
MAX_TIMES_PER_ITEM = 52  # weekly at most
OPEN_TASK = (TaskStatus.PLANNED.value, TaskStatus.BOOKED.value)
DONE_TASK = (TaskStatus.DONE.value, TaskStatus.CONFIRMED.value, TaskStatus.ARCHIVED.value)


def _day(value: str) -> date:
    return date.fromisoformat(value)


# --- plans and tasks -----------------------------------------------------------------------------


def due_dates(start: date, end: date, times: int) -> list[date]:
    """``times`` due days spread evenly over ``start``..``end``: the last day of each slice."""
    if times < 1 or times > MAX_TIMES_PER_ITEM:
        raise ValueError(f"times must be 1–{MAX_TIMES_PER_ITEM}")
    span = (end - start).days + 1
    return [start + timedelta(days=(span * (i + 1)) // times - 1) for i in range(times)]


def make_tasks(session: Session, plan: ServicePlan, start: date, end: date, now: int) -> list[ServiceTask]:
    """The plan's tasks, one per due service of each item (the caller added the items)."""
    items = session.query(ServicePlanItem).filter(ServicePlanItem.plan_id == plan.id).all()
    tasks = []
    for item in items:
        for seq, due in enumerate(due_dates(start, end, item.times), start=1):
            task = ServiceTask(
                plan_id=plan.id,
                item_id=item.id,
                enterprise_id=plan.enterprise_id,
                insurer_id=plan.insurer_id,
                staff_id=item.staff_id,
                item=item.item,
                seq=seq,
                due_date=due.isoformat(),
                status=TaskStatus.PLANNED.value,
                booking_note="",
                record="",
                photos=[],
                updated_ms=now,
            )
            session.add(task)
            tasks.append(task)
    session.flush()
    return tasks


def is_overdue(task: ServiceTask, today: date) -> bool:
    """逾期: not done by its due day."""
    return task.status in OPEN_TASK and _day(task.due_date) < today


def overdue_clause(today: date) -> ColumnElement[bool]:
    """:func:`is_overdue` as a WHERE clause on service tasks."""
    return and_(ServiceTask.status.in_(OPEN_TASK), ServiceTask.due_date < today.isoformat())


def archive_late(task: ServiceTask, today: date) -> bool:
    """Done but not archived within its working days (归档超期)."""
    if task.archive_due is None:
        return False
    if task.archived_date is not None:
        return task.archived_date > task.archive_due
    return task.archive_due < today.isoformat()


def _task_state(task: ServiceTask) -> str:
    return f"该服务任务当前为「{label(TASK_STATUS_LABELS, task.status)}」({task.status})"


def book(task: ServiceTask, actor: str, day: date, note: str, today: date, now: int) -> ServiceTask:
    """计划 → 已预约: the visit's day agreed with the enterprise (again: a new day)."""
    if task.status not in OPEN_TASK:
        raise StateConflict(f"{_task_state(task)}，服务已完成，不能再预约")
    if day < today:
        raise Invalid(("body", "date"), f"预约日期 {day} 早于今天 {today}")
    task.status = TaskStatus.BOOKED.value
    task.booked_date = day.isoformat()
    task.booking_note = note
    task.updated_ms = now
    return task


@dataclass
class FoundHazard:
    title: str
    level: HazardLevel
    description: str
    deadline_days: int


def record_visit(
    session: Session,
    task: ServiceTask,
    actor: str,
    *,
    record: str,
    photos: list[str],
    hazards: list[FoundHazard],
    now: int,
    today: date,
    verify_files: bool = True,
) -> list[Hazard]:
    """已预约 → 已完成: what was done, its photos, and the hazards found (each a 待整改 hazard of
    the enterprise, in the rectification loop, its photos as 'before' evidence)."""
    if task.status == TaskStatus.PLANNED.value:
        raise StateConflict(f"{_task_state(task)}：服务前须先与企业确认预约（已预约）再上门")
    if task.status != TaskStatus.BOOKED.value:
        raise StateConflict(f"{_task_state(task)}，服务记录已提交，不能重复提交")
    found = []
    for h in hazards:
        found.append(
            workflow.create_hazard(
                session,
                actor,
                enterprise_id=task.enterprise_id,
                title=h.title,
                level=h.level,
                source=HazardSource.SERVICE,
                deadline_ms=now + h.deadline_days * 86_400_000,
                description=h.description,
                before_evidence=photos,
                created_ms=now,
                verify_files=verify_files,
            )
        )
    for hazard in found:
        hazard.service_task_id = task.id
    task.status = TaskStatus.DONE.value
    task.record = record
    task.photos = list(dict.fromkeys(photos))
    task.done_ms = now
    task.done_date = today.isoformat()
    task.archive_due = add_working_days(today, ARCHIVE_WORKING_DAYS).isoformat()
    task.updated_ms = now
    return found


def confirm(task: ServiceTask, actor: str, now: int) -> ServiceTask:
    """已完成 → 双方确认: the enterprise confirms the record (the service side did by filing it)."""
    if task.status in (TaskStatus.CONFIRMED.value, TaskStatus.ARCHIVED.value):
        raise StateConflict(f"{_task_state(task)}：该服务记录已确认，不能重复确认")
    if task.status != TaskStatus.DONE.value:
        raise StateConflict(f"{_task_state(task)}：服务尚未完成，没有可确认的服务记录")
    task.status = TaskStatus.CONFIRMED.value
    task.confirmed_by = actor
    task.confirmed_ms = now
    task.updated_ms = now
    return task


def archive(session: Session, task: ServiceTask, actor: str, now: int, day: date) -> ServiceRecord:
    """双方确认 → 已归档, leaving a service record (服务记录) in the enterprise's file."""
    if task.status == TaskStatus.ARCHIVED.value:
        raise StateConflict(f"{_task_state(task)}：已归档")
    if task.status != TaskStatus.CONFIRMED.value:
        raise StateConflict(f"{_task_state(task)}：须经企业确认（双方确认）后才能归档")
    task.status = TaskStatus.ARCHIVED.value
    task.archived_by = actor
    task.archived_ms = now
    task.archived_date = day.isoformat()
    task.updated_ms = now
    plan = session.get(ServicePlan, task.plan_id)
    org = session.get(ServiceOrg, plan.org_id) if plan else None
    record = ServiceRecord(
        enterprise_id=task.enterprise_id,
        kind=SERVICE_ITEM_RECORD_KIND[ServiceItem(task.item)].value,
        date=task.done_date or day.isoformat(),
        provider=org.name if org else "",
        insurer_id=task.insurer_id,
        summary=f"{label(SERVICE_ITEM_LABELS, task.item)}：{task.record}"[:2000],
        created_by=actor,
        created_ms=now,
    )
    session.add(record)
    session.flush()  # the record's id, for the hazards the visit found (the service report lists them)
    for hazard in session.query(Hazard).filter(Hazard.service_task_id == task.id):
        if hazard.service_id is None:
            hazard.service_id = record.id
    return record


def follow_up(
    session: Session, task: ServiceTask, actor: str, role: str, satisfaction: int, opinion: str, now: int
) -> FollowUp:
    """回访: the enterprise's satisfaction (1–5) and opinion of a done service; one per task."""
    if task.status in OPEN_TASK:
        raise StateConflict(f"{_task_state(task)}：服务尚未完成，不能回访")
    if session.query(FollowUp).filter(FollowUp.task_id == task.id).first() is not None:
        raise StateConflict("该服务已回访，不能重复回访")
    row = FollowUp(
        task_id=task.id,
        enterprise_id=task.enterprise_id,
        satisfaction=satisfaction,
        opinion=opinion,
        created_by=actor,
        created_role=role,
        created_ms=now,
    )
    session.add(row)
    session.flush()
    return row


# --- complaints ----------------------------------------------------------------------------------


def complaint_deadline(filed: date, complex_: bool) -> date:
    return add_working_days(filed, COMPLEX_COMPLAINT_WORKING_DAYS if complex_ else COMPLAINT_WORKING_DAYS)


def _complaint_state(c: Complaint) -> str:
    return f"该投诉当前为「{label(COMPLAINT_STATUS_LABELS, c.status)}」({c.status})"


def mark_complex(c: Complaint, reason: str, today: date) -> Complaint:
    """A complex complaint: answered within 30 working days of filing instead of 10; only while
    it is open and its 10 days have not run out."""
    if c.status != ComplaintStatus.OPEN.value:
        raise StateConflict(f"{_complaint_state(c)}：只有待答复的投诉可以延长答复期限")
    if c.complex:
        raise StateConflict("该投诉已认定为复杂投诉（30个工作日）")
    if today.isoformat() > c.deadline:
        raise StateConflict(f"答复期限 {c.deadline} 已过，不能再延长")
    c.complex = True
    c.complex_reason = reason
    c.deadline = complaint_deadline(_day(c.filed_date), True).isoformat()
    return c


def answer_complaint(c: Complaint, actor: str, answer: str, now: int, today: date) -> Complaint:
    if c.status != ComplaintStatus.OPEN.value:
        raise StateConflict(f"{_complaint_state(c)}：已答复的投诉不能再次答复")
    c.status = ComplaintStatus.ANSWERED.value
    c.answer = answer
    c.answered_by = actor
    c.answered_ms = now
    c.answered_date = today.isoformat()
    return c


def close_complaint(c: Complaint, actor: str, now: int) -> Complaint:
    if c.status == ComplaintStatus.OPEN.value or not c.answer:
        raise StateConflict(f"{_complaint_state(c)}：投诉尚未答复，不能办结")
    if c.status == ComplaintStatus.CLOSED.value:
        raise StateConflict("该投诉已办结")
    c.status = ComplaintStatus.CLOSED.value
    c.closed_by = actor
    c.closed_ms = now
    return c


def complaint_late(c: Complaint, today: date) -> bool:
    """Past its deadline: unanswered after it, or answered after it."""
    if c.answered_date is not None:
        return c.answered_date > c.deadline
    return today.isoformat() > c.deadline


def complaint_late_clause(today: date) -> ColumnElement[bool]:
    return or_(
        and_(Complaint.answered_date.is_(None), Complaint.deadline < today.isoformat()),
        and_(Complaint.answered_date.is_not(None), Complaint.answered_date > Complaint.deadline),
    )


# --- claims --------------------------------------------------------------------------------------

CLAIM_STEPS = (ClaimStatus.REPORTED, ClaimStatus.SURVEYED, ClaimStatus.ASSESSED, ClaimStatus.PAID)
CLAIM_FINAL = (ClaimStatus.PAID.value, ClaimStatus.REJECTED.value)


def advance_claim(c: Claim, to: ClaimStatus, *, amount: float | None, note: str, now: int) -> Claim:
    """One step forward: 报案 → 查勘 → 定损 (the assessed amount) → 赔付 (the amount paid, at
    most the assessed one); 拒赔 (with a reason) from any open step. Never backwards, never a
    step skipped, nothing after 赔付 or 拒赔."""
    state = f"该理赔当前为「{label(CLAIM_STATUS_LABELS, c.status)}」({c.status})"
    if c.status in CLAIM_FINAL:
        raise StateConflict(f"{state}，已结案，不能再变更")
    if to is ClaimStatus.REJECTED:
        if not note:
            raise Invalid(("body", "note"), "拒赔须写明理由")
    else:
        at, want = CLAIM_STEPS.index(ClaimStatus(c.status)), CLAIM_STEPS.index(to)
        if want <= at:
            raise StateConflict(f"{state}：理赔流程不能回退到「{label(CLAIM_STATUS_LABELS, to)}」")
        if want > at + 1:
            nxt = CLAIM_STEPS[at + 1]
            raise StateConflict(f"{state}：下一步应为「{label(CLAIM_STATUS_LABELS, nxt)}」，不能跳过")
        if to in (ClaimStatus.ASSESSED, ClaimStatus.PAID) and amount is None:
            raise Invalid(("body", "amount_cny"), f"「{label(CLAIM_STATUS_LABELS, to)}」须填写金额")
        paid_more = to is ClaimStatus.PAID and amount is not None and amount > (c.assessed_cny or 0.0)
        if paid_more:
            raise Invalid(("body", "amount_cny"), f"赔付金额 {amount} 大于定损金额 {c.assessed_cny}")
    c.status = to.value
    if to is ClaimStatus.SURVEYED:
        c.surveyed_ms = now
    elif to is ClaimStatus.ASSESSED:
        c.assessed_cny, c.assessed_ms = amount, now
    elif to is ClaimStatus.PAID:
        c.paid_cny, c.closed_ms = amount, now
    else:
        c.closed_ms = now
    if note:
        c.note = (f"{c.note}\n{note}" if c.note else note)[:4000]
    c.updated_ms = now
    return c
