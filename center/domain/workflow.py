"""The operator's verdict on alerts and the hazard rectification loop (发现→整改→复核→销号).

Functions change rows in the caller's session and raise :mod:`center.domain.errors` for what may
not happen; the caller commits (so a refused change leaves nothing half-written).
"""

from __future__ import annotations

from typing import Protocol

from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session

from center.domain import evidence
from center.domain.errors import Invalid, NotFound, StateConflict
from center.domain.timeparse import DAY_MS
from center.domain.vocabulary import (
    ALERT_STATUS_LABELS,
    HAZARD_STATUS_LABELS,
    AlertStatus,
    HazardLevel,
    HazardSource,
    HazardStatus,
    label,
)
from center.store.models import Alert, Camera, Enterprise, Hazard, HazardLog, ServiceRecord
from protocol import now_ms

# --- alerts ------------------------------------------------------------------------------


def _alert(session: Session, event_id: str) -> Alert:
    row = session.get(Alert, event_id[:64], with_for_update=True)
    if row is None:
        raise NotFound(f"no alert with event_id {event_id[:64]!r}")
    return row


def acknowledge(session: Session, event_id: str, actor: str) -> Alert:
    row = _alert(session, event_id)
    if row.status == AlertStatus.ACKNOWLEDGED:
        return row  # saying it twice changes nothing
    if row.status != AlertStatus.OPEN:
        raise StateConflict(f"alert is already {row.status} ({label(ALERT_STATUS_LABELS, row.status)})")
    _handled(row, AlertStatus.ACKNOWLEDGED, actor)
    return row


def dismiss(session: Session, event_id: str, actor: str, reason: str) -> Alert:
    row = _alert(session, event_id)
    if row.status == AlertStatus.ESCALATED:
        raise StateConflict(f"alert was turned into hazard {row.hazard_id}; close that hazard instead")
    if row.status == AlertStatus.DISMISSED:
        raise StateConflict("alert is already dismissed as a false alarm")
    _handled(row, AlertStatus.DISMISSED, actor)
    row.dismiss_reason = reason
    return row


def _handled(row: Alert, status: AlertStatus, actor: str) -> None:
    row.status = status.value
    row.handled_by = actor
    row.handled_ms = now_ms()
    row.updated_ms = row.handled_ms


def escalate(
    session: Session,
    event_id: str,
    actor: str,
    *,
    level: HazardLevel,
    deadline_ms: int,
    title: str | None = None,
    description: str = "",
    assignee: str = "",
) -> tuple[Alert, Hazard]:
    """Turn an alert into a hazard of its enterprise, the alert's snapshots as 'before' evidence."""
    row = _alert(session, event_id)
    if row.status == AlertStatus.ESCALATED:
        raise StateConflict(f"alert was already turned into hazard {row.hazard_id}")
    if row.status == AlertStatus.DISMISSED:
        raise StateConflict("alert was dismissed as a false alarm; it cannot become a hazard")
    enterprise = row.enterprise
    if enterprise is None:
        cam = session.get(Camera, row.camera)
        enterprise = cam.enterprise_id if cam else None
    if enterprise is None or session.get(Enterprise, enterprise) is None:
        raise StateConflict(
            f"alert has no registered enterprise (camera {row.camera} is not registered); register it first"
        )
    name = row.rule_name or row.rule_type
    cam = session.get(Camera, row.camera)
    where = (cam.name or cam.post_name) if cam is not None and cam.enterprise_id == enterprise else ""
    hazard = create_hazard(
        session,
        actor,
        enterprise_id=enterprise,
        title=title or f"{name}（{where or row.camera}）",  # the camera's name, its id when unnamed
        description=description,
        level=level,
        source=HazardSource.AI,
        deadline_ms=deadline_ms,
        assignee=assignee,
        camera_id=row.camera,
        alert_id=row.event_id,
        before_evidence=[e["sha256"] for e in row.evidence if e.get("kind") == "snapshot"],
        verify_files=False,  # the edge may upload the files later
    )
    _handled(row, AlertStatus.ESCALATED, actor)
    row.hazard_id = hazard.id
    return row, hazard


def deadline_in(days: int) -> int:
    """The deadline (epoch ms) ``days`` from now."""
    return now_ms() + days * DAY_MS


# --- hazards -----------------------------------------------------------------------------


def create_hazard(
    session: Session,
    actor: str,
    *,
    enterprise_id: str,
    title: str,
    level: HazardLevel,
    source: HazardSource,
    deadline_ms: int,
    description: str = "",
    assignee: str = "",
    camera_id: str | None = None,
    alert_id: str | None = None,
    before_evidence: list[str] | None = None,
    code: str | None = None,
    created_ms: int | None = None,
    verify_files: bool = True,
    service_id: int | None = None,
) -> Hazard:
    if session.get(Enterprise, enterprise_id) is None:
        raise Invalid(("body", "enterprise_id"), f"no enterprise {enterprise_id!r}")
    if service_id is not None:
        service = session.get(ServiceRecord, service_id)
        if service is None or service.enterprise_id != enterprise_id:
            raise Invalid(
                ("body", "service_id"), f"no service record {service_id} of enterprise {enterprise_id}"
            )
    if camera_id is not None and alert_id is None:
        cam = session.get(Camera, camera_id)
        if cam is None or cam.enterprise_id != enterprise_id:
            raise Invalid(("body", "camera_id"), f"no camera {camera_id!r} of enterprise {enterprise_id}")
    if verify_files and before_evidence:
        evidence.check_citable(session, before_evidence, enterprise_id, actor, ("body", "before_evidence"))
    now = now_ms() if created_ms is None else created_ms
    hazard = Hazard(
        code=code or f"tmp-{now}-{id(session)}",
        enterprise_id=enterprise_id,
        camera_id=camera_id,
        alert_id=alert_id,
        title=title,
        description=description,
        level=level.value,
        source=source.value,
        status=HazardStatus.PENDING.value,
        deadline_ms=deadline_ms,
        assignee=assignee,
        before_evidence=list(before_evidence or []),
        after_evidence=[],
        rectification="",
        review_note="",
        created_by=actor,
        created_ms=now,
        updated_ms=now,
        service_id=service_id,
    )
    session.add(hazard)
    session.flush()
    if code is None:
        hazard.code = f"YH-{hazard.id:06d}"
    _log(session, hazard, actor, "create", None, HazardStatus.PENDING, description, now)
    return hazard


def _log(
    session: Session,
    hazard: Hazard,
    actor: str,
    action: str,
    before: str | None,
    after: str,
    note: str = "",
    ts: int | None = None,
) -> None:
    session.add(
        HazardLog(
            hazard_id=hazard.id,
            ts_ms=now_ms() if ts is None else ts,
            actor=actor,
            action=action,
            from_status=before,
            to_status=str(after),
            note=note,
        )
    )


def get_hazard(session: Session, hazard_id: int, lock: bool = False) -> Hazard:
    row = session.get(Hazard, hazard_id, with_for_update=lock) if 0 < hazard_id < 2**31 else None
    if row is None:
        raise NotFound(f"no hazard {hazard_id}")
    return row


def _move(
    session: Session, hazard: Hazard, actor: str, action: str, to: HazardStatus, note: str, ts: int | None
) -> Hazard:
    before = hazard.status
    now = now_ms() if ts is None else ts
    hazard.status = to.value
    hazard.updated_ms = now
    _log(session, hazard, actor, action, before, to, note, now)
    return hazard


def _state(hazard: Hazard) -> str:
    return f"hazard is {hazard.status} ({label(HAZARD_STATUS_LABELS, hazard.status)})"


def start(session: Session, hazard: Hazard, actor: str, note: str = "", ts: int | None = None) -> Hazard:
    """待整改 → 整改中."""
    if hazard.status != HazardStatus.PENDING:
        raise StateConflict(f"{_state(hazard)}; only a pending hazard (待整改) can be started")
    return _move(session, hazard, actor, "start", HazardStatus.IN_PROGRESS, note, ts)


def submit(
    session: Session,
    hazard: Hazard,
    actor: str,
    rectification: str,
    after_evidence: list[str],
    ts: int | None = None,
    verify_files: bool = True,
) -> Hazard:
    """整改中 → 待复核, with what was done and the 'after' photos."""
    if hazard.status != HazardStatus.IN_PROGRESS:
        hint = " (start the rectification first)" if hazard.status == HazardStatus.PENDING else ""
        raise StateConflict(f"{_state(hazard)}; only a hazard in progress can be submitted for review{hint}")
    if verify_files:
        evidence.check_citable(
            session, after_evidence, hazard.enterprise_id, actor, ("body", "after_evidence")
        )
    hazard.rectification = rectification
    hazard.after_evidence = list(dict.fromkeys([*hazard.after_evidence, *after_evidence]))
    hazard.rectified_ms = now_ms() if ts is None else ts
    return _move(session, hazard, actor, "submit", HazardStatus.REVIEW, rectification, ts)


def approve(session: Session, hazard: Hazard, actor: str, note: str = "", ts: int | None = None) -> Hazard:
    """待复核 → 已销号. Refused for a hazard that was never rectified."""
    if hazard.status in (HazardStatus.PENDING, HazardStatus.IN_PROGRESS):
        raise StateConflict(
            f"hazard was never rectified: {_state(hazard)}; it can be closed only after the rectification "
            "is submitted for review (待复核)"
        )
    if hazard.status == HazardStatus.CLOSED:
        raise StateConflict("hazard is already closed (已销号)")
    _move(session, hazard, actor, "approve", HazardStatus.CLOSED, note, ts)
    hazard.review_note = note
    hazard.closed_ms = hazard.updated_ms
    return hazard


def reject(session: Session, hazard: Hazard, actor: str, note: str, ts: int | None = None) -> Hazard:
    """待复核 → 整改中: the rectification is not good enough."""
    if hazard.status != HazardStatus.REVIEW:
        raise StateConflict(f"{_state(hazard)}; only a hazard under review (待复核) can be sent back")
    hazard.review_note = note
    return _move(session, hazard, actor, "reject", HazardStatus.IN_PROGRESS, note, ts)


class Deadlined(Protocol):
    """A hazard's row, or its answer: what decides whether it is overdue."""

    @property
    def status(self) -> str: ...
    @property
    def deadline_ms(self) -> int: ...
    @property
    def closed_ms(self) -> int | None: ...


def is_overdue(hazard: Deadlined, at_ms: int | None = None) -> bool:
    """Open past its deadline, or closed after it."""
    at = now_ms() if at_ms is None else at_ms
    if hazard.status == HazardStatus.CLOSED:
        return hazard.closed_ms is not None and hazard.closed_ms > hazard.deadline_ms
    return at > hazard.deadline_ms


def overdue_clause(overdue: bool, at_ms: int) -> ColumnElement[bool]:
    """:func:`is_overdue` (or its negation) as a WHERE clause on hazards."""
    is_open = Hazard.status != HazardStatus.CLOSED.value
    closed = Hazard.status == HazardStatus.CLOSED.value
    if overdue:
        return (is_open & (Hazard.deadline_ms < at_ms)) | (closed & (Hazard.closed_ms > Hazard.deadline_ms))
    return (is_open & (Hazard.deadline_ms >= at_ms)) | (closed & (Hazard.closed_ms <= Hazard.deadline_ms))


def hazard_history(session: Session, hazard_id: int) -> list[HazardLog]:
    return list(
        session.scalars(select(HazardLog).where(HazardLog.hazard_id == hazard_id).order_by(HazardLog.id))
    )
