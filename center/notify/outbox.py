"""The durable outbox of notifications (table ``notifications``).

One row per (event, route, recipient) — the unique key de-duplicates: an alert replayed by its
edge node, an escalation checked twice or a reminder checked every minute enqueues once.

Delivery is at-least-once: a worker claims due rows with a lease (``state = sending``,
``lease_until_ms``), sends, then marks them ``sent``; a center killed between the send and the
mark leaves the row ``sending``, and once the lease runs out a worker (after the restart, or
another replica) takes it again. Every payload carries an ``idempotency_key`` that stays the
same over attempts (the webhook's ``X-ParkGuard-Idempotency-Key``, the e-mail's Message-ID) so
a receiver can drop the rare second copy. The claim is a conditional UPDATE per row, so two
workers never both win the same row (SQLite and PostgreSQL alike).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, sessionmaker

from center.store.models import AuditEntry, Notification

log = logging.getLogger(__name__)

PENDING, SENDING, SENT, FAILED, HELD, DIGESTED = "pending", "sending", "sent", "failed", "held", "digested"
STATE_LABELS = {
    PENDING: "待发送",
    SENDING: "发送中",
    SENT: "已发送",
    FAILED: "发送失败",
    HELD: "待汇总",
    DIGESTED: "已汇总发送",
}
KIND_LABELS = {
    "alert": "告警通知",
    "escalation": "升级通知",
    "hazard_due": "隐患到期提醒",
    "hazard_overdue": "隐患逾期提醒",
    "digest": "每日汇总",
    "test": "测试消息",
}
MAX_ERROR_CHARS = 500


def new_row(
    *,
    event_key: str,
    route: str,
    recipient: str,
    kind: str,
    channel_id: str,
    payload: dict[str, Any],
    now_ms: int,
    alert_id: str | None = None,
    enterprise_id: str | None = None,
    state: str = PENDING,
    not_before_ms: int | None = None,
) -> dict[str, Any]:
    return {
        "event_key": event_key[:64],
        "route": route[:96],
        "recipient": recipient[:254],
        "kind": kind,
        "channel_id": channel_id,
        "alert_id": alert_id,
        "enterprise_id": enterprise_id,
        "state": state,
        "attempts": 0,
        "next_attempt_ms": max(now_ms, not_before_ms or now_ms),
        "lease_until_ms": None,
        "last_error": None,
        "payload": payload,
        "created_ms": now_ms,
        "sent_ms": None,
    }


def insert_new(session: Session, rows: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Insert the rows whose (event, route, recipient) is not in the outbox yet; returns those
    inserted. Runs in the caller's transaction."""
    rows = list(rows)
    if not rows:
        return []
    dialect = session.get_bind().dialect.name
    ins = postgresql.insert if dialect == "postgresql" else sqlite.insert
    done = []
    table = Notification.metadata.tables["notifications"]
    conn = session.connection()  # Core: an ORM insert reports a row even when the conflict skipped it
    for row in rows:
        stmt = (
            ins(table)
            .values(**row)
            .on_conflict_do_nothing(index_elements=["event_key", "route", "recipient"])
            .returning(table.c.id)
        )
        if conn.execute(stmt).first() is not None:
            done.append(row)
    return done


def insert_all(session: Session, rows: list[dict[str, Any]]) -> None:
    """Insert the rows in one statement, skipping any already there (the ingest's path: one
    executemany for a whole batch of new alerts). Runs in the caller's transaction."""
    if not rows:
        return
    dialect = session.get_bind().dialect.name
    ins = postgresql.insert if dialect == "postgresql" else sqlite.insert
    table = Notification.metadata.tables["notifications"]
    stmt = ins(table).on_conflict_do_nothing(index_elements=["event_key", "route", "recipient"])
    session.connection().execute(stmt, rows)


@dataclass(frozen=True)
class Claimed:
    """A notification this worker holds (until ``lease_until_ms``) for one attempt."""

    id: int
    event_key: str
    route: str
    recipient: str
    kind: str
    channel_id: str
    alert_id: str | None
    attempts: int
    payload: dict[str, Any]


def _due(now_ms: int) -> Any:
    return or_(
        and_(Notification.state == PENDING, Notification.next_attempt_ms <= now_ms),
        and_(Notification.state == SENDING, Notification.lease_until_ms < now_ms),
    )


def claim(factory: sessionmaker[Session], now_ms: int, lease_ms: int, limit: int) -> list[Claimed]:
    """Take up to ``limit`` due notifications (pending and due, or sending with a lapsed lease),
    in one transaction: each row by a conditional UPDATE, so of two workers only one wins it (on
    PostgreSQL the loser waits for the winner's commit, then finds the row no longer due)."""
    with factory.begin() as session:
        ids = list(
            session.scalars(
                select(Notification.id)
                .where(_due(now_ms))
                .order_by(Notification.next_attempt_ms)
                .limit(limit)
            )
        )
        won = []
        for nid in ids:
            res = session.execute(
                update(Notification)
                .where(Notification.id == nid, _due(now_ms))
                .values(state=SENDING, lease_until_ms=now_ms + lease_ms, attempts=Notification.attempts + 1)
                .execution_options(synchronize_session=False)
            )
            if res.rowcount == 1:  # type: ignore[attr-defined]
                won.append(nid)  # else another worker won it
        if not won:
            return []
        rows = session.scalars(
            select(Notification).where(Notification.id.in_(won)).order_by(Notification.next_attempt_ms)
        )
        return [
            Claimed(
                row.id, row.event_key, row.route, row.recipient, row.kind,
                row.channel_id, row.alert_id, row.attempts, dict(row.payload),
            )
            for row in rows
        ]  # fmt: skip


def _audit(session: Session, item: Claimed, action: str, now_ms: int, detail: Mapping[str, Any]) -> None:
    session.add(
        AuditEntry(
            ts_ms=now_ms,
            username="notify",
            role="system",
            action=action,
            target=(item.alert_id or item.event_key)[:128],
            detail={
                "notification": item.id,
                "kind": item.kind,
                "channel": item.channel_id,
                "recipient": mask(item.recipient),
                "attempts": item.attempts,
                **detail,
            },
            ip="",
        )
    )


def _mine(item: Claimed) -> Any:
    return and_(
        Notification.id == item.id, Notification.state == SENDING, Notification.attempts == item.attempts
    )


def mark_sent(factory: sessionmaker[Session], item: Claimed, now_ms: int) -> bool:
    """Record a delivery; False when the lease was lost meanwhile (another worker retried it)."""
    with factory.begin() as session:
        res = session.execute(
            update(Notification)
            .where(_mine(item))
            .values(state=SENT, sent_ms=now_ms, lease_until_ms=None, last_error=None)
        )
        if res.rowcount != 1:  # type: ignore[attr-defined]
            return False
        _audit(session, item, "notify_sent", now_ms, {})
    return True


def backoff_ms(attempts: int, base_s: float, max_s: float) -> int:
    """Wait after the ``attempts``-th failed attempt: base, 2·base, 4·base … up to max."""
    return int(min(max_s, base_s * 2 ** max(0, attempts - 1)) * 1000)


def mark_failed(
    factory: sessionmaker[Session],
    item: Claimed,
    error: str,
    now_ms: int,
    max_attempts: int,
    base_s: float,
    max_s: float,
) -> str:
    """Record a failed attempt: pending again after the backoff, or ``failed`` after the last one.
    Returns the new state ('' when the lease was lost)."""
    error = error[:MAX_ERROR_CHARS]
    final = item.attempts >= max_attempts
    state = FAILED if final else PENDING
    with factory.begin() as session:
        res = session.execute(
            update(Notification)
            .where(_mine(item))
            .values(
                state=state,
                last_error=error,
                lease_until_ms=None,
                next_attempt_ms=now_ms + (0 if final else backoff_ms(item.attempts, base_s, max_s)),
            )
        )
        if res.rowcount != 1:  # type: ignore[attr-defined]
            return ""
        if final:
            _audit(session, item, "notify_failed", now_ms, {"error": error})
    return state


def mask(recipient: str) -> str:
    """An address shown to people who are not its owner or an admin: ``zh***@park.cn``, ``138****5678``."""
    if not recipient:
        return ""
    if "@" in recipient:
        name, _, domain = recipient.partition("@")
        return f"{name[:2]}***@{domain}"
    if len(recipient) >= 7:
        return f"{recipient[:3]}****{recipient[-4:]}"
    return "***"
