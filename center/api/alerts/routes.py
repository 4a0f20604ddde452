"""Alerts: the list, one alert, CSV export, false-alarm statistics, and the operator's verdict."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Query, Request
from fastapi.responses import StreamingResponse

from center.api.alerts import service
from center.api.alerts.schemas import (
    AlertChanges,
    AlertOut,
    AlertPage,
    AlertQuery,
    AlertWindow,
    DismissIn,
    EscalateIn,
    PrecisionOut,
)
from center.api.alerts.service import AlertFilter
from center.api.deps import NOT_FOUND, ConfigDep, conflict, make_router, scope_of, time_window
from center.api.export import csv_response, csv_responses
from center.api.hazards.schemas import HazardOut
from center.api.hazards.service import hazards_out
from center.auth.audit import audit
from center.auth.deps import CurrentUser, SessionDep
from center.auth.policy import Principal
from center.domain import workflow
from center.domain.errors import NotFound
from center.domain.vocabulary import HazardLevel
from center.store.models import Alert

router = make_router("alerts")

EventId = Annotated[str, Path(description="the alert's event id (a UUID)")]
CONFLICT = conflict("alert")
ALERT_CSV_HEADER = [
    *("event_id", "started_at", "ended_at", "enterprise", "camera", "node", "rule_id", "rule_type"),
    *("rule_name", "severity", "count", "score", "status", "status_label", "dismiss_reason", "hazard_id"),
    *("enterprise_name", "camera_name", "node_name"),
]


def _filter(query: AlertWindow, session: SessionDep, config: ConfigDep, user: Principal) -> AlertFilter:
    since_ms, until_ms = time_window(config, query.since, query.until)
    return AlertFilter.of(query, since_ms, until_ms, scope_of(session, user, config))


CURSOR_PATTERN = r"^[0-9]{1,15}\.[A-Za-z0-9_.\-]{1,64}$"
Cursor = Annotated[
    str | None,
    Query(
        pattern=CURSOR_PATTERN,
        max_length=81,
        description="the previous page's ``next_cursor`` (``<started ms>.<event id>``): the page after it",
    ),
]
After = Annotated[
    str,
    Query(
        pattern=CURSOR_PATTERN,
        max_length=81,
        description="``<updated ms>.<event id>`` of the last change seen (``0.0`` for all): changes after it",
    ),
]


@router.get("/alerts", response_model=AlertPage)
def list_alerts(
    query: Annotated[AlertQuery, Query()],
    session: SessionDep,
    config: ConfigDep,
    user: CurrentUser,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
    cursor: Cursor = None,
) -> AlertPage:
    """Alerts the caller may see, newest first (by start time). Page with ``cursor`` (the
    previous page's ``next_cursor``; steady while alerts arrive) or with ``offset``."""
    f = _filter(query, session, config, user)
    after = service.parse_cursor(cursor) if cursor else None
    rows = service.list_alerts(session, f, limit=limit, offset=offset, cursor=after)
    last = rows[-1] if len(rows) == limit else None
    return AlertPage(
        items=service.alerts_out(session, rows),
        total=service.count_alerts(session, f),
        limit=limit,
        offset=offset,
        next_cursor=f"{last.started_ms}.{last.event_id}" if last is not None else None,
    )


@router.get("/alerts/changes", response_model=AlertChanges)
def alert_changes(
    query: Annotated[AlertQuery, Query()],
    session: SessionDep,
    config: ConfigDep,
    user: CurrentUser,
    after: After,
    limit: Annotated[int, Query(ge=1, le=1000)] = 500,
) -> AlertChanges:
    """Alerts changed (new, updated, handled) after ``after``, oldest change first, with the same
    filters as the list: what a console missed while its live feed was down. Continue from
    ``next_after`` while ``more``."""
    f = _filter(query, session, config, user)
    start = service.parse_cursor(after)
    rows = service.list_changes(session, f, start, limit + 1)
    more = len(rows) > limit
    rows = rows[:limit]
    last = f"{rows[-1].updated_ms}.{rows[-1].event_id}" if rows else after
    return AlertChanges(items=service.alerts_out(session, rows), next_after=last, more=more)


@router.get("/alerts/export.csv", response_class=StreamingResponse, responses=csv_responses("alert"))
def export_alerts(
    query: Annotated[AlertQuery, Query()],
    session: SessionDep,
    config: ConfigDep,
    user: CurrentUser,
    limit: Annotated[int, Query(ge=1, le=100_000)] = 10_000,
) -> StreamingResponse:
    """The same filters as the list, as CSV."""
    f = _filter(query, session, config, user)
    rows = []
    for a in service.alerts_out(session, service.list_alerts(session, f, limit=limit, offset=0)):
        rows.append(
            [
                *(a.event_id, a.started_at, a.ended_at or "", a.enterprise or "", a.camera, a.node),
                *(a.rule_id, a.rule_type, a.rule_name, a.severity, a.count, f"{a.score:.2f}", a.status),
                *(a.status_label, a.dismiss_reason or "", a.hazard_id or ""),
                *(a.enterprise_name or "", a.camera_name or "", a.node_name or ""),
            ]
        )
    return csv_response("alerts.csv", ALERT_CSV_HEADER, rows)


@router.get("/alerts/precision", response_model=PrecisionOut)
def alert_precision(
    query: Annotated[AlertWindow, Query()], session: SessionDep, config: ConfigDep, user: CurrentUser
) -> PrecisionOut:
    """How many alerts were confirmed and how many dismissed as false alarms, per rule and per camera."""
    return service.precision(session, _filter(query, session, config, user))


def _visible(session: SessionDep, config: ConfigDep, user: CurrentUser, event_id: str) -> Alert:
    row = session.get(Alert, event_id[:64])
    if row is None or not user.may_see(session, row.enterprise, config.timezone):
        raise NotFound(f"no alert with event_id {event_id[:64]!r}")
    return row


def _published(request: Request, session: SessionDep, row: Alert) -> AlertOut:
    """Tell the live feed about the verdict, so every console shows it."""
    out = service.alert_out(session, row)
    request.app.state.hub.publish_alert_threadsafe(out.model_dump(mode="json"))
    fanout = request.app.state.fanout
    if fanout is not None:  # the consoles on the other replicas
        fanout.tell(session, [row.event_id])
        session.commit()
    return out


@router.get("/alerts/{event_id}", response_model=AlertOut, responses=NOT_FOUND)
def get_alert(event_id: EventId, session: SessionDep, config: ConfigDep, user: CurrentUser) -> AlertOut:
    return service.alert_out(session, _visible(session, config, user, event_id))


@router.post("/alerts/{event_id}/acknowledge", response_model=AlertOut, responses={**NOT_FOUND, **CONFLICT})
def acknowledge_alert(
    event_id: EventId, session: SessionDep, user: CurrentUser, request: Request
) -> AlertOut:
    """确认: the alert is real and seen (saying it twice changes nothing)."""
    row = workflow.acknowledge(session, event_id, user.username)
    audit(session, user, "acknowledge_alert", f"alert:{row.event_id}")
    session.commit()
    return _published(request, session, row)


@router.post("/alerts/{event_id}/dismiss", response_model=AlertOut, responses={**NOT_FOUND, **CONFLICT})
def dismiss_alert(
    event_id: EventId, body: DismissIn, session: SessionDep, user: CurrentUser, request: Request
) -> AlertOut:
    """误报: a false alarm, with the reason; it is kept and counted per rule and camera."""
    row = workflow.dismiss(session, event_id, user.username, body.reason)
    audit(session, user, "dismiss_alert", f"alert:{row.event_id}", {"reason": body.reason})
    session.commit()
    return _published(request, session, row)


@router.post(
    "/alerts/{event_id}/escalate",
    response_model=HazardOut,
    status_code=201,
    responses={**NOT_FOUND, **CONFLICT},
)
def escalate_alert(
    event_id: EventId, body: EscalateIn, session: SessionDep, user: CurrentUser, request: Request
) -> HazardOut:
    """转隐患: the alert becomes a hazard of its enterprise, its snapshots the 'before' evidence."""
    alert, hazard = workflow.escalate(
        session,
        event_id,
        user.username,
        level=HazardLevel(body.level),
        deadline_ms=workflow.deadline_in(body.deadline_days),
        title=body.title,
        description=body.description,
        assignee=body.assignee,
    )
    audit(session, user, "escalate_alert", f"alert:{event_id[:64]}", {"hazard": hazard.code})
    session.commit()
    _published(request, session, alert)
    return hazards_out(session, [hazard])[0]  # with its enterprise's and camera's names
