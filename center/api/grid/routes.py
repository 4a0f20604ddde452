"""网格监管 and 服务履约: the figures the practice note names, computed in the database.

The district / town view (the government, the park): coverage (insured enterprises of all, by
镇街 and industry, headcount, premium), the risk distribution and its trend, service tasks done
vs due, overdue tasks, the rectification rate, claims and their progress, complaints past their
deadline, and one row per enterprise to click through. The insurer's view: its policies in force,
its service obligations by item and what is overdue, its claims, complaints against it.

Service figures count the tasks of the plans of policies in force on ``as_of``; a task is due when
its due day is on or before ``as_of``, overdue when it is not done and its due day is before it.
Statuses are the current ones (``as_of`` moves the due line, not the records)."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import Query
from sqlalchemy import ColumnElement, and_, func, select, true
from sqlalchemy.orm import Session

from center.api.deps import NOT_FOUND, ConfigDep, IdQuery, make_router
from center.api.grid.schemas import (
    ClaimFigures,
    ComplaintFigures,
    CoverageRow,
    EnterpriseRow,
    GridOverviewOut,
    HazardFigures,
    InsurerOut,
    ItemFigures,
    LateComplaint,
    LevelCount,
    OverdueTask,
    ServiceFigures,
    TrendPoint,
)
from center.api.listing import names, today_of
from center.auth.deps import CurrentUser, SessionDep
from center.domain import grid
from center.domain.errors import NotFound
from center.domain.scoring import LEVELS, latest_score
from center.domain.vocabulary import (
    CLAIM_STATUS_LABELS,
    COMPLAINT_STATUS_LABELS,
    INDUSTRY_LABELS,
    RISK_LEVEL_LABELS,
    SERVICE_ITEM_LABELS,
    TASK_STATUS_LABELS,
    ClaimStatus,
    ComplaintStatus,
    HazardStatus,
    Role,
    ServiceItem,
    label,
)
from center.store.models import (
    Claim,
    Complaint,
    Enterprise,
    FollowUp,
    GridCell,
    Hazard,
    InsurancePolicy,
    Insurer,
    RiskScore,
    ServicePlan,
    ServiceTask,
    Town,
)

router = make_router("grid views")

AsOf = Annotated[
    date | None,
    Query(
        ge=date(2000, 1, 1),
        le=date(2100, 12, 31),
        description="the day of the figures, 2000-01-01 to 2100-12-31 (default: the park's today)",
    ),
]
TREND_WEEKS = 8
LIST_MAX = 50


def _day_end_ms(day: date, tz: ZoneInfo) -> int:
    return int(datetime(day.year, day.month, day.day, tzinfo=tz).timestamp() * 1000) + 86_400_000 - 1


def _in_force(day: date) -> ColumnElement[bool]:
    d = day.isoformat()
    return and_(InsurancePolicy.start_date <= d, InsurancePolicy.end_date >= d)


def service_figures(session: Session, where: ColumnElement[bool], day: date) -> ServiceFigures:
    d = day.isoformat()
    base = (
        select(ServiceTask.id, ServiceTask.status, ServiceTask.due_date)
        .join(ServicePlan, ServicePlan.id == ServiceTask.plan_id)
        .join(InsurancePolicy, InsurancePolicy.id == ServicePlan.policy_id)
        .where(_in_force(day), where)
    )
    t = base.subquery()
    row = session.execute(
        select(
            func.count(),
            func.count().filter(t.c.due_date <= d),
            func.count().filter(t.c.due_date <= d, t.c.status.in_(grid.DONE_TASK)),
            func.count().filter(t.c.status.in_(grid.DONE_TASK)),
            func.count().filter(t.c.status.in_(grid.OPEN_TASK), t.c.due_date < d),
        ).select_from(t)
    ).one()
    rating = session.execute(
        select(func.avg(FollowUp.satisfaction), func.count()).where(FollowUp.task_id.in_(select(t.c.id)))
    ).one()
    due, done_of_due = int(row[1]), int(row[2])
    return ServiceFigures(
        tasks=int(row[0]),
        due=due,
        done_of_due=done_of_due,
        done=int(row[3]),
        overdue=int(row[4]),
        rate=round(done_of_due / due, 4) if due else None,
        satisfaction=round(float(rating[0]), 2) if rating[0] is not None else None,
        follow_ups=int(rating[1]),
    )


def hazard_figures(session: Session, where: ColumnElement[bool], day: date, tz: ZoneInfo) -> HazardFigures:
    end = _day_end_ms(day, tz)
    closed = Hazard.status == HazardStatus.CLOSED.value
    svc = Hazard.service_task_id.is_not(None)
    row = session.execute(
        select(
            func.count(),
            func.count().filter(closed),
            func.count().filter(svc),
            func.count().filter(svc, closed),
            func.count().filter(~closed, Hazard.deadline_ms < end),
        ).where(Hazard.created_ms <= end, where)
    ).one()
    found, n_closed = int(row[0]), int(row[1])
    return HazardFigures(
        found=found,
        closed=n_closed,
        rate=round(n_closed / found, 4) if found else None,
        from_services=int(row[2]),
        from_services_closed=int(row[3]),
        overdue_open=int(row[4]),
    )


def claim_figures(session: Session, where: ColumnElement[bool]) -> ClaimFigures:
    by = dict(session.execute(select(Claim.status, func.count()).where(where).group_by(Claim.status)).all())
    sums = session.execute(
        select(
            func.coalesce(func.sum(Claim.claimed_cny), 0.0),
            func.coalesce(func.sum(Claim.assessed_cny), 0.0),
            func.coalesce(func.sum(Claim.paid_cny), 0.0),
        ).where(where)
    ).one()
    return ClaimFigures(
        total=sum(by.values()),
        by_status=[
            LevelCount(level=s.value, level_label=CLAIM_STATUS_LABELS[s], count=by.get(s.value, 0))
            for s in ClaimStatus
        ],
        open=sum(n for s, n in by.items() if s not in grid.CLAIM_FINAL),
        claimed_cny=round(float(sums[0] or 0.0), 2),
        assessed_cny=round(float(sums[1] or 0.0), 2),
        paid_cny=round(float(sums[2] or 0.0), 2),
    )


def complaint_figures(session: Session, where: ColumnElement[bool], day: date) -> ComplaintFigures:
    row = session.execute(
        select(
            func.count(),
            func.count().filter(Complaint.status == ComplaintStatus.OPEN.value),
            func.count().filter(grid.complaint_late_clause(day)),
        ).where(where)
    ).one()
    return ComplaintFigures(total=int(row[0]), open=int(row[1]), late=int(row[2]))


def overdue_list(session: Session, where: ColumnElement[bool], day: date) -> list[OverdueTask]:
    rows = list(
        session.scalars(
            select(ServiceTask)
            .join(ServicePlan, ServicePlan.id == ServiceTask.plan_id)
            .join(InsurancePolicy, InsurancePolicy.id == ServicePlan.policy_id)
            .where(_in_force(day), where, grid.overdue_clause(day))
            .order_by(ServiceTask.due_date, ServiceTask.id)
            .limit(LIST_MAX)
        )
    )
    ents = names(session, Enterprise, {r.enterprise_id for r in rows})
    insurers = names(session, Insurer, {r.insurer_id for r in rows})
    return [
        OverdueTask(
            id=r.id,
            enterprise_id=r.enterprise_id,
            enterprise_name=ents.get(r.enterprise_id, ""),
            insurer_name=insurers.get(r.insurer_id, ""),
            item_label=label(SERVICE_ITEM_LABELS, r.item),
            due_date=r.due_date,
            status_label=label(TASK_STATUS_LABELS, r.status),
        )
        for r in rows
    ]


def late_list(session: Session, where: ColumnElement[bool], day: date) -> list[LateComplaint]:
    rows = list(
        session.scalars(
            select(Complaint)
            .where(where, grid.complaint_late_clause(day))
            .order_by(Complaint.deadline, Complaint.id)
            .limit(LIST_MAX)
        )
    )
    ents = names(session, Enterprise, {r.enterprise_id for r in rows})
    insurers = names(session, Insurer, {r.insurer_id for r in rows})
    return [
        LateComplaint(
            id=r.id,
            enterprise_id=r.enterprise_id,
            enterprise_name=ents.get(r.enterprise_id, ""),
            insurer_name=insurers.get(r.insurer_id, ""),
            filed_date=r.filed_date,
            deadline=r.deadline,
            status_label=label(COMPLAINT_STATUS_LABELS, r.status),
        )
        for r in rows
    ]


def _levels(counts: dict[str, int]) -> list[LevelCount]:
    return [LevelCount(level=lv, level_label=RISK_LEVEL_LABELS[lv], count=counts.get(lv, 0)) for lv in LEVELS]


@router.get("/grid/overview", response_model=GridOverviewOut, responses=NOT_FOUND)
def grid_overview(
    session: SessionDep, config: ConfigDep, town_id: IdQuery = None, as_of: AsOf = None
) -> GridOverviewOut:
    """网格监管: the district's figures (or one 镇街's, ``town_id``) on ``as_of``: coverage by 镇街
    and industry, risk levels and their trend, services done vs due, overdue tasks, the
    rectification rate, claims, complaints past their deadline, and a row per enterprise."""
    tz = ZoneInfo(config.timezone)
    day = as_of or today_of(config)
    d = day.isoformat()
    town = session.get(Town, town_id) if town_id else None
    if town_id and town is None:
        raise NotFound(f"no town {town_id!r}")
    ents = list(
        session.scalars(
            select(Enterprise)
            .where(Enterprise.town_id == town_id if town_id else true())
            .order_by(Enterprise.name)
        )
    )
    ids = [e.id for e in ents]
    in_scope: Any = lambda col: col.in_(ids)  # noqa: E731
    policies = list(
        session.execute(
            select(
                InsurancePolicy.enterprise_id, InsurancePolicy.insured_headcount, InsurancePolicy.premium_cny
            ).where(_in_force(day), in_scope(InsurancePolicy.enterprise_id))
        )
    )
    insured: dict[str, tuple[int, float]] = {}
    for eid, head, premium in policies:  # a co-insured enterprise: its policies' sums
        h, p = insured.get(eid, (0, 0.0))
        insured[eid] = (h + head, p + premium)
    towns = names(session, Town, {e.town_id for e in ents if e.town_id})
    cells = names(session, GridCell, {e.grid_id for e in ents if e.grid_id})

    def coverage(key_of: Any, label_of: Any) -> list[CoverageRow]:
        rows: dict[str, CoverageRow] = {}
        for e in ents:
            key = key_of(e) or ""
            r = rows.setdefault(
                key,
                CoverageRow(
                    key=key, label=label_of(key), enterprises=0, insured=0, headcount=0, premium_cny=0.0
                ),
            )
            r.enterprises += 1
            if e.id in insured:
                r.insured += 1
                r.headcount += insured[e.id][0]
                r.premium_cny = round(r.premium_cny + insured[e.id][1], 2)
        return sorted(rows.values(), key=lambda r: (-r.enterprises, r.label))

    cur, cur_on = latest_score(Enterprise.id, d)
    level_of: dict[str, str | None] = dict(
        session.execute(
            select(Enterprise.id, cur.level).outerjoin(cur, cur_on).where(in_scope(Enterprise.id))
        ).all()
    )
    counts: dict[str, int] = {}
    for lv in level_of.values():
        if lv:
            counts[lv] = counts.get(lv, 0) + 1
    trend = []
    for k in range(TREND_WEEKS - 1, -1, -1):
        back = (day - timedelta(days=7 * k)).isoformat()
        by = dict(
            session.execute(
                select(RiskScore.level, func.count())
                .where(RiskScore.day == back, in_scope(RiskScore.enterprise_id))
                .group_by(RiskScore.level)
            ).all()
        )
        trend.append(TrendPoint(day=back, levels=_levels(by)))

    task_where = in_scope(ServiceTask.enterprise_id)
    per_task = {
        eid: (int(due), int(done), int(over))
        for eid, due, done, over in session.execute(
            select(
                ServiceTask.enterprise_id,
                func.count().filter(ServiceTask.due_date <= d),
                func.count().filter(ServiceTask.due_date <= d, ServiceTask.status.in_(grid.DONE_TASK)),
                func.count().filter(grid.overdue_clause(day)),
            )
            .join(ServicePlan, ServicePlan.id == ServiceTask.plan_id)
            .join(InsurancePolicy, InsurancePolicy.id == ServicePlan.policy_id)
            .where(_in_force(day), task_where)
            .group_by(ServiceTask.enterprise_id)
        )
    }
    end = _day_end_ms(day, tz)
    open_h = dict(
        session.execute(
            select(Hazard.enterprise_id, func.count())
            .where(
                Hazard.status != HazardStatus.CLOSED.value,
                Hazard.created_ms <= end,
                in_scope(Hazard.enterprise_id),
            )
            .group_by(Hazard.enterprise_id)
        ).all()
    )
    open_c = dict(
        session.execute(
            select(Claim.enterprise_id, func.count())
            .where(Claim.status.not_in(grid.CLAIM_FINAL), in_scope(Claim.enterprise_id))
            .group_by(Claim.enterprise_id)
        ).all()
    )
    late_c = dict(
        session.execute(
            select(Complaint.enterprise_id, func.count())
            .where(grid.complaint_late_clause(day), in_scope(Complaint.enterprise_id))
            .group_by(Complaint.enterprise_id)
        ).all()
    )
    rows = [
        EnterpriseRow(
            enterprise_id=e.id,
            name=e.name,
            town_name=towns.get(e.town_id, ""),
            grid_name=cells.get(e.grid_id, ""),
            industry_label=label(INDUSTRY_LABELS, e.industry),
            insured=e.id in insured,
            level=level_of.get(e.id),
            level_label=RISK_LEVEL_LABELS.get(level_of.get(e.id) or ""),
            tasks_due=per_task.get(e.id, (0, 0, 0))[0],
            tasks_done=per_task.get(e.id, (0, 0, 0))[1],
            tasks_overdue=per_task.get(e.id, (0, 0, 0))[2],
            open_hazards=open_h.get(e.id, 0),
            open_claims=open_c.get(e.id, 0),
            late_complaints=late_c.get(e.id, 0),
        )
        for e in ents
    ]
    n_insured = len(insured)
    return GridOverviewOut(
        as_of=d,
        town_id=town_id,
        town_name=town.name if town else None,
        enterprises=len(ents),
        insured=n_insured,
        coverage=round(n_insured / len(ents), 4) if ents else None,
        headcount=sum(h for h, _ in insured.values()),
        premium_cny=round(sum(p for _, p in insured.values()), 2),
        by_town=coverage(lambda e: e.town_id, lambda k: towns.get(k, "未划分镇街")),
        by_industry=coverage(lambda e: e.industry, lambda k: label(INDUSTRY_LABELS, k)),
        levels=_levels(counts),
        unscored=len(ents) - sum(counts.values()),
        trend=trend,
        services=service_figures(session, task_where, day),
        hazards=hazard_figures(session, in_scope(Hazard.enterprise_id), day, tz),
        claims=claim_figures(session, in_scope(Claim.enterprise_id)),
        complaints=complaint_figures(session, in_scope(Complaint.enterprise_id), day),
        overdue_tasks=overdue_list(session, task_where, day),
        late_complaints=late_list(session, in_scope(Complaint.enterprise_id), day),
        rows=rows,
    )


@router.get("/grid/insurer", response_model=InsurerOut, responses=NOT_FOUND)
def insurer_obligations(
    session: SessionDep, config: ConfigDep, user: CurrentUser, insurer_id: IdQuery = None, as_of: AsOf = None
) -> InsurerOut:
    """服务履约: an insurer's policies in force, its service obligations (by item, done vs due,
    overdue), claims and complaints against it; an insurer sees its own only, the government and
    the admin any insurer's (``insurer_id``) or all of them."""
    if user.role is Role.INSURER:
        if insurer_id is not None and insurer_id != user.insurer_id:
            raise NotFound(f"no insurer {insurer_id!r}")
        insurer_id = user.insurer_id or "-"
    elif insurer_id is not None and session.get(Insurer, insurer_id) is None:
        raise NotFound(f"no insurer {insurer_id!r}")
    day = as_of or today_of(config)
    d = day.isoformat()

    def mine(col: Any) -> ColumnElement[bool]:
        return col == insurer_id if insurer_id is not None else true()

    pol = session.execute(
        select(
            func.count(),
            func.count(func.distinct(InsurancePolicy.enterprise_id)),
            func.coalesce(func.sum(InsurancePolicy.insured_headcount), 0),
            func.coalesce(func.sum(InsurancePolicy.premium_cny), 0.0),
        ).where(_in_force(day), mine(InsurancePolicy.insurer_id))
    ).one()
    plans = (
        session.scalar(
            select(func.count())
            .select_from(ServicePlan)
            .join(InsurancePolicy, InsurancePolicy.id == ServicePlan.policy_id)
            .where(_in_force(day), mine(InsurancePolicy.insurer_id))
        )
        or 0
    )
    by = {
        item: (int(due), int(done), int(over))
        for item, due, done, over in session.execute(
            select(
                ServiceTask.item,
                func.count().filter(ServiceTask.due_date <= d),
                func.count().filter(ServiceTask.due_date <= d, ServiceTask.status.in_(grid.DONE_TASK)),
                func.count().filter(grid.overdue_clause(day)),
            )
            .join(ServicePlan, ServicePlan.id == ServiceTask.plan_id)
            .join(InsurancePolicy, InsurancePolicy.id == ServicePlan.policy_id)
            .where(_in_force(day), mine(ServiceTask.insurer_id))
            .group_by(ServiceTask.item)
        )
    }
    by_item = [
        ItemFigures(
            item=i.value,
            item_label=SERVICE_ITEM_LABELS[i],
            due=by[i.value][0],
            done_of_due=by[i.value][1],
            overdue=by[i.value][2],
        )
        for i in ServiceItem
        if i.value in by
    ]
    return InsurerOut(
        as_of=d,
        insurer_id=insurer_id if insurer_id != "-" else None,
        insurer_name=names(session, Insurer, {insurer_id}).get(insurer_id) if insurer_id else None,
        policies=int(pol[0]),
        enterprises=int(pol[1]),
        headcount=int(pol[2]),
        premium_cny=round(float(pol[3]), 2),
        plans=int(plans),
        without_plan=int(pol[0]) - int(plans),
        services=service_figures(session, mine(ServiceTask.insurer_id), day),
        by_item=by_item,
        claims=claim_figures(session, mine(Claim.insurer_id)),
        complaints=complaint_figures(session, mine(Complaint.insurer_id), day),
        overdue_tasks=overdue_list(session, mine(ServiceTask.insurer_id), day),
        late_complaints=late_list(session, mine(Complaint.insurer_id), day),
    )
