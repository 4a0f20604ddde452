"""Hazards (隐患) and their rectification loop 待整改 → 整改中 → 待复核 → 已销号."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import Path, Query
from fastapi.responses import StreamingResponse
from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from center import workflow
from center.errors import NotFound
from center.models import Hazard
from center.policy import Principal, Role, audit
from center.routes.deps import (
    NOT_FOUND,
    ConfigDep,
    CurrentUser,
    IdQuery,
    Limit,
    Offset,
    SessionDep,
    count_of,
    csv_response,
    make_router,
    scope_of,
)
from center.schemas import (
    HazardIn,
    HazardOut,
    HazardPatch,
    HazardStepOut,
    Page,
    RejectIn,
    StepIn,
    SubmitIn,
    iso_utc,
)
from center.workflow import HAZARD_LEVEL_LABELS, HAZARD_STATUS_LABELS, HazardLevel, HazardSource, HazardStatus
from protocol import now_ms

router = make_router("hazards")

HazardId = Annotated[int, Path(ge=1, le=2**31 - 1, description="the hazard's number")]
CONFLICT = {409: {"description": "the hazard's status does not allow it (the reason is in detail)"}}
DAY_MS = 86_400_000


def hazard_out(h: Hazard, history: list[HazardStepOut] | None = None) -> HazardOut:
    return HazardOut(
        id=h.id,
        code=h.code,
        enterprise_id=h.enterprise_id,
        camera_id=h.camera_id,
        alert_id=h.alert_id,
        title=h.title,
        description=h.description,
        level=h.level,
        level_label=HAZARD_LEVEL_LABELS.get(h.level, h.level),
        source=h.source,
        status=h.status,
        status_label=HAZARD_STATUS_LABELS.get(h.status, h.status),
        deadline_ms=h.deadline_ms,
        deadline_at=iso_utc(h.deadline_ms) or "",
        overdue=workflow.is_overdue(h),
        assignee=h.assignee,
        before_evidence=list(h.before_evidence),
        after_evidence=list(h.after_evidence),
        rectification=h.rectification,
        review_note=h.review_note,
        created_by=h.created_by,
        created_at=iso_utc(h.created_ms) or "",
        updated_at=iso_utc(h.updated_ms) or "",
        rectified_at=iso_utc(h.rectified_ms),
        closed_at=iso_utc(h.closed_ms),
        history=history,
    )


def _history(session: Session, h: Hazard) -> list[HazardStepOut]:
    return [
        HazardStepOut(
            at=iso_utc(s.ts_ms) or "",
            actor=s.actor,
            action=s.action,
            from_status=s.from_status,
            to_status=s.to_status,
            note=s.note,
        )
        for s in workflow.hazard_history(session, h.id)
    ]


def _visible(
    session: Session, config: ConfigDep, user: Principal, hazard_id: int, lock: bool = False
) -> Hazard:
    row = workflow.get_hazard(session, hazard_id, lock=lock)
    if not user.may_see(session, row.enterprise_id, config.timezone):
        raise NotFound(f"no hazard {hazard_id}")
    return row


def _stmt(
    session: Session,
    config: ConfigDep,
    user: Principal,
    enterprise_id: str | None,
    status: HazardStatus | None,
    level: str | None,
    source: HazardSource | None,
    overdue: bool | None,
) -> Select[tuple[Hazard]]:
    stmt = select(Hazard)
    scope = scope_of(session, user, config)
    if scope is not None:
        stmt = stmt.where(Hazard.enterprise_id.in_(sorted(scope)))
    if enterprise_id is not None:
        stmt = stmt.where(Hazard.enterprise_id == enterprise_id)
    if status is not None:
        stmt = stmt.where(Hazard.status == status.value)
    if level is not None:
        stmt = stmt.where(Hazard.level == level)
    if source is not None:
        stmt = stmt.where(Hazard.source == source.value)
    now = now_ms()
    if overdue is True:
        stmt = stmt.where(
            ((Hazard.status != "closed") & (Hazard.deadline_ms < now))
            | ((Hazard.status == "closed") & (Hazard.closed_ms > Hazard.deadline_ms))
        )
    elif overdue is False:
        stmt = stmt.where(
            ((Hazard.status != "closed") & (Hazard.deadline_ms >= now))
            | ((Hazard.status == "closed") & (Hazard.closed_ms <= Hazard.deadline_ms))
        )
    return stmt


Level = Annotated[Literal["general", "major"] | None, Query()]
Overdue = Annotated[bool | None, Query(description="true: open past the deadline, or closed after it")]


@router.get("/hazards", response_model=Page[HazardOut])
def list_hazards(
    session: SessionDep,
    config: ConfigDep,
    user: CurrentUser,
    enterprise_id: IdQuery = None,
    status: HazardStatus | None = None,
    level: Level = None,
    source: HazardSource | None = None,
    overdue: Overdue = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> Page[HazardOut]:
    """Hazards the caller may see, the nearest deadline first."""
    stmt = _stmt(session, config, user, enterprise_id, status, level, source, overdue)
    rows = session.scalars(stmt.order_by(Hazard.deadline_ms, Hazard.id).limit(limit).offset(offset))
    return Page(
        items=[hazard_out(h) for h in rows], total=count_of(session, stmt), limit=limit, offset=offset
    )


HAZARD_CSV_HEADER = [
    *("id", "code", "enterprise_id", "title", "level", "level_label", "source", "status", "status_label"),
    *(
        "deadline_at",
        "overdue",
        "assignee",
        "camera_id",
        "alert_id",
        "created_at",
        "rectified_at",
        "closed_at",
    ),
]


@router.get(
    "/hazards/export.csv",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/csv": {}}, "description": "CSV (UTF-8 with BOM), one hazard a row"}},
)
def export_hazards(
    session: SessionDep,
    config: ConfigDep,
    user: CurrentUser,
    enterprise_id: IdQuery = None,
    status: HazardStatus | None = None,
    level: Level = None,
    source: HazardSource | None = None,
    overdue: Overdue = None,
) -> StreamingResponse:
    stmt = _stmt(session, config, user, enterprise_id, status, level, source, overdue)
    rows = []
    for h in session.scalars(stmt.order_by(Hazard.id).limit(100_000)):
        o = hazard_out(h)
        rows.append(
            [
                o.id,
                o.code,
                o.enterprise_id,
                o.title,
                o.level,
                o.level_label,
                o.source,
                o.status,
                o.status_label,
                o.deadline_at,
                "yes" if o.overdue else "no",
                o.assignee,
                o.camera_id or "",
                o.alert_id or "",
                o.created_at,
                o.rectified_at or "",
                o.closed_at or "",
            ]
        )
    return csv_response("hazards.csv", HAZARD_CSV_HEADER, rows)


@router.post("/hazards", response_model=HazardOut, status_code=201)
def create_hazard(body: HazardIn, session: SessionDep, user: CurrentUser) -> HazardOut:
    """A hazard found by inspection (排查); AI hazards come from escalating an alert."""
    hazard = workflow.create_hazard(
        session,
        user.username,
        enterprise_id=body.enterprise_id,
        title=body.title,
        description=body.description,
        level=HazardLevel(body.level),
        source=HazardSource.INSPECTION,
        deadline_ms=now_ms() + body.deadline_days * DAY_MS,
        assignee=body.assignee,
        camera_id=body.camera_id,
        before_evidence=body.before_evidence,
    )
    audit(session, user, "create_hazard", f"hazard:{hazard.code}", {"enterprise_id": hazard.enterprise_id})
    session.commit()
    return hazard_out(hazard, _history(session, hazard))


@router.get("/hazards/{hazard_id}", response_model=HazardOut, responses=NOT_FOUND)
def get_hazard(hazard_id: HazardId, session: SessionDep, config: ConfigDep, user: CurrentUser) -> HazardOut:
    """One hazard with its history (every step, who took it and why)."""
    h = _visible(session, config, user, hazard_id)
    return hazard_out(h, _history(session, h))


@router.patch("/hazards/{hazard_id}", response_model=HazardOut, responses={**NOT_FOUND, **CONFLICT})
def update_hazard(
    hazard_id: HazardId, body: HazardPatch, session: SessionDep, config: ConfigDep, user: CurrentUser
) -> HazardOut:
    """Assign, re-title, re-level or move the deadline of an open hazard."""
    h = _visible(session, config, user, hazard_id, lock=True)
    if h.status == HazardStatus.CLOSED:
        raise workflow.StateConflict("hazard is closed (已销号); it cannot be changed")
    changes = body.model_dump(exclude_unset=True, exclude_none=True)
    for key in ("title", "description", "level", "assignee"):
        if key in changes:
            setattr(h, key, changes[key])
    if "deadline_days" in changes:
        h.deadline_ms = now_ms() + changes["deadline_days"] * DAY_MS
    h.updated_ms = now_ms()
    audit(session, user, "update_hazard", f"hazard:{h.code}", changes)
    session.commit()
    return hazard_out(h, _history(session, h))


def _own(user: Principal, h: Hazard) -> None:
    if user.role is Role.ENTERPRISE and h.enterprise_id != user.enterprise_id:  # may_see covers it; belt
        raise NotFound(f"no hazard {h.id}")


@router.post("/hazards/{hazard_id}/start", response_model=HazardOut, responses={**NOT_FOUND, **CONFLICT})
def start_hazard(
    hazard_id: HazardId, body: StepIn, session: SessionDep, config: ConfigDep, user: CurrentUser
) -> HazardOut:
    """待整改 → 整改中: the enterprise starts the rectification."""
    h = _visible(session, config, user, hazard_id, lock=True)
    _own(user, h)
    workflow.start(session, h, user.username, body.note)
    audit(session, user, "start_hazard", f"hazard:{h.code}")
    session.commit()
    return hazard_out(h, _history(session, h))


@router.post("/hazards/{hazard_id}/submit", response_model=HazardOut, responses={**NOT_FOUND, **CONFLICT})
def submit_hazard(
    hazard_id: HazardId, body: SubmitIn, session: SessionDep, config: ConfigDep, user: CurrentUser
) -> HazardOut:
    """整改中 → 待复核: what was done and the 'after' photos (upload them first with PUT /api/evidence)."""
    h = _visible(session, config, user, hazard_id, lock=True)
    _own(user, h)
    workflow.submit(session, h, user.username, body.rectification, body.after_evidence)
    audit(session, user, "submit_hazard", f"hazard:{h.code}", {"after_evidence": body.after_evidence})
    session.commit()
    return hazard_out(h, _history(session, h))


@router.post("/hazards/{hazard_id}/approve", response_model=HazardOut, responses={**NOT_FOUND, **CONFLICT})
def approve_hazard(
    hazard_id: HazardId, body: StepIn, session: SessionDep, config: ConfigDep, user: CurrentUser
) -> HazardOut:
    """待复核 → 已销号: the review accepts the rectification and closes the hazard."""
    h = _visible(session, config, user, hazard_id, lock=True)
    workflow.approve(session, h, user.username, body.note)
    audit(session, user, "approve_hazard", f"hazard:{h.code}", {"note": body.note})
    session.commit()
    return hazard_out(h, _history(session, h))


@router.post("/hazards/{hazard_id}/reject", response_model=HazardOut, responses={**NOT_FOUND, **CONFLICT})
def reject_hazard(
    hazard_id: HazardId, body: RejectIn, session: SessionDep, config: ConfigDep, user: CurrentUser
) -> HazardOut:
    """待复核 → 整改中: the review sends it back, with the reason."""
    h = _visible(session, config, user, hazard_id, lock=True)
    workflow.reject(session, h, user.username, body.note)
    audit(session, user, "reject_hazard", f"hazard:{h.code}", {"note": body.note})
    session.commit()
    return hazard_out(h, _history(session, h))
