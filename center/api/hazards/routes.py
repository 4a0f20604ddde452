"""Hazards (隐患) and their rectification loop 待整改 → 整改中 → 待复核 → 已销号."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import Path, Query
from fastapi.responses import StreamingResponse
from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from center.api.deps import (
    NOT_FOUND,
    ConfigDep,
    Limit,
    Offset,
    conflict,
    count_of,
    make_router,
    scope_of,
    time_window,
)
from center.api.export import csv_response, csv_responses
from center.api.hazards.schemas import (
    HazardIn,
    HazardOut,
    HazardPatch,
    HazardQuery,
    HazardStepOut,
    RejectIn,
    StepIn,
    SubmitIn,
)
from center.api.hazards.service import display_names, hazards_out
from center.api.schemas import Page
from center.auth.audit import audit
from center.auth.deps import CurrentUser, SessionDep
from center.auth.policy import Principal
from center.config import CenterConfig
from center.domain import workflow
from center.domain.errors import NotFound, StateConflict
from center.domain.vocabulary import HazardLevel, HazardSource, HazardStatus, Role
from center.store.models import Hazard
from protocol import now_ms

router = make_router("hazards")

HazardId = Annotated[int, Path(ge=1, le=2**31 - 1, description="the hazard's number")]
CONFLICT = conflict("hazard")
HAZARD_CSV_HEADER = [
    *("id", "code", "enterprise_id", "title", "level", "level_label", "source", "status", "status_label"),
    *("deadline_at", "overdue", "assignee", "camera_id", "alert_id", "created_at", "rectified_at"),
    *("closed_at", "enterprise_name", "camera_name"),
]


def _with_history(session: Session, h: Hazard) -> HazardOut:
    out = hazards_out(session, [h])[0]
    steps = workflow.hazard_history(session, h.id)
    people = display_names(session, {s.actor for s in steps})
    out.history = [HazardStepOut.model_validate(s) for s in steps]
    for step in out.history:
        step.actor_name = people.get(step.actor)
    return out


def _visible(
    session: Session, config: CenterConfig, user: Principal, hazard_id: int, lock: bool = False
) -> Hazard:
    row = workflow.get_hazard(session, hazard_id, lock=lock)
    if not user.may_see(session, row.enterprise_id, config.timezone):
        raise NotFound(f"no hazard {hazard_id}")
    return row


def _stmt(session: Session, config: CenterConfig, user: Principal, q: HazardQuery) -> Select[Hazard]:
    stmt = select(Hazard)
    scope = scope_of(session, user, config)
    if scope is not None:
        stmt = stmt.where(Hazard.enterprise_id.in_(sorted(scope)))
    wanted = q.model_dump(mode="json")  # the enums as stored
    for column in (Hazard.enterprise_id, Hazard.status, Hazard.level, Hazard.source):
        if wanted[column.key] is not None:
            stmt = stmt.where(column == wanted[column.key])
    if q.overdue is not None:
        stmt = stmt.where(workflow.overdue_clause(q.overdue, now_ms()))
    if q.assignee:
        stmt = stmt.where(Hazard.assignee == q.assignee)
    after, before = time_window(
        config, q.deadline_after, q.deadline_before, ("deadline_after", "deadline_before")
    )
    if after is not None:
        stmt = stmt.where(Hazard.deadline_ms >= after)
    if before is not None:
        stmt = stmt.where(Hazard.deadline_ms < before)
    return stmt


@router.get("/hazards", response_model=Page[HazardOut])
def list_hazards(
    query: Annotated[HazardQuery, Query()],
    session: SessionDep,
    config: ConfigDep,
    user: CurrentUser,
    limit: Limit = 100,
    offset: Offset = 0,
) -> Page[HazardOut]:
    """Hazards the caller may see, the nearest deadline first."""
    stmt = _stmt(session, config, user, query)
    rows = session.scalars(stmt.order_by(Hazard.deadline_ms, Hazard.id).limit(limit).offset(offset))
    return Page(
        items=hazards_out(session, list(rows)),
        total=count_of(session, stmt),
        limit=limit,
        offset=offset,
    )


@router.get("/hazards/export.csv", response_class=StreamingResponse, responses=csv_responses("hazard"))
def export_hazards(
    query: Annotated[HazardQuery, Query()], session: SessionDep, config: ConfigDep, user: CurrentUser
) -> StreamingResponse:
    stmt = _stmt(session, config, user, query)
    rows = []
    for o in hazards_out(session, list(session.scalars(stmt.order_by(Hazard.id).limit(100_000)))):
        rows.append(
            [
                *(o.id, o.code, o.enterprise_id, o.title, o.level, o.level_label, o.source, o.status),
                *(o.status_label, o.deadline_at, "yes" if o.overdue else "no", o.assignee, o.camera_id or ""),
                *(o.alert_id or "", o.created_at, o.rectified_at or "", o.closed_at or ""),
                *(o.enterprise_name or "", o.camera_name or ""),
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
        deadline_ms=workflow.deadline_in(body.deadline_days),
        assignee=body.assignee,
        camera_id=body.camera_id,
        before_evidence=body.before_evidence,
        service_id=body.service_id,
    )
    audit(session, user, "create_hazard", f"hazard:{hazard.code}", {"enterprise_id": hazard.enterprise_id})
    session.commit()
    return _with_history(session, hazard)


@router.get("/hazards/{hazard_id}", response_model=HazardOut, responses=NOT_FOUND)
def get_hazard(hazard_id: HazardId, session: SessionDep, config: ConfigDep, user: CurrentUser) -> HazardOut:
    """One hazard with its history (every step, who took it and why)."""
    return _with_history(session, _visible(session, config, user, hazard_id))


@router.patch("/hazards/{hazard_id}", response_model=HazardOut, responses={**NOT_FOUND, **CONFLICT})
def update_hazard(
    hazard_id: HazardId, body: HazardPatch, session: SessionDep, config: ConfigDep, user: CurrentUser
) -> HazardOut:
    """Assign, re-title, re-level or move the deadline of an open hazard."""
    h = _visible(session, config, user, hazard_id, lock=True)
    if h.status == HazardStatus.CLOSED:
        raise StateConflict("hazard is closed (已销号); it cannot be changed")
    changes = body.model_dump(exclude_unset=True, exclude_none=True)
    for key in ("title", "description", "level", "assignee"):
        if key in changes:
            setattr(h, key, changes[key])
    if "deadline_days" in changes:
        h.deadline_ms = workflow.deadline_in(changes["deadline_days"])
    h.updated_ms = now_ms()
    audit(session, user, "update_hazard", f"hazard:{h.code}", changes)
    session.commit()
    return _with_history(session, h)


def _step(
    session: Session,
    config: CenterConfig,
    user: Principal,
    hazard_id: int,
    action: str,
    take: Callable[[Hazard], object],
    detail: dict[str, Any] | None = None,
    own: bool = False,
) -> HazardOut:
    """One step of the loop on a visible hazard (locked): take it, audit it, commit."""
    h = _visible(session, config, user, hazard_id, lock=True)
    if own and user.role is Role.ENTERPRISE and h.enterprise_id != user.enterprise_id:  # may_see covers it
        raise NotFound(f"no hazard {h.id}")
    take(h)
    audit(session, user, action, f"hazard:{h.code}", detail)
    session.commit()
    return _with_history(session, h)


@router.post("/hazards/{hazard_id}/start", response_model=HazardOut, responses={**NOT_FOUND, **CONFLICT})
def start_hazard(
    hazard_id: HazardId, body: StepIn, session: SessionDep, config: ConfigDep, user: CurrentUser
) -> HazardOut:
    """待整改 → 整改中: the enterprise starts the rectification."""

    def take(h: Hazard) -> Hazard:
        return workflow.start(session, h, user.username, body.note)

    return _step(session, config, user, hazard_id, "start_hazard", take, own=True)


@router.post("/hazards/{hazard_id}/submit", response_model=HazardOut, responses={**NOT_FOUND, **CONFLICT})
def submit_hazard(
    hazard_id: HazardId, body: SubmitIn, session: SessionDep, config: ConfigDep, user: CurrentUser
) -> HazardOut:
    """整改中 → 待复核: what was done and the 'after' photos (upload them first with PUT /api/evidence)."""

    def take(h: Hazard) -> Hazard:
        return workflow.submit(session, h, user.username, body.rectification, body.after_evidence)

    detail = {"after_evidence": body.after_evidence}
    return _step(session, config, user, hazard_id, "submit_hazard", take, detail, own=True)


@router.post("/hazards/{hazard_id}/approve", response_model=HazardOut, responses={**NOT_FOUND, **CONFLICT})
def approve_hazard(
    hazard_id: HazardId, body: StepIn, session: SessionDep, config: ConfigDep, user: CurrentUser
) -> HazardOut:
    """待复核 → 已销号: the review accepts the rectification and closes the hazard."""

    def take(h: Hazard) -> Hazard:
        return workflow.approve(session, h, user.username, body.note)

    return _step(session, config, user, hazard_id, "approve_hazard", take, {"note": body.note})


@router.post("/hazards/{hazard_id}/reject", response_model=HazardOut, responses={**NOT_FOUND, **CONFLICT})
def reject_hazard(
    hazard_id: HazardId, body: RejectIn, session: SessionDep, config: ConfigDep, user: CurrentUser
) -> HazardOut:
    """待复核 → 整改中: the review sends it back, with the reason."""

    def take(h: Hazard) -> Hazard:
        return workflow.reject(session, h, user.username, body.note)

    return _step(session, config, user, hazard_id, "reject_hazard", take, {"note": body.note})
