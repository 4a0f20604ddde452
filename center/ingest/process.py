"""Store validated messages: one transaction a message, or one for a whole batch (the fast path).

Anything that does not pass the contract, or contradicts what is stored, goes to the
``quarantine`` table with the reason. The committed alerts come back in the shape of the API
(:class:`center.api.alerts.schemas.AlertOut`, with the names of camera, enterprise and node) for
the live feed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel
from sqlalchemy import insert
from sqlalchemy.orm import Session, sessionmaker

from center.api.alerts.service import alert_out, alerts_out
from center.ingest import upsert
from center.ingest.registry import CameraRegistry
from center.ingest.validate import Rejected, attribute, validate
from center.store.models import Quarantine
from protocol import AlertEvent, Heartbeat, NodeStatus, now_ms

log = logging.getLogger(__name__)

# called in the ingest's transaction with the alerts it inserted (center/notify enqueues their
# notifications there, so a committed alert never misses them and a failing channel never
# touches ingest: delivery happens later, in the notification worker)
NewAlerts = Callable[[Session, Sequence[Mapping[str, Any]]], object]


@dataclass
class Received:
    """A message as it came off the broker (``mid``/``qos``/``generation`` to acknowledge it)."""

    topic: str
    payload: bytes
    mid: int
    qos: int
    generation: int
    received_ms: int = field(default_factory=now_ms)


@dataclass
class Result:
    outcome: str  # inserted / updated / unchanged / status / heartbeat / skipped / quarantined
    alert: dict[str, Any] | None = None  # the committed alert, for the live feed
    reason: str | None = None
    event_ms: int | None = None  # the time the message tells of (center/metrics.py: arrival lag)
    sent_ms: int | None = None  # an event's send time at the edge (center/metrics.py: transit)


def event_ms(msg: BaseModel) -> int | None:
    """The time a valid message tells of: an event's end or last time, a heartbeat's or status's ts."""
    if isinstance(msg, AlertEvent):
        return msg.ended_ms if msg.ended_ms is not None else msg.last_ms
    if isinstance(msg, Heartbeat | NodeStatus):
        return msg.ts_ms
    return None


def _checked(topic: str, payload: bytes, site: str, registry: CameraRegistry) -> BaseModel | None:
    """The message validated, an alert attributed by the registry; raises Rejected."""
    _kind, msg = validate(topic, payload, site)
    if isinstance(msg, AlertEvent):
        msg = attribute(msg, registry)
    return msg


def process(
    factory: sessionmaker[Session],
    site: str,
    topic: str,
    payload: bytes,
    received_ms: int,
    registry: CameraRegistry | None = None,
    on_new: NewAlerts | None = None,
    on_changed: NewAlerts | None = None,
) -> Result:
    """Validate and store one message in one transaction. Database errors propagate.
    ``registry``: the ingest's cached camera registry (None: read the cameras now); ``on_new``:
    told of an inserted alert inside the transaction; ``on_changed``: of an inserted or updated
    one (the live feed's fan-out to other replicas)."""
    try:
        msg = _checked(topic, payload, site, registry or CameraRegistry(factory))
    except Rejected as exc:
        return quarantine(factory, topic, payload, str(exc), received_ms)
    if msg is None:
        return Result("skipped")
    try:
        with factory.begin() as session:
            result = _apply(session, msg, received_ms)
            result.event_ms = event_ms(msg)
            result.sent_ms = msg.sent_ms if isinstance(msg, AlertEvent) else None
            if on_new is not None and result.outcome == upsert.Outcome.INSERTED.value and result.alert:
                on_new(session, [result.alert])
            if on_changed is not None and result.alert:
                on_changed(session, [result.alert])
            return result
    except upsert.Conflict as exc:
        return quarantine(factory, topic, payload, str(exc), received_ms)


def _apply(session: Session, msg: BaseModel, received_ms: int) -> Result:
    """Apply one valid message inside the caller's transaction (raises upsert.Conflict before writing)."""
    if isinstance(msg, AlertEvent):
        outcome, row = upsert.apply_alert(session, msg, received_ms)
        if outcome is upsert.Outcome.UNCHANGED:
            return Result(outcome.value)
        return Result(outcome.value, alert_out(session, row).model_dump(mode="json"))
    if isinstance(msg, NodeStatus):
        upsert.apply_status(session, msg, received_ms)
        return Result("status")
    assert isinstance(msg, Heartbeat)
    upsert.apply_heartbeat(session, msg, received_ms)
    return Result("heartbeat")


def process_batch(
    factory: sessionmaker[Session],
    site: str,
    items: list[Received],
    want_alerts: bool = True,
    registry: CameraRegistry | None = None,
    on_new: NewAlerts | None = None,
    on_changed: NewAlerts | None = None,
) -> list[Result]:
    """Validate and store many messages in ONE transaction (the ingest's fast path).

    Events are merged in memory and written with one SELECT, one multi-row INSERT and an
    executemany UPDATE (:func:`upsert.apply_alerts`); status and heartbeats go through the ORM
    (there are few). Invalid or conflicting messages go to the quarantine in the same
    transaction. Database errors propagate and nothing of the batch is committed; the caller
    then retries or falls back to one message a transaction. ``want_alerts``: build the
    committed alerts for the live feed; ``registry``, ``on_new`` and ``on_changed`` as for
    :func:`process`.
    """
    results: list[Result | None] = [None] * len(items)
    events: list[tuple[int, AlertEvent]] = []
    others: list[tuple[int, BaseModel]] = []
    rejected: list[tuple[int, str]] = []
    cameras = registry or CameraRegistry(factory)
    for i, item in enumerate(items):
        try:
            msg = _checked(item.topic, item.payload, site, cameras)
        except Rejected as exc:
            rejected.append((i, str(exc)))
            continue
        if msg is None:
            results[i] = Result("skipped")
        elif isinstance(msg, AlertEvent):
            events.append((i, msg))
        else:
            others.append((i, msg))
    with factory.begin() as session:
        if events:
            applied = upsert.apply_alerts(session, [(ev, items[i].received_ms) for i, ev in events])
            changed: list[tuple[int, str, dict[str, Any]]] = []
            for (i, _ev), res in zip(events, applied, strict=True):
                if isinstance(res, upsert.Conflict):
                    rejected.append((i, str(res)))
                    continue
                outcome, row = res
                results[i] = Result(outcome.value)
                wanted = want_alerts or on_new is not None or on_changed is not None
                if wanted and outcome is not upsert.Outcome.UNCHANGED:
                    changed.append((i, outcome.value, row))
            # the feed's alerts, with their names: one lookup for the whole batch
            named = alerts_out(session, [row for _i, _o, row in changed])
            for (i, outcome_value, _row), out in zip(changed, named, strict=True):
                results[i] = Result(outcome_value, out.model_dump(mode="json"))
            if on_new is not None:
                inserted = [
                    r.alert
                    for r in results
                    if r is not None and r.alert is not None and r.outcome == upsert.Outcome.INSERTED.value
                ]
                if inserted:
                    on_new(session, inserted)
            if on_changed is not None and changed:
                on_changed(session, [r.alert for r in results if r is not None and r.alert is not None])
        for i, msg in others:
            results[i] = _apply(session, msg, items[i].received_ms)
        if rejected:
            rejected.sort()
            rows = [
                upsert.quarantine_row(items[i].topic, items[i].payload, why, items[i].received_ms)
                for i, why in rejected
            ]
            session.execute(insert(Quarantine), rows)
            for i, why in rejected:
                results[i] = Result("quarantined", reason=why)
    for i, msg in [*events, *others]:
        done = results[i]
        if done is not None and done.outcome != "quarantined":
            done.event_ms = event_ms(msg)
            done.sent_ms = msg.sent_ms if isinstance(msg, AlertEvent) else None
    for i, why in rejected:  # after the commit
        log.warning("quarantined message on %s: %s", items[i].topic, why)
    assert all(r is not None for r in results)
    return results  # type: ignore[return-value]


def quarantine(
    factory: sessionmaker[Session], topic: str, payload: bytes, reason: str, received_ms: int
) -> Result:
    with factory.begin() as session:
        upsert.add_quarantine(session, topic, payload, reason, received_ms)
    log.warning("quarantined message on %s: %s", topic, reason)
    return Result("quarantined", reason=reason)
