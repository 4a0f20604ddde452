"""Alerts: the list, one alert, CSV export, false-alarm statistics, and the operator's verdict."""

from __future__ import annotations

from collections import Counter
from typing import Annotated

from fastapi import Path, Query, Request
from fastapi.responses import StreamingResponse
from sqlalchemy import select

from center import crud, workflow
from center.errors import NotFound
from center.models import Alert
from center.policy import audit
from center.routes.deps import (
    NOT_FOUND,
    TIME_HELP,
    ConfigDep,
    CurrentUser,
    IdQuery,
    SessionDep,
    csv_response,
    make_router,
    scope_of,
    time_window,
)
from center.routes.hazards import hazard_out
from center.schemas import (
    AlertOut,
    AlertPage,
    DismissIn,
    EscalateIn,
    HazardOut,
    PrecisionOut,
    PrecisionRow,
    iso_utc,
)
from center.workflow import ALERT_STATUS_LABELS, AlertStatus, HazardLevel
from protocol import RuleType, Severity, now_ms

router = make_router("alerts")

EventId = Annotated[str, Path(description="the alert's event id (a UUID)")]
Since = Annotated[str | None, Query(max_length=64, description="alerts started at or after; " + TIME_HELP)]
Until = Annotated[str | None, Query(max_length=64, description="alerts started before; " + TIME_HELP)]
ALERT_CSV_HEADER = [
    *(
        "event_id",
        "started_at",
        "ended_at",
        "enterprise",
        "camera",
        "node",
        "rule_id",
        "rule_type",
        "rule_name",
    ),
    *("severity", "count", "score", "status", "status_label", "dismiss_reason", "hazard_id"),
]
CONFLICT = {409: {"description": "the alert's status does not allow it (the reason is in detail)"}}


def _filter(
    session: SessionDep,
    config: ConfigDep,
    user: CurrentUser,
    camera: str | None,
    node: str | None,
    rule_type: RuleType | None,
    since: str | None,
    until: str | None,
    enterprise_id: str | None,
    severity: Severity | None,
    status: AlertStatus | None,
) -> crud.AlertFilter:
    since_ms, until_ms = time_window(config, since, until)
    return crud.AlertFilter(
        camera=camera,
        node=node,
        rule_type=rule_type.value if rule_type else None,
        since_ms=since_ms,
        until_ms=until_ms,
        enterprise=enterprise_id,
        severity=severity.value if severity else None,
        status=status.value if status else None,
        scope=scope_of(session, user, config),
    )


@router.get("/alerts", response_model=AlertPage)
def list_alerts(
    session: SessionDep,
    config: ConfigDep,
    user: CurrentUser,
    camera: IdQuery = None,
    node: IdQuery = None,
    rule_type: RuleType | None = None,
    since: Since = None,
    until: Until = None,
    enterprise_id: IdQuery = None,
    severity: Severity | None = None,
    status: AlertStatus | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> AlertPage:
    """Alerts the caller may see, newest first (by start time)."""
    f = _filter(session, config, user, camera, node, rule_type, since, until, enterprise_id, severity, status)
    rows = crud.list_alerts(session, f, limit=limit, offset=offset)
    return AlertPage(
        items=[AlertOut.of(r) for r in rows], total=crud.count_alerts(session, f), limit=limit, offset=offset
    )


@router.get(
    "/alerts/export.csv",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/csv": {}}, "description": "CSV (UTF-8 with BOM), one alert a row"}},
)
def export_alerts(
    session: SessionDep,
    config: ConfigDep,
    user: CurrentUser,
    camera: IdQuery = None,
    node: IdQuery = None,
    rule_type: RuleType | None = None,
    since: Since = None,
    until: Until = None,
    enterprise_id: IdQuery = None,
    severity: Severity | None = None,
    status: AlertStatus | None = None,
    limit: Annotated[int, Query(ge=1, le=100_000)] = 10_000,
) -> StreamingResponse:
    """The same filters as the list, as CSV."""
    f = _filter(session, config, user, camera, node, rule_type, since, until, enterprise_id, severity, status)
    rows = [
        [
            a.event_id,
            iso_utc(a.started_ms),
            iso_utc(a.ended_ms) or "",
            a.enterprise or "",
            a.camera,
            a.node,
            a.rule_id,
            a.rule_type,
            a.rule_name,
            a.severity,
            a.count,
            f"{a.score:.2f}",
            a.status,
            ALERT_STATUS_LABELS.get(a.status, a.status),
            a.dismiss_reason or "",
            a.hazard_id or "",
        ]
        for a in crud.list_alerts(session, f, limit=limit, offset=0)
    ]
    return csv_response("alerts.csv", ALERT_CSV_HEADER, rows)


@router.get("/alerts/precision", response_model=PrecisionOut)
def alert_precision(
    session: SessionDep,
    config: ConfigDep,
    user: CurrentUser,
    since: Since = None,
    until: Until = None,
    enterprise_id: IdQuery = None,
) -> PrecisionOut:
    """How many alerts were confirmed and how many dismissed as false alarms, per rule and per camera."""
    since_ms, until_ms = time_window(config, since, until)
    f = crud.AlertFilter(
        since_ms=since_ms, until_ms=until_ms, enterprise=enterprise_id, scope=scope_of(session, user, config)
    )
    stmt = crud._filtered(select(Alert.rule_id, Alert.camera, Alert.status), f)
    by_rule: dict[str, Counter[str]] = {}
    by_camera: dict[str, Counter[str]] = {}
    for rule_id, camera, status in session.execute(stmt):
        by_rule.setdefault(rule_id, Counter())[status] += 1
        by_camera.setdefault(camera, Counter())[status] += 1

    def rows(groups: dict[str, Counter[str]]) -> list[PrecisionRow]:
        out = []
        for key, c in sorted(groups.items()):
            confirmed = c["acknowledged"] + c["escalated"]
            reviewed = confirmed + c["dismissed"]
            out.append(
                PrecisionRow(
                    key=key,
                    total=sum(c.values()),
                    confirmed=confirmed,
                    dismissed=c["dismissed"],
                    unreviewed=c["open"],
                    precision=round(confirmed / reviewed, 3) if reviewed else None,
                )
            )
        return out

    return PrecisionOut(by_rule=rows(by_rule), by_camera=rows(by_camera))


def _visible(session: SessionDep, config: ConfigDep, user: CurrentUser, event_id: str) -> Alert:
    row = crud.get_alert(session, event_id[:64])
    if row is None or not user.may_see(session, row.enterprise, config.timezone):
        raise NotFound(f"no alert with event_id {event_id[:64]!r}")
    return row


def _published(request: Request, row: Alert) -> AlertOut:
    """Tell the live feed about the verdict, so every console shows it."""
    out = AlertOut.of(row)
    request.app.state.hub.publish_alert_threadsafe(out.model_dump(mode="json"))
    return out


@router.get("/alerts/{event_id}", response_model=AlertOut, responses=NOT_FOUND)
def get_alert(event_id: EventId, session: SessionDep, config: ConfigDep, user: CurrentUser) -> AlertOut:
    return AlertOut.of(_visible(session, config, user, event_id))


@router.post("/alerts/{event_id}/acknowledge", response_model=AlertOut, responses={**NOT_FOUND, **CONFLICT})
def acknowledge_alert(
    event_id: EventId, session: SessionDep, user: CurrentUser, request: Request
) -> AlertOut:
    """确认: the alert is real and seen (saying it twice changes nothing)."""
    row = workflow.acknowledge(session, event_id, user.username)
    audit(session, user, "acknowledge_alert", f"alert:{row.event_id}")
    session.commit()
    return _published(request, row)


@router.post("/alerts/{event_id}/dismiss", response_model=AlertOut, responses={**NOT_FOUND, **CONFLICT})
def dismiss_alert(
    event_id: EventId, body: DismissIn, session: SessionDep, user: CurrentUser, request: Request
) -> AlertOut:
    """误报: a false alarm, with the reason; it is kept and counted per rule and camera."""
    row = workflow.dismiss(session, event_id, user.username, body.reason)
    audit(session, user, "dismiss_alert", f"alert:{row.event_id}", {"reason": body.reason})
    session.commit()
    return _published(request, row)


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
        deadline_ms=now_ms() + body.deadline_days * 86_400_000,
        title=body.title,
        description=body.description,
        assignee=body.assignee,
    )
    audit(session, user, "escalate_alert", f"alert:{event_id[:64]}", {"hazard": hazard.code})
    session.commit()
    _published(request, alert)
    return hazard_out(hazard)
