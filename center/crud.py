"""Reads and writes of the center's tables. Callers own the session and the transaction."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from center.models import Alert, Camera, Node, Quarantine
from protocol import AlertEvent, Heartbeat, NodeStatus

QUARANTINE_KEEP_BYTES = 64 * 1024
SEVERITY_RANK = {"general": 0, "significant": 1, "major": 2}


class Outcome(StrEnum):
    INSERTED = "inserted"
    UPDATED = "updated"
    UNCHANGED = "unchanged"  # a replay, or an older seq than the one stored


class Conflict(Exception):
    """A valid message that contradicts what is stored (the reason goes to quarantine)."""


# --- writes -----------------------------------------------------------------------------


def _merge_evidence(old: list[dict[str, Any]], new: list[dict[str, Any]]) -> list[dict[str, Any]]:
    seen = {item.get("sha256") for item in old}
    return [*old, *(item for item in new if item.get("sha256") not in seen)]


def apply_alert(session: Session, ev: AlertEvent, now_ms: int) -> tuple[Outcome, Alert]:
    """Idempotent upsert keyed by event id: a message applies only if its seq is newer.

    ``new`` inserts; ``update``/``end`` merge into the row, and create it from what they
    carry when they arrive before their ``new``.
    """
    row = session.get(Alert, ev.event_id, with_for_update=True)
    objects = [o.model_dump(mode="json") for o in ev.objects]
    evidence = [e.model_dump(mode="json") for e in ev.evidence]
    if row is None:
        row = Alert(
            event_id=ev.event_id,
            site=ev.site,
            node=ev.node,
            camera=ev.camera,
            enterprise=ev.enterprise,
            rule_id=ev.rule_id,
            rule_type=ev.rule_type.value,
            rule_name=ev.rule_name,
            severity=ev.severity.value,
            phase=ev.phase.value,
            seq=ev.seq,
            started_ms=ev.started_ms,
            last_ms=ev.last_ms,
            ended_ms=ev.ended_ms,
            zone=ev.zone,
            count=ev.count,
            score=ev.score,
            objects=objects,
            evidence=evidence,
            received_ms=now_ms,
            updated_ms=now_ms,
        )
        if row.enterprise is None:
            row.enterprise = _camera_enterprise(session, ev.camera)
        session.add(row)
        session.flush()  # an IntegrityError (a racing replica) surfaces here
        return Outcome.INSERTED, row

    mine = (row.site, row.node, row.camera, row.rule_id)
    theirs = (ev.site, ev.node, ev.camera, ev.rule_id)
    if mine != theirs:
        raise Conflict(
            f"event_id {ev.event_id} already belongs to site/node/camera/rule {'/'.join(mine)}, "
            f"not {'/'.join(theirs)}"
        )
    if ev.seq <= row.seq:
        return Outcome.UNCHANGED, row

    row.seq = ev.seq
    row.phase = ev.phase.value
    if SEVERITY_RANK[ev.severity.value] > SEVERITY_RANK.get(row.severity, -1):
        row.severity = ev.severity.value  # an alert keeps the highest severity it reached
    row.last_ms = max(row.last_ms, ev.last_ms)
    row.count = ev.count
    row.score = ev.score
    if objects:  # an 'end' often carries none: keep the last ones seen
        row.objects = objects
    if evidence:
        row.evidence = _merge_evidence(row.evidence, evidence)
    if ev.ended_ms is not None:
        row.ended_ms = ev.ended_ms
    if ev.rule_name:
        row.rule_name = ev.rule_name
    if ev.zone is not None:
        row.zone = ev.zone
    if ev.enterprise is not None:
        row.enterprise = ev.enterprise
    elif row.enterprise is None:
        row.enterprise = _camera_enterprise(session, ev.camera)
    row.updated_ms = now_ms
    return Outcome.UPDATED, row


def _camera_enterprise(session: Session, camera: str) -> str | None:
    """The enterprise a registered camera belongs to (for edges that do not send it)."""
    cam = session.get(Camera, camera)
    return cam.enterprise_id if cam is not None else None


def _node_row(session: Session, site: str, node: str, now_ms: int, seen_ms: int) -> Node:
    row = session.get(Node, (site, node), with_for_update=True)
    if row is None:
        row = Node(site=site, node=node, state="online", last_seen_ms=seen_ms, software="", cameras=[])
        session.add(row)
    row.last_seen_ms = max(row.last_seen_ms, seen_ms)
    row.updated_ms = now_ms
    return row


def apply_status(session: Session, st: NodeStatus, now_ms: int) -> Node:
    """Birth/death of a node. Applied in arrival order: MQTT keeps one topic's messages in
    order, and a last will's ts_ms is written when the node connects, so it cannot be compared
    with the birth's."""
    row = _node_row(session, st.site, st.node, now_ms, st.ts_ms)
    row.state = st.state.value
    row.status_ms = st.ts_ms
    if st.software:
        row.software = st.software
    if st.cameras:
        row.cameras = list(st.cameras)
    if st.config_version is not None:
        row.config_version = st.config_version
    return row


def apply_heartbeat(session: Session, hb: Heartbeat, now_ms: int) -> Node:
    row = _node_row(session, hb.site, hb.node, now_ms, hb.ts_ms)
    last = (row.heartbeat or {}).get("ts_ms", -1)
    if hb.ts_ms >= last:
        row.heartbeat = hb.model_dump(mode="json")
        if not row.cameras:
            row.cameras = [c.camera for c in hb.cameras]
    return row


def add_quarantine(session: Session, topic: str, payload: bytes, reason: str, now_ms: int) -> Quarantine:
    row = Quarantine(
        received_ms=now_ms,
        topic=topic[:512],
        payload=bytes(payload[:QUARANTINE_KEEP_BYTES]),
        payload_size=len(payload),
        reason=reason,
    )
    session.add(row)
    return row


# --- reads ------------------------------------------------------------------------------


@dataclass(frozen=True)
class AlertFilter:
    camera: str | None = None
    node: str | None = None
    rule_type: str | None = None
    since_ms: int | None = None
    until_ms: int | None = None
    enterprise: str | None = None
    severity: str | None = None
    status: str | None = None
    scope: frozenset[str] | None = None  # enterprises the caller may see; None: all


def _filtered(stmt: Select[Any], f: AlertFilter) -> Select[Any]:
    if f.camera is not None:
        stmt = stmt.where(Alert.camera == f.camera)
    if f.node is not None:
        stmt = stmt.where(Alert.node == f.node)
    if f.rule_type is not None:
        stmt = stmt.where(Alert.rule_type == f.rule_type)
    if f.since_ms is not None:
        stmt = stmt.where(Alert.started_ms >= f.since_ms)
    if f.until_ms is not None:
        stmt = stmt.where(Alert.started_ms < f.until_ms)
    if f.enterprise is not None:
        stmt = stmt.where(Alert.enterprise == f.enterprise)
    if f.severity is not None:
        stmt = stmt.where(Alert.severity == f.severity)
    if f.status is not None:
        stmt = stmt.where(Alert.status == f.status)
    if f.scope is not None:
        stmt = stmt.where(Alert.enterprise.in_(sorted(f.scope)))
    return stmt


def list_alerts(session: Session, f: AlertFilter, limit: int, offset: int) -> list[Alert]:
    """Alerts that started in [since, until), newest first."""
    stmt = _filtered(select(Alert), f)
    stmt = stmt.order_by(Alert.started_ms.desc(), Alert.event_id.desc()).limit(limit).offset(offset)
    return list(session.scalars(stmt))


def count_alerts(session: Session, f: AlertFilter) -> int:
    return int(session.scalar(_filtered(select(func.count()).select_from(Alert), f)) or 0)


def get_alert(session: Session, event_id: str) -> Alert | None:
    return session.get(Alert, event_id)


def list_nodes(session: Session) -> list[Node]:
    return list(session.scalars(select(Node).order_by(Node.site, Node.node)))


def list_quarantine(session: Session, limit: int) -> list[Quarantine]:
    stmt = select(Quarantine).order_by(Quarantine.id.desc()).limit(limit)
    return list(session.scalars(stmt))
