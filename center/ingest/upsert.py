"""Idempotent upserts of what the nodes send: alerts (keyed by event id, newest seq wins), node
status and heartbeats, and the quarantine of rejected messages. Callers own the session and
the transaction."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from enum import StrEnum
from typing import Any

from sqlalchemy import Table, bindparam, insert, select, update
from sqlalchemy.orm import Session

from center.domain import uptime
from center.store.models import Alert, Camera, Node, Quarantine
from protocol import SEVERITY_RANK, AlertEvent, Heartbeat, NodeState, NodeStatus, WarningOutcome

QUARANTINE_KEEP_BYTES = 64 * 1024


class Outcome(StrEnum):
    INSERTED = "inserted"
    UPDATED = "updated"
    UNCHANGED = "unchanged"  # a replay, or an older seq that adds nothing


class Conflict(Exception):
    """A valid message that contradicts what is stored (the reason goes to quarantine)."""


def _merge_evidence(old: list[dict[str, Any]], new: list[dict[str, Any]]) -> list[dict[str, Any]]:
    seen = {item.get("sha256") for item in old}
    return [*old, *(item for item in new if item.get("sha256") not in seen)]


def new_alert(ev: AlertEvent, now_ms: int, enterprise_of: Callable[[str], str | None]) -> dict[str, Any]:
    """The row an event creates when the center has not heard of it (any phase)."""
    return {
        "event_id": ev.event_id,
        "site": ev.site,
        "node": ev.node,
        "camera": ev.camera,
        "enterprise": ev.enterprise if ev.enterprise is not None else enterprise_of(ev.camera),
        "rule_id": ev.rule_id,
        "rule_type": ev.rule_type.value,
        "rule_name": ev.rule_name,
        "severity": ev.severity.value,
        "phase": ev.phase.value,
        "seq": ev.seq,
        "started_ms": ev.started_ms,
        "last_ms": ev.last_ms,
        "ended_ms": ev.ended_ms,
        "zone": ev.zone,
        "count": ev.count,
        "score": ev.score,
        "objects": [o.model_dump(mode="json") for o in ev.objects],
        "evidence": [e.model_dump(mode="json") for e in ev.evidence],
        "warning": ev.warning.model_dump(mode="json") if ev.warning is not None else None,
        "received_ms": now_ms,
        "updated_ms": now_ms,
    }


def merge_alert(
    row: Mapping[str, Any], ev: AlertEvent, now_ms: int, enterprise_of: Callable[[str], str | None]
) -> dict[str, Any] | None:
    """The changes ``ev`` makes to a stored alert; None for a replay. An older seq adds only what
    it carries that the row lacks (:func:`_late_changes`).

    Raises :class:`Conflict` when the event id belongs to another site/node/camera/rule.
    """
    mine = (row["site"], row["node"], row["camera"], row["rule_id"])
    theirs = (ev.site, ev.node, ev.camera, ev.rule_id)
    if mine != theirs:
        raise Conflict(
            f"event_id {ev.event_id} already belongs to site/node/camera/rule {'/'.join(mine)}, "
            f"not {'/'.join(theirs)}"
        )
    if ev.seq <= row["seq"]:
        return _late_changes(row, ev, now_ms)
    ch: dict[str, Any] = {
        "seq": ev.seq,
        "phase": ev.phase.value,
        "last_ms": max(row["last_ms"], ev.last_ms),
        "count": ev.count,
        "score": ev.score,
        "updated_ms": now_ms,
    }
    if SEVERITY_RANK[ev.severity.value] > SEVERITY_RANK.get(row["severity"], -1):
        ch["severity"] = ev.severity.value  # an alert keeps the highest severity it reached
    if ev.objects:  # an 'end' often carries none: keep the last ones seen
        ch["objects"] = [o.model_dump(mode="json") for o in ev.objects]
    if ev.evidence:
        ch["evidence"] = _merge_evidence(row["evidence"], [e.model_dump(mode="json") for e in ev.evidence])
    if ev.warning is not None and not (
        ev.warning.outcome is WarningOutcome.QUEUED
        and (row.get("warning") or {}).get("outcome") not in (None, "queued")
    ):  # a result, once in, is not taken back by a "queued"
        ch["warning"] = ev.warning.model_dump(mode="json")
    if ev.ended_ms is not None:
        ch["ended_ms"] = ev.ended_ms
    if ev.rule_name:
        ch["rule_name"] = ev.rule_name
    if ev.zone is not None:
        ch["zone"] = ev.zone
    if ev.enterprise is not None:
        ch["enterprise"] = ev.enterprise
    elif row["enterprise"] is None:
        ch["enterprise"] = enterprise_of(ev.camera)
    return ch


def _late_changes(row: Mapping[str, Any], ev: AlertEvent, now_ms: int) -> dict[str, Any] | None:
    """What an older (or replayed) message still adds: its evidence, a higher severity, a later
    ``last_ms``, a warning result the row lacks. Its phase, count, score and objects lose to the
    newer seq stored. Messages of one event arrive out of order when replicas split the ingest
    (a shared subscription hands the ``new`` to one and the ``end`` to another) or when a node
    replays its outbox; an event's clip or snapshot must not be lost that way. None: nothing new
    (a replay)."""
    ch: dict[str, Any] = {}
    if SEVERITY_RANK[ev.severity.value] > SEVERITY_RANK.get(row["severity"], -1):
        ch["severity"] = ev.severity.value
    if ev.last_ms > row["last_ms"]:
        ch["last_ms"] = ev.last_ms
    if ev.evidence:
        merged = _merge_evidence(row["evidence"], [e.model_dump(mode="json") for e in ev.evidence])
        if len(merged) != len(row["evidence"]):
            ch["evidence"] = merged
    stored = (row.get("warning") or {}).get("outcome")
    if ev.warning is not None and (
        stored is None or (stored == "queued" and ev.warning.outcome is not WarningOutcome.QUEUED)
    ):  # the stored (newer) message knew no result yet: take this one's
        ch["warning"] = ev.warning.model_dump(mode="json")
    if ch:
        ch["updated_ms"] = now_ms
    return ch or None


_MERGE_READS = (
    "site",
    "node",
    "camera",
    "rule_id",
    "seq",
    "last_ms",
    "severity",
    "evidence",
    "enterprise",
    "warning",
)


def apply_alert(session: Session, ev: AlertEvent, now_ms: int) -> tuple[Outcome, Alert]:
    """Idempotent upsert keyed by event id: a message applies only if its seq is newer.

    ``new`` inserts; ``update``/``end`` merge into the row, and create it from what they
    carry when they arrive before their ``new``.
    """
    row = session.get(Alert, ev.event_id, with_for_update=True)

    def enterprise_of(camera: str) -> str | None:
        return _camera_enterprise(session, camera)

    if row is None:
        row = Alert(**new_alert(ev, now_ms, enterprise_of))
        session.add(row)
        session.flush()  # an IntegrityError (a racing replica) surfaces here
        return Outcome.INSERTED, row
    changes = merge_alert({k: getattr(row, k) for k in _MERGE_READS}, ev, now_ms, enterprise_of)
    if changes is None:
        return Outcome.UNCHANGED, row
    for key, value in changes.items():
        setattr(row, key, value)
    return Outcome.UPDATED, row


# defaults of the operator's columns, for a row inserted without the ORM
_NEW_ROW_EXTRA = {
    "status": "open",
    "handled_by": None,
    "handled_ms": None,
    "dismiss_reason": None,
    "hazard_id": None,
}


def apply_alerts(
    session: Session, events: list[tuple[AlertEvent, int]]
) -> list[tuple[Outcome, dict[str, Any]] | Conflict]:
    """:func:`apply_alert` for many events at once, in their order: one SELECT of the stored
    rows (locked on PostgreSQL), one multi-row INSERT and one executemany UPDATE.

    Returns, for each event, (outcome, the row as now stored) or the Conflict to quarantine.
    An IntegrityError at the INSERT (a racing replica) propagates: the caller retries the
    messages one by one.
    """
    table = Alert.__table__
    assert isinstance(table, Table)
    ids = sorted({ev.event_id for ev, _ in events})
    stmt = select(table).where(table.c.event_id.in_(ids))
    if session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update()
    stored: dict[str, dict[str, Any]] = {r.event_id: dict(r._mapping) for r in session.execute(stmt)}
    cameras = {ev.camera for ev, _ in events if ev.enterprise is None}
    owners: dict[str, str | None] = {}
    if cameras:
        found = select(Camera.id, Camera.enterprise_id).where(Camera.id.in_(sorted(cameras)))
        owners = {cam: ent for cam, ent in session.execute(found)}

    def enterprise_of(camera: str) -> str | None:
        return owners.get(camera)

    inserted: dict[str, dict[str, Any]] = {}
    updated: dict[str, dict[str, Any]] = {}  # event id → changed columns
    out: list[tuple[Outcome, dict[str, Any]] | Conflict] = []
    for ev, now in events:
        row = inserted.get(ev.event_id) or stored.get(ev.event_id)
        if row is None:
            row = new_alert(ev, now, enterprise_of)
            inserted[ev.event_id] = row
            out.append((Outcome.INSERTED, {**row, **_NEW_ROW_EXTRA}))
            continue
        try:
            changes = merge_alert(row, ev, now, enterprise_of)
        except Conflict as exc:
            out.append(exc)
            continue
        if changes is None:
            out.append((Outcome.UNCHANGED, row))
            continue
        row.update(changes)
        if ev.event_id not in inserted:
            updated.setdefault(ev.event_id, {}).update(changes)
        out.append((Outcome.UPDATED, {**_NEW_ROW_EXTRA, **row}))
    if inserted:
        session.execute(insert(table), list(inserted.values()))
    # one executemany per set of changed columns (usually one or two)
    groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for event_id, changes in updated.items():
        cols = tuple(sorted(changes))
        groups.setdefault(cols, []).append({"b_event_id": event_id, **{f"b_{c}": changes[c] for c in cols}})
    for cols, params in groups.items():
        upd = (
            update(table)
            .where(table.c.event_id == bindparam("b_event_id"))
            .values({c: bindparam(f"b_{c}") for c in cols})
        )
        session.execute(upd, params)
    return out


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
    if st.state is not NodeState.OFFLINE:  # the last will was written at connect: it knows no config news
        row.config_version = st.config_version  # None: the node runs its local file only
        row.config_rejected = st.config_rejected
        row.config_error = st.config_error
    if st.state is not NodeState.ONLINE:  # its cameras' online spans end at their last heartbeat
        uptime.record_node_down(session, st.site, st.node)
    return row


def apply_heartbeat(session: Session, hb: Heartbeat, now_ms: int) -> Node:
    row = _node_row(session, hb.site, hb.node, now_ms, hb.ts_ms)
    last = (row.heartbeat or {}).get("ts_ms", -1)
    if hb.ts_ms >= last:
        # received_ms: the center's clock, so a node's clock skew cannot make it look stale
        row.heartbeat = {**hb.model_dump(mode="json"), "received_ms": now_ms}
        if not row.cameras:
            row.cameras = [c.camera for c in hb.cameras]
        # online spans of its cameras (center/domain/uptime.py), on the center's clock
        states = {c.camera: c.state.value for c in hb.cameras}
        uptime.record_heartbeat(session, hb.site, hb.node, states, now_ms, hb.interval_s)
    return row


def quarantine_row(topic: str, payload: bytes, reason: str, now_ms: int) -> dict[str, Any]:
    """The quarantine columns of a rejected message (the payload bounded)."""
    return {
        "received_ms": now_ms,
        "topic": topic[:512],
        "payload": bytes(payload[:QUARANTINE_KEEP_BYTES]),
        "payload_size": len(payload),
        "reason": reason,
    }


def add_quarantine(session: Session, topic: str, payload: bytes, reason: str, now_ms: int) -> Quarantine:
    row = Quarantine(**quarantine_row(topic, payload, reason, now_ms))
    session.add(row)
    return row
