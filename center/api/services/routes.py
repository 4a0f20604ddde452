"""The 安责险 accident-prevention service loop (AQ 9010-2019): 片区, service organisations and
their staff, service plans per policy, the tasks generated from them (预约 → 服务记录 with photos and
hazards → 双方确认 → 归档), follow-ups (回访). Rows are scoped by
:func:`center.auth.policy.insured_rows`; an object outside the caller's rows answers 404; a step
its status does not allow answers 409 with the reason. Every list is also a CSV (``format=csv``)."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from fastapi import Path, Query
from pydantic import Field
from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from center.api.deps import NOT_FOUND, ConfigDep, IdQuery, Limit, Offset, conflict, count_of, make_router
from center.api.export import csv_response
from center.api.listing import CSV_DOC, CSV_MAX_ROWS, Format, names, today_of
from center.api.schemas import Page, iso_utc
from center.api.services.schemas import (
    BookIn,
    FollowUpIn,
    FollowUpOut,
    GridCellOut,
    PlanItemOut,
    ServiceOrgIn,
    ServiceOrgOut,
    ServicePlanIn,
    ServicePlanOut,
    ServiceStaffIn,
    ServiceStaffOut,
    ServiceTaskOut,
    TaskHazardOut,
    VisitIn,
)
from center.auth.audit import audit
from center.auth.deps import CurrentUser, SessionDep
from center.auth.policy import Principal, insured_rows
from center.config import CenterConfig
from center.domain import evidence, grid
from center.domain.errors import Invalid, NotFound, StateConflict
from center.domain.vocabulary import (
    HAZARD_STATUS_LABELS,
    SERVICE_ITEM_LABELS,
    TASK_STATUS_LABELS,
    Role,
    TaskStatus,
    label,
)
from center.store.models import (
    Enterprise,
    FollowUp,
    GridCell,
    Hazard,
    InsurancePolicy,
    Insurer,
    ServiceOrg,
    ServicePlan,
    ServicePlanItem,
    ServiceStaff,
    ServiceTask,
    Town,
)
from protocol import ID_PATTERN, now_ms

router = make_router("service loop")

ObjectId = Annotated[int, Path(ge=1, le=2**31 - 1)]
OrgId = Annotated[str, Path(pattern=ID_PATTERN)]
CONFLICT = conflict("service task")


# --- grid cells and service organisations ---------------------------------------------------------


@router.get("/grid-cells", response_model=list[GridCellOut])
def list_grid_cells(session: SessionDep, town_id: IdQuery = None) -> list[GridCellOut]:
    """The 片区 (grid cells) of the district's 镇街, with how many enterprises each holds."""
    counts = dict(
        session.execute(
            select(Enterprise.grid_id, func.count())
            .where(Enterprise.grid_id.is_not(None))
            .group_by(Enterprise.grid_id)
        ).all()
    )
    stmt = (
        select(GridCell, Town.name)
        .join(Town, Town.id == GridCell.town_id)
        .order_by(GridCell.town_id, GridCell.id)
    )
    if town_id is not None:
        stmt = stmt.where(GridCell.town_id == town_id)
    return [
        GridCellOut(
            id=c.id,
            name=c.name,
            town_id=c.town_id,
            town_name=town,
            keeper=c.keeper,
            enterprises=counts.get(c.id, 0),
        )
        for c, town in session.execute(stmt)
    ]


def _staff_out(s: ServiceStaff) -> ServiceStaffOut:
    return ServiceStaffOut(
        id=s.id,
        org_id=s.org_id,
        name=s.name,
        phone=s.phone,
        qualification=s.qualification,
        username=s.username,
    )


@router.get("/service-orgs", response_model=list[ServiceOrgOut])
def list_service_orgs(session: SessionDep) -> list[ServiceOrgOut]:
    """The 第三方服务机构 and their staff."""
    staff: dict[str, list[ServiceStaffOut]] = {}
    for s in session.scalars(select(ServiceStaff).order_by(ServiceStaff.id)):
        staff.setdefault(s.org_id, []).append(_staff_out(s))
    return [
        ServiceOrgOut(id=o.id, name=o.name, contact=o.contact, phone=o.phone, staff=staff.get(o.id, []))
        for o in session.scalars(select(ServiceOrg).order_by(ServiceOrg.name))
    ]


@router.post(
    "/service-orgs", response_model=ServiceOrgOut, status_code=201, responses=conflict("organisation")
)
def create_service_org(body: ServiceOrgIn, session: SessionDep, user: CurrentUser) -> ServiceOrgOut:
    """Register a 第三方服务机构."""
    if session.get(ServiceOrg, body.id) is not None:
        raise StateConflict(f"service organisation {body.id!r} exists")
    org = ServiceOrg(id=body.id, name=body.name, contact=body.contact, phone=body.phone)
    session.add(org)
    audit(session, user, "create_service_org", f"service_org:{org.id}")
    session.commit()
    return ServiceOrgOut(id=org.id, name=org.name, contact=org.contact, phone=org.phone, staff=[])


@router.post(
    "/service-orgs/{org_id}/staff",
    response_model=ServiceStaffOut,
    status_code=201,
    responses={**NOT_FOUND, **conflict("staff member")},
)
def create_service_staff(
    org_id: OrgId, body: ServiceStaffIn, session: SessionDep, user: CurrentUser
) -> ServiceStaffOut:
    """Add a person to an organisation; ``username`` links their login (role service)."""
    if session.get(ServiceOrg, org_id) is None:
        raise NotFound(f"no service organisation {org_id!r}")
    if body.username and session.scalar(
        select(ServiceStaff.id).where(ServiceStaff.username == body.username)
    ):
        raise StateConflict(f"user name {body.username!r} is linked to another staff member")
    row = ServiceStaff(org_id=org_id, **body.model_dump())
    session.add(row)
    session.flush()
    audit(session, user, "create_service_staff", f"service_staff:{row.id}", {"org_id": org_id})
    session.commit()
    return _staff_out(row)


# --- plans ----------------------------------------------------------------------------------------


def _plan_out(session: Session, plan: ServicePlan, today: date, with_items: bool) -> ServicePlanOut:
    policy = session.get(InsurancePolicy, plan.policy_id)
    assert policy is not None
    counts = session.execute(
        select(
            func.count(),
            func.count().filter(ServiceTask.due_date < today.isoformat()),
            func.count().filter(ServiceTask.status.in_(grid.DONE_TASK)),
            func.count().filter(grid.overdue_clause(today)),
        ).where(ServiceTask.plan_id == plan.id)
    ).one()
    items: list[PlanItemOut] = []
    if with_items:
        done = dict(
            session.execute(
                select(ServiceTask.item_id, func.count())
                .where(ServiceTask.plan_id == plan.id, ServiceTask.status.in_(grid.DONE_TASK))
                .group_by(ServiceTask.item_id)
            ).all()
        )
        rows = list(
            session.scalars(
                select(ServicePlanItem).where(ServicePlanItem.plan_id == plan.id).order_by(ServicePlanItem.id)
            )
        )
        staff = names(session, ServiceStaff, {r.staff_id for r in rows if r.staff_id})
        items = [
            PlanItemOut(
                id=r.id,
                item=r.item,
                item_label=label(SERVICE_ITEM_LABELS, r.item),
                times=r.times,
                staff_id=r.staff_id,
                staff_name=staff.get(r.staff_id),
                measures=r.measures,
                goal=r.goal,
                done=done.get(r.id, 0),
            )
            for r in rows
        ]
    return ServicePlanOut(
        id=plan.id,
        policy_id=plan.policy_id,
        policy_no=policy.policy_no,
        start_date=policy.start_date,
        end_date=policy.end_date,
        enterprise_id=plan.enterprise_id,
        enterprise_name=names(session, Enterprise, {plan.enterprise_id}).get(
            plan.enterprise_id, plan.enterprise_id
        ),
        insurer_id=plan.insurer_id,
        insurer_name=names(session, Insurer, {plan.insurer_id}).get(plan.insurer_id, plan.insurer_id),
        org_id=plan.org_id,
        org_name=names(session, ServiceOrg, {plan.org_id}).get(plan.org_id, plan.org_id),
        goals=plan.goals,
        created_by=plan.created_by,
        created_at=iso_utc(plan.created_ms),
        tasks=int(counts[0]),
        due=int(counts[1]),
        done=int(counts[2]),
        overdue=int(counts[3]),
        items=items,
    )


def _plans_query(
    user: Principal, enterprise_id: str | None, insurer_id: str | None, year: int | None
) -> Select[Any]:
    stmt = select(ServicePlan).join(InsurancePolicy, InsurancePolicy.id == ServicePlan.policy_id)
    stmt = stmt.where(insured_rows(user, ServicePlan))
    if enterprise_id is not None:
        stmt = stmt.where(ServicePlan.enterprise_id == enterprise_id)
    if insurer_id is not None:
        stmt = stmt.where(ServicePlan.insurer_id == insurer_id)
    if year is not None:
        stmt = stmt.where(
            InsurancePolicy.start_date <= f"{year}-12-31", InsurancePolicy.end_date >= f"{year}-01-01"
        )
    return stmt


@router.get("/service-plans", response_model=Page[ServicePlanOut], responses=CSV_DOC)
def list_service_plans(
    session: SessionDep,
    config: ConfigDep,
    user: CurrentUser,
    enterprise_id: IdQuery = None,
    insurer_id: IdQuery = None,
    year: Annotated[
        int | None, Query(ge=2000, le=2100, description="plans of policies in force that year")
    ] = None,
    format: Format = "json",
    limit: Limit = 100,
    offset: Offset = 0,
) -> Any:
    """Service plans: an insurer its own, an enterprise its own, the park and the government all;
    each with its tasks counted (due by today, done, overdue)."""
    today = today_of(config)
    stmt = _plans_query(user, enterprise_id, insurer_id, year)
    order = stmt.order_by(InsurancePolicy.start_date.desc(), ServicePlan.id)
    if format == "csv":
        rows = [_plan_out(session, p, today, False) for p in session.scalars(order.limit(CSV_MAX_ROWS))]
        return csv_response(
            "service-plans.csv",
            [
                "计划编号",
                "企业",
                "保险公司",
                "保单号",
                "保险期间",
                "服务机构",
                "任务数",
                "已到期",
                "已完成",
                "逾期",
                "预期目标",
            ],
            (
                [
                    p.id,
                    p.enterprise_name,
                    p.insurer_name,
                    p.policy_no,
                    f"{p.start_date}至{p.end_date}",
                    p.org_name,
                    p.tasks,
                    p.due,
                    p.done,
                    p.overdue,
                    p.goals,
                ]
                for p in rows
            ),
        )
    total = count_of(session, stmt)
    items = [_plan_out(session, p, today, False) for p in session.scalars(order.limit(limit).offset(offset))]
    return Page[ServicePlanOut](items=items, total=total, limit=limit, offset=offset)


def plan_or_404(session: Session, user: Principal, plan_id: int) -> ServicePlan:
    plan = session.scalar(
        select(ServicePlan).where(ServicePlan.id == plan_id, insured_rows(user, ServicePlan))
    )
    if plan is None:
        raise NotFound(f"no service plan {plan_id}")
    return plan


@router.get("/service-plans/{plan_id}", response_model=ServicePlanOut, responses=NOT_FOUND)
def get_service_plan(
    plan_id: ObjectId, session: SessionDep, config: ConfigDep, user: CurrentUser
) -> ServicePlanOut:
    """A plan with its items (项目、措施、频次、服务人员、目标) and how many of each are done."""
    return _plan_out(session, plan_or_404(session, user, plan_id), today_of(config), True)


@router.post(
    "/service-plans",
    response_model=ServicePlanOut,
    status_code=201,
    responses={**NOT_FOUND, **conflict("policy")},
)
def create_service_plan(
    body: ServicePlanIn, session: SessionDep, config: ConfigDep, user: CurrentUser
) -> ServicePlanOut:
    """The service plan of a policy (an insurer: of its own policies), its tasks generated: each
    item's services spread evenly over the policy period, each due by the end of its slice."""
    policy = session.get(InsurancePolicy, body.policy_id)
    if policy is None or (user.role is Role.INSURER and policy.insurer_id != user.insurer_id):
        raise NotFound(f"no policy {body.policy_id}")
    if session.scalar(select(ServicePlan.id).where(ServicePlan.policy_id == policy.id)) is not None:
        raise StateConflict(f"保单 {policy.policy_no} 已有服务计划")
    if session.get(ServiceOrg, body.org_id) is None:
        raise Invalid(("body", "org_id"), f"no service organisation {body.org_id!r}")
    for i, it in enumerate(body.items):
        if it.staff_id is not None:
            staff = session.get(ServiceStaff, it.staff_id)
            if staff is None or staff.org_id != body.org_id:
                raise Invalid(("body", "items", i, "staff_id"), f"no staff {it.staff_id} of {body.org_id!r}")
    now = now_ms()
    plan = ServicePlan(
        policy_id=policy.id,
        enterprise_id=policy.enterprise_id,
        insurer_id=policy.insurer_id,
        org_id=body.org_id,
        goals=body.goals,
        created_by=user.username,
        created_ms=now,
    )
    session.add(plan)
    session.flush()
    for it in body.items:
        session.add(ServicePlanItem(plan_id=plan.id, **it.model_dump(mode="json")))
    session.flush()
    tasks = grid.make_tasks(
        session, plan, date.fromisoformat(policy.start_date), date.fromisoformat(policy.end_date), now
    )
    audit(
        session,
        user,
        "create_service_plan",
        f"service_plan:{plan.id}",
        {"policy": policy.policy_no, "tasks": len(tasks)},
    )
    session.commit()
    return _plan_out(session, plan, today_of(config), True)


# --- tasks ----------------------------------------------------------------------------------------


def tasks_out(
    session: Session, rows: list[ServiceTask], today: date, detail: bool = False
) -> list[ServiceTaskOut]:
    ents = {
        e.id: e
        for e in session.scalars(
            select(Enterprise).where(Enterprise.id.in_(sorted({r.enterprise_id for r in rows})))
        )
    }
    insurers = names(session, Insurer, {r.insurer_id for r in rows})
    staff = names(session, ServiceStaff, {r.staff_id for r in rows if r.staff_id})
    plans = dict(
        session.execute(
            select(ServicePlan.id, ServicePlan.org_id).where(
                ServicePlan.id.in_(sorted({r.plan_id for r in rows}))
            )
        ).all()
    )
    orgs = names(session, ServiceOrg, set(plans.values()))
    ids = [r.id for r in rows]
    rating = (
        dict(
            session.execute(
                select(FollowUp.task_id, FollowUp.satisfaction).where(FollowUp.task_id.in_(ids))
            ).all()
        )
        if ids
        else {}
    )
    found: dict[int, list[TaskHazardOut]] = {}
    if detail and ids:
        for h in session.scalars(select(Hazard).where(Hazard.service_task_id.in_(ids)).order_by(Hazard.id)):
            found.setdefault(h.service_task_id or 0, []).append(
                TaskHazardOut(
                    id=h.id,
                    code=h.code,
                    title=h.title,
                    level=h.level,
                    status=h.status,
                    status_label=label(HAZARD_STATUS_LABELS, h.status),
                )
            )
    out = []
    for r in rows:
        e = ents.get(r.enterprise_id)
        out.append(
            ServiceTaskOut(
                id=r.id,
                plan_id=r.plan_id,
                enterprise_id=r.enterprise_id,
                enterprise_name=e.name if e else r.enterprise_id,
                enterprise_address=e.address if e else "",
                insurer_id=r.insurer_id,
                insurer_name=insurers.get(r.insurer_id, r.insurer_id),
                org_name=orgs.get(plans.get(r.plan_id), ""),
                staff_id=r.staff_id,
                staff_name=staff.get(r.staff_id),
                item=r.item,
                item_label=label(SERVICE_ITEM_LABELS, r.item),
                seq=r.seq,
                due_date=r.due_date,
                status=r.status,
                status_label=label(TASK_STATUS_LABELS, r.status),
                overdue=grid.is_overdue(r, today),
                archive_late=grid.archive_late(r, today),
                booked_date=r.booked_date,
                booking_note=r.booking_note,
                done_date=r.done_date,
                record=r.record,
                photos=len(r.photos or []),
                confirmed_by=r.confirmed_by,
                archive_due=r.archive_due,
                archived_date=r.archived_date,
                satisfaction=rating.get(r.id),
                hazards=found.get(r.id, []),
            )
        )
    return out


TaskStatusQuery = Annotated[
    TaskStatus | None, Query(description="planned, booked, done, confirmed or archived")
]


@router.get("/service-tasks", response_model=Page[ServiceTaskOut], responses=CSV_DOC)
def list_service_tasks(
    session: SessionDep,
    config: ConfigDep,
    user: CurrentUser,
    status: TaskStatusQuery = None,
    overdue: Annotated[
        bool | None, Query(description="only overdue (true) or only not overdue (false)")
    ] = None,
    enterprise_id: IdQuery = None,
    insurer_id: IdQuery = None,
    plan_id: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
    due_from: Annotated[date | None, Query(description="due on or after this day")] = None,
    due_to: Annotated[date | None, Query(description="due on or before this day")] = None,
    format: Format = "json",
    limit: Limit = 100,
    offset: Offset = 0,
) -> Any:
    """Service tasks: a 第三方服务人员 their own, an insurer its own, an enterprise its own, the park
    and the government all; soonest due first (``overdue`` is derived: not done by the due day)."""
    today = today_of(config)
    stmt = select(ServiceTask).where(insured_rows(user, ServiceTask))
    for column, value in (
        (ServiceTask.status, status.value if status else None),
        (ServiceTask.enterprise_id, enterprise_id),
        (ServiceTask.insurer_id, insurer_id),
        (ServiceTask.plan_id, plan_id),
    ):
        if value is not None:
            stmt = stmt.where(column == value)
    if overdue is not None:
        clause = grid.overdue_clause(today)
        stmt = stmt.where(clause if overdue else ~clause)
    if due_from is not None:
        stmt = stmt.where(ServiceTask.due_date >= due_from.isoformat())
    if due_to is not None:
        stmt = stmt.where(ServiceTask.due_date <= due_to.isoformat())
    order = stmt.order_by(ServiceTask.due_date, ServiceTask.id)
    if format == "csv":
        rows = tasks_out(session, list(session.scalars(order.limit(CSV_MAX_ROWS))), today)
        return csv_response(
            "service-tasks.csv",
            [
                "任务编号",
                "企业",
                "保险公司",
                "服务机构",
                "服务人员",
                "服务项目",
                "第几次",
                "应完成日期",
                "状态",
                "逾期",
                "预约日期",
                "服务日期",
                "服务记录",
                "归档期限",
                "归档日期",
                "满意度",
            ],
            (
                [
                    t.id,
                    t.enterprise_name,
                    t.insurer_name,
                    t.org_name,
                    t.staff_name or "",
                    t.item_label,
                    t.seq,
                    t.due_date,
                    t.status_label,
                    "是" if t.overdue else "否",
                    t.booked_date or "",
                    t.done_date or "",
                    t.record,
                    t.archive_due or "",
                    t.archived_date or "",
                    t.satisfaction or "",
                ]
                for t in rows
            ),
        )
    total = count_of(session, stmt)
    rows = tasks_out(session, list(session.scalars(order.limit(limit).offset(offset))), today)
    return Page[ServiceTaskOut](items=rows, total=total, limit=limit, offset=offset)


class MyTasksOut(Page[ServiceTaskOut]):
    todo: int = Field(description="planned or booked")
    overdue: int
    done: int = Field(description="done, waiting for the enterprise's confirmation")


@router.get("/my/service-tasks", response_model=MyTasksOut)
def my_service_tasks(
    session: SessionDep,
    config: ConfigDep,
    user: CurrentUser,
    show: Annotated[
        Literal["todo", "overdue", "done"], Query(description="todo (planned, booked), overdue, done")
    ] = "todo",
    limit: Limit = 100,
    offset: Offset = 0,
) -> MyTasksOut:
    """A 第三方服务人员's agenda (the phone page): their tasks to do (soonest due first), overdue,
    or done and awaiting the enterprise's confirmation, with the three counts."""
    today = today_of(config)
    mine = select(ServiceTask).where(insured_rows(user, ServiceTask))
    todo = mine.where(ServiceTask.status.in_(grid.OPEN_TASK))
    over = mine.where(grid.overdue_clause(today))
    done = mine.where(ServiceTask.status == TaskStatus.DONE.value)
    stmt = {"todo": todo, "overdue": over, "done": done}[show]
    rows = list(
        session.scalars(stmt.order_by(ServiceTask.due_date, ServiceTask.id).limit(limit).offset(offset))
    )
    return MyTasksOut(
        items=tasks_out(session, rows, today, detail=True),
        total=count_of(session, stmt),
        limit=limit,
        offset=offset,
        todo=count_of(session, todo),
        overdue=count_of(session, over),
        done=count_of(session, done),
    )


def task_or_404(session: Session, user: Principal, task_id: int) -> ServiceTask:
    task = session.scalar(
        select(ServiceTask)
        .where(ServiceTask.id == task_id, insured_rows(user, ServiceTask))
        .with_for_update()
    )
    if task is None:
        raise NotFound(f"no service task {task_id}")
    return task


def _one(session: Session, task: ServiceTask, config: CenterConfig) -> ServiceTaskOut:
    return tasks_out(session, [task], today_of(config), detail=True)[0]


@router.get("/service-tasks/{task_id}", response_model=ServiceTaskOut, responses=NOT_FOUND)
def get_service_task(
    task_id: ObjectId, session: SessionDep, config: ConfigDep, user: CurrentUser
) -> ServiceTaskOut:
    """A task with its record and the hazards its visit found (their rectification status)."""
    return _one(session, task_or_404(session, user, task_id), config)


@router.post(
    "/service-tasks/{task_id}/book", response_model=ServiceTaskOut, responses={**NOT_FOUND, **CONFLICT}
)
def book_service_task(
    task_id: ObjectId, body: BookIn, session: SessionDep, config: ConfigDep, user: CurrentUser
) -> ServiceTaskOut:
    """计划 → 已预约: the visit's day, agreed with the enterprise beforehand (AQ 9010: 服务前确认)."""
    task = task_or_404(session, user, task_id)
    grid.book(task, user.username, body.date, body.note, today_of(config), now_ms())
    audit(session, user, "book_service_task", f"service_task:{task.id}", {"date": task.booked_date})
    session.commit()
    return _one(session, task, config)


@router.post(
    "/service-tasks/{task_id}/record",
    response_model=ServiceTaskOut,
    responses={
        **NOT_FOUND,
        **CONFLICT,
        422: {"description": "a photo not uploaded, or of another enterprise"},
    },
)
def record_service_visit(
    task_id: ObjectId, body: VisitIn, session: SessionDep, config: ConfigDep, user: CurrentUser
) -> ServiceTaskOut:
    """已预约 → 已完成: the service worker's record of the visit, its photos (uploaded first with
    POST /api/evidence) and the hazards found, each put into the enterprise's rectification loop
    (待整改, the photos as its 'before' evidence)."""
    task = task_or_404(session, user, task_id)
    today = today_of(config)
    found = [grid.FoundHazard(h.title, h.level, h.description, h.deadline_days) for h in body.hazards]
    if body.photos:
        evidence.check_citable(session, body.photos, task.enterprise_id, user.username, ("body", "photos"))
    hazards = grid.record_visit(
        session,
        task,
        user.username,
        record=body.record,
        photos=body.photos,
        hazards=found,
        now=now_ms(),
        today=today,
        verify_files=False,
    )
    audit(
        session,
        user,
        "record_service_visit",
        f"service_task:{task.id}",
        {"hazards": [h.code for h in hazards]},
    )
    session.commit()
    return _one(session, task, config)


@router.post(
    "/service-tasks/{task_id}/confirm", response_model=ServiceTaskOut, responses={**NOT_FOUND, **CONFLICT}
)
def confirm_service_task(
    task_id: ObjectId, session: SessionDep, config: ConfigDep, user: CurrentUser
) -> ServiceTaskOut:
    """已完成 → 双方确认: the enterprise confirms the service record (twice: 409)."""
    task = task_or_404(session, user, task_id)
    grid.confirm(task, user.username, now_ms())
    audit(session, user, "confirm_service_task", f"service_task:{task.id}")
    session.commit()
    return _one(session, task, config)


@router.post(
    "/service-tasks/{task_id}/archive", response_model=ServiceTaskOut, responses={**NOT_FOUND, **CONFLICT}
)
def archive_service_task(
    task_id: ObjectId, session: SessionDep, config: ConfigDep, user: CurrentUser
) -> ServiceTaskOut:
    """双方确认 → 已归档: filed by the insurer (or the park), leaving a 服务记录 in the enterprise's file."""
    task = task_or_404(session, user, task_id)
    grid.archive(session, task, user.username, now_ms(), today_of(config))
    audit(session, user, "archive_service_task", f"service_task:{task.id}")
    session.commit()
    return _one(session, task, config)


@router.post(
    "/service-tasks/{task_id}/follow-up",
    response_model=FollowUpOut,
    status_code=201,
    responses={**NOT_FOUND, **CONFLICT},
)
def follow_up_service_task(
    task_id: ObjectId, body: FollowUpIn, session: SessionDep, config: ConfigDep, user: CurrentUser
) -> FollowUpOut:
    """回访: the enterprise's satisfaction (1–5) and opinion of a done service, recorded by the
    enterprise itself or by its insurer; once per task; a service not done yet: 409."""
    task = task_or_404(session, user, task_id)
    row = grid.follow_up(
        session, task, user.username, str(user.role or ""), body.satisfaction, body.opinion, now_ms()
    )
    audit(
        session,
        user,
        "follow_up_service_task",
        f"service_task:{task.id}",
        {"satisfaction": body.satisfaction},
    )
    session.commit()
    return follow_ups_out(session, [row])[0]


def follow_ups_out(session: Session, rows: list[FollowUp]) -> list[FollowUpOut]:
    tasks = {
        t.id: t
        for t in session.scalars(select(ServiceTask).where(ServiceTask.id.in_([r.task_id for r in rows])))
    }
    ents = names(session, Enterprise, {r.enterprise_id for r in rows})
    insurers = names(session, Insurer, {t.insurer_id for t in tasks.values()})
    return [
        FollowUpOut(
            id=r.id,
            task_id=r.task_id,
            enterprise_id=r.enterprise_id,
            enterprise_name=ents.get(r.enterprise_id, ""),
            insurer_name=insurers.get(tasks[r.task_id].insurer_id, ""),
            item_label=label(SERVICE_ITEM_LABELS, tasks[r.task_id].item),
            satisfaction=r.satisfaction,
            opinion=r.opinion,
            created_by=r.created_by,
            created_role=r.created_role,
            created_at=iso_utc(r.created_ms),
        )
        for r in rows
    ]


@router.get("/follow-ups", response_model=Page[FollowUpOut], responses=CSV_DOC)
def list_follow_ups(
    session: SessionDep,
    user: CurrentUser,
    enterprise_id: IdQuery = None,
    format: Format = "json",
    limit: Limit = 100,
    offset: Offset = 0,
) -> Any:
    """回访 records, newest first (an insurer: of its own tasks; an enterprise: its own)."""
    stmt = (
        select(FollowUp)
        .join(ServiceTask, ServiceTask.id == FollowUp.task_id)
        .where(insured_rows(user, ServiceTask))
    )
    if enterprise_id is not None:
        stmt = stmt.where(FollowUp.enterprise_id == enterprise_id)
    order = stmt.order_by(FollowUp.created_ms.desc(), FollowUp.id.desc())
    if format == "csv":
        rows = follow_ups_out(session, list(session.scalars(order.limit(CSV_MAX_ROWS))))
        return csv_response(
            "follow-ups.csv",
            ["任务编号", "企业", "保险公司", "服务项目", "满意度", "意见", "记录人", "时间"],
            (
                [
                    f.task_id,
                    f.enterprise_name,
                    f.insurer_name,
                    f.item_label,
                    f.satisfaction,
                    f.opinion,
                    f.created_by,
                    f.created_at,
                ]
                for f in rows
            ),
        )
    total = count_of(session, stmt)
    items = follow_ups_out(session, list(session.scalars(order.limit(limit).offset(offset))))
    return Page[FollowUpOut](items=items, total=total, limit=limit, offset=offset)
