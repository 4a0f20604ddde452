"""The notifier: routes committed alerts into the outbox (inside the ingest's transaction),
escalates unacknowledged alerts, reminds of hazards coming due, sends the daily digests and
delivers what is due. :class:`center.notify.worker.NotifyWorker` calls it in the center process.

Time comes from ``clock`` (epoch ms), so tests decide what time it is.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker

from center.api.alerts.service import alerts_out
from center.auth.policy import READ_ALL
from center.domain.vocabulary import HAZARD_LEVEL_LABELS, AlertStatus, HazardStatus, Role, label
from center.notify import message, outbox
from center.notify.channels import DeliveryError, deliver
from center.notify.config import PERSONAL_TYPES, ChannelIn, NotifyConfig, RouteIn, in_hours, parse_hours
from center.store.models import (
    Alert,
    AuditEntry,
    Enterprise,
    Hazard,
    Notification,
    NotifyChannel,
    NotifyRoute,
    NotifySubscription,
    User,
)
from protocol import Severity, now_ms

log = logging.getLogger(__name__)

Clock = Callable[[], int]
CACHE_S = 5.0
ESCALATION_LOOKBACK_MS = 24 * 3600 * 1000  # alerts older than the last level + this are left alone
DIGEST_MAX_LINES = 100


def channel_model(row: NotifyChannel) -> ChannelIn:
    return ChannelIn.model_validate(
        {**row.settings, "id": row.id, "name": row.name, "type": row.type, "enabled": row.enabled}
    )


def route_model(row: NotifyRoute) -> RouteIn:
    return RouteIn.model_validate(
        {**row.spec, "id": row.id, "name": row.name, "enabled": row.enabled, "channel": row.channel_id}
    )


def channel_row_values(ch: ChannelIn) -> dict[str, Any]:
    settings = ch.model_dump(mode="json", exclude={"id", "name", "type", "enabled"}, exclude_none=True)
    return {"name": ch.name, "type": ch.type, "enabled": ch.enabled, "settings": settings}


def route_row_values(r: RouteIn) -> dict[str, Any]:
    spec = r.model_dump(mode="json", exclude={"id", "name", "enabled", "channel"}, exclude_none=True)
    return {"name": r.name, "enabled": r.enabled, "channel_id": r.channel, "spec": spec}


@dataclass
class _Sub:
    user_id: int
    role: str
    enterprise_id: str | None
    channel_id: str
    address: str
    severities: list[str]
    hazards: bool
    username: str


@dataclass
class Snapshot:
    """Channels, routes and subscriptions as of ``loaded`` (monotonic s)."""

    channels: dict[str, ChannelIn] = field(default_factory=dict)
    routes: list[RouteIn] = field(default_factory=list)
    subs: list[_Sub] = field(default_factory=list)
    loaded: float = 0.0


class Notifier:
    def __init__(
        self,
        config: NotifyConfig,
        factory: sessionmaker[Session],
        *,
        site_name: str,
        base_url: str,
        timezone: str,
        clock: Clock = now_ms,
    ) -> None:
        self.config = config
        self.factory = factory
        self.site_name = site_name
        self.base_url = base_url.rstrip("/")
        self.tz = ZoneInfo(timezone)
        self.clock = clock
        self._snap = Snapshot()
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(config.workers, thread_name_prefix="notify-send")

    # --- configuration ------------------------------------------------------------------

    def seed(self) -> None:
        """Create the config file's channels and routes that the database does not hold yet."""
        now = self.clock()
        with self.factory.begin() as s:
            have = set(s.scalars(select(NotifyChannel.id)))
            for ch in self.config.channels:
                if ch.id not in have:
                    s.add(
                        NotifyChannel(id=ch.id, updated_ms=now, updated_by="config", **channel_row_values(ch))
                    )
            s.flush()
            have_r = set(s.scalars(select(NotifyRoute.id)))
            for r in self.config.routes:
                if r.id not in have_r:
                    s.add(NotifyRoute(id=r.id, updated_ms=now, updated_by="config", **route_row_values(r)))
        for warning in self.config.missing_env():
            log.warning("notify: %s (its deliveries will fail until it is)", warning)
        self.invalidate()

    def invalidate(self) -> None:
        self._snap = Snapshot()

    def snapshot(self) -> Snapshot:
        snap = self._snap
        if snap.loaded and time.monotonic() - snap.loaded < CACHE_S:
            return snap
        with self._lock:
            new = Snapshot(loaded=time.monotonic())
            with self.factory() as s:
                for row in s.scalars(select(NotifyChannel)):
                    try:
                        new.channels[row.id] = channel_model(row)
                    except ValueError as exc:
                        log.error("notify: channel %s in the database is invalid: %s", row.id, exc)
                for rrow in s.scalars(select(NotifyRoute).order_by(NotifyRoute.id)):
                    try:
                        new.routes.append(route_model(rrow))
                    except ValueError as exc:
                        log.error("notify: route %s in the database is invalid: %s", rrow.id, exc)
                q = select(NotifySubscription, User).join(User, User.id == NotifySubscription.user_id)
                for sub, user in s.execute(
                    q.where(NotifySubscription.enabled.is_(True), User.active.is_(True))
                ):
                    new.subs.append(
                        _Sub(
                            user.id,
                            user.role,
                            user.enterprise_id,
                            sub.channel_id,
                            sub.address,
                            list(sub.severities or []),
                            sub.hazards,
                            user.username,
                        )
                    )
            self._snap = new
            return new

    # --- routing ------------------------------------------------------------------------

    def _local(self, ms: int) -> datetime:
        return datetime.fromtimestamp(ms / 1000, self.tz)

    def _quiet_until(self, window: str, now: int) -> int | None:
        """End of the quiet window ``now`` is in (epoch ms), None when it is not in it."""
        local = self._local(now)
        if not in_hours(window, local.time()):
            return None
        _start, end = parse_hours(window)
        until = local.replace(hour=end.hour, minute=end.minute, second=0, microsecond=0)
        if until <= local:
            until += timedelta(days=1)
        return int(until.timestamp() * 1000)

    @staticmethod
    def _sub_sees(sub: _Sub, enterprise_id: str | None) -> bool:
        """Only alerts the subscriber may read reach them (the policy's scope, by role)."""
        if sub.role in {r.value for r in READ_ALL}:
            return True
        return (
            sub.role == Role.ENTERPRISE.value
            and enterprise_id is not None
            and sub.enterprise_id == enterprise_id
        )

    def plan_alert(self, alert: Mapping[str, Any], snap: Snapshot, now: int) -> list[dict[str, Any]]:
        """The outbox rows a newly committed alert (the API's AlertOut as a dict) makes."""
        rows: list[dict[str, Any]] = []
        fields = message.alert_fields(alert, self.site_name, self.base_url, self.tz)
        started = self._local(int(alert["started_ms"])).time()
        eid, ent = alert["event_id"], alert.get("enterprise")
        for r in snap.routes:
            ch = snap.channels.get(r.channel)
            if not r.enabled or ch is None or not ch.enabled:
                continue
            if r.enterprises and ent not in r.enterprises:
                continue
            if r.rule_types and alert["rule_type"] not in r.rule_types:
                continue
            if r.severities and alert["severity"] not in r.severities:
                continue
            if r.cameras and alert["camera"] not in r.cameras:
                continue
            if r.hours and not in_hours(r.hours, started):
                continue
            held = r.quiet_hours and alert["severity"] != Severity.MAJOR
            not_before = self._quiet_until(r.quiet_hours, now) if held and r.quiet_hours else None
            for recipient in r.recipients or [""]:
                key = message.idempotency_key(eid, r.id, recipient)
                rows.append(
                    outbox.new_row(
                        event_key=eid,
                        route=r.id,
                        recipient=recipient,
                        kind="alert",
                        channel_id=ch.id,
                        payload=message.payload(fields, key, "alert", r.subject_template, r.text_template),
                        now_ms=now,
                        alert_id=eid,
                        enterprise_id=ent,
                        state=outbox.HELD if r.digest else outbox.PENDING,
                        not_before_ms=not_before,
                    )
                )
        for sub in snap.subs:
            ch = snap.channels.get(sub.channel_id)
            if ch is None or not ch.enabled or ch.type not in PERSONAL_TYPES:
                continue
            if sub.severities and alert["severity"] not in sub.severities:
                continue
            if not self._sub_sees(sub, ent):
                continue
            route = f"sub:{sub.user_id}"
            key = message.idempotency_key(eid, route, sub.address)
            rows.append(
                outbox.new_row(
                    event_key=eid,
                    route=route,
                    recipient=sub.address,
                    kind="alert",
                    channel_id=ch.id,
                    payload=message.payload(fields, key, "alert"),
                    now_ms=now,
                    alert_id=eid,
                    enterprise_id=ent,
                )
            )
        return rows

    def enqueue_alerts(self, session: Session, alerts: Sequence[Mapping[str, Any]]) -> int:
        """Put the notifications of newly committed alerts into the outbox, in the caller's
        transaction (the ingest's). A routing mistake is logged and skipped, never raised: the
        alert is stored whatever happens to its notifications."""
        if not alerts:
            return 0
        try:
            snap = self.snapshot()
            now = self.clock()
            rows = [row for a in alerts for row in self.plan_alert(a, snap, now)]
        except Exception:
            log.exception(
                "notify: routing %d alert(s) failed; they are stored without notifications", len(alerts)
            )
            return 0
        outbox.insert_all(session, rows)
        return len(rows)

    # --- escalation and reminders ---------------------------------------------------------

    def check_escalations(self) -> int:
        """Enqueue each escalation level an open alert has passed; each level once, recorded in
        the audit log (``alert_escalation``) and as notifications of the alert."""
        levels = self.config.escalation.levels
        if not levels:
            return 0
        snap = self.snapshot()
        now = self.clock()
        first = int(levels[0].after_minutes * 60_000)
        last = int(levels[-1].after_minutes * 60_000)
        done = 0
        with self.factory.begin() as s:
            rows = list(
                s.scalars(
                    select(Alert)
                    .where(
                        Alert.status == AlertStatus.OPEN.value,
                        Alert.severity.in_([v.value for v in self.config.escalation.severities]),
                        Alert.received_ms <= now - first,
                        Alert.received_ms >= now - last - ESCALATION_LOOKBACK_MS,
                    )
                    .order_by(Alert.received_ms)
                    .limit(500)
                )
            )
            if not rows:
                return 0
            named = {a.event_id: a.model_dump(mode="json") for a in alerts_out(s, rows)}
            # when each level already went out (its first row): the next level waits its own gap
            # after the previous one, so an alert first seen late (the center was down, or the
            # alert came in old) climbs the levels at their pace instead of all at once
            sent: dict[tuple[str, str], int] = {
                (a, r): t
                for a, r, t in s.execute(
                    select(Notification.alert_id, Notification.route, func.min(Notification.created_ms))
                    .where(
                        Notification.alert_id.in_([a.event_id for a in rows]),
                        Notification.kind == "escalation",
                    )
                    .group_by(Notification.alert_id, Notification.route)
                )
                if a is not None
            }
            for alert in rows:
                for i, lv in enumerate(levels, start=1):
                    if (alert.event_id, f"esc:{i}") in sent:
                        continue  # this level is done; look at the next
                    if alert.received_ms + lv.after_minutes * 60_000 > now:
                        break
                    prev = sent.get((alert.event_id, f"esc:{i - 1}"))
                    gap = (lv.after_minutes - levels[i - 2].after_minutes) * 60_000 if i > 1 else 0
                    if i > 1 and (prev is None or prev + gap > now):
                        break  # the previous level first, then its gap
                    ch = snap.channels.get(lv.channel)
                    if ch is None:
                        log.error("notify: escalation level %s names no channel %s", lv.name, lv.channel)
                        continue
                    fields = message.alert_fields(
                        named[alert.event_id], self.site_name, self.base_url, self.tz
                    )
                    minutes = f"{lv.after_minutes:g}"
                    fields["level"] = lv.name
                    fields["title"] = f"告警升级至{lv.name}：{fields['severity']}告警{minutes}分钟未确认"
                    route = f"esc:{i}"
                    new = outbox.insert_new(
                        s,
                        [
                            outbox.new_row(
                                event_key=alert.event_id,
                                route=route,
                                recipient=rcpt,
                                kind="escalation",
                                channel_id=ch.id,
                                now_ms=now,
                                alert_id=alert.event_id,
                                enterprise_id=alert.enterprise,
                                payload=message.payload(
                                    fields, message.idempotency_key(alert.event_id, route, rcpt), "escalation"
                                ),
                            )
                            for rcpt in lv.recipients or [""]
                        ],
                    )
                    if new:
                        done += 1
                        s.add(
                            AuditEntry(
                                ts_ms=now,
                                username="notify",
                                role="system",
                                action="alert_escalation",
                                target=alert.event_id,
                                detail={
                                    "level": i,
                                    "name": lv.name,
                                    "after_minutes": lv.after_minutes,
                                    "channel": ch.id,
                                    "recipients": [outbox.mask(r) for r in lv.recipients],
                                },
                                ip="",
                            )
                        )
                        log.info("notify: alert %s escalated to level %d (%s)", alert.event_id, i, lv.name)
                    break  # one level per check: the next waits for its gap after this one
        return done

    def check_hazards(self) -> int:
        """Remind of hazards due within the window (their assignee) or overdue (the assignee and
        the park), once a day each."""
        cfg = self.config.hazard_reminders
        if cfg is None:
            return 0
        snap = self.snapshot()
        now = self.clock()
        day = self._local(now).date().isoformat()
        horizon = now + int(cfg.due_within_hours * 3_600_000)
        park_ch = snap.channels.get(cfg.channel)
        rows: list[dict[str, Any]] = []
        with self.factory.begin() as s:
            hazards = list(
                s.scalars(
                    select(Hazard)
                    .where(Hazard.status != HazardStatus.CLOSED.value, Hazard.deadline_ms <= horizon)
                    .order_by(Hazard.deadline_ms)
                    .limit(1000)
                )
            )
            names = {eid: name for eid, name in s.execute(select(Enterprise.id, Enterprise.name))}
            for h in hazards:
                overdue = h.deadline_ms < now
                kind = "hazard_overdue" if overdue else "hazard_due"
                fields = {
                    "site_name": self.site_name,
                    "title": ("隐患已逾期" if overdue else "隐患即将到期")
                    + f"（{label(HAZARD_LEVEL_LABELS, h.level)}）",
                    "enterprise": names.get(h.enterprise_id, h.enterprise_id),
                    "hazard": h.title,
                    "deadline": message.local_time(h.deadline_ms, self.tz),
                    "link": f"{self.base_url}/hazards?id={h.id}",
                    "event_id": h.code,
                }
                text = "{title}\n企业：{enterprise}\n隐患：{hazard}\n整改期限：{deadline}\n查看：{link}"
                subject = "【{site_name}】{title}：{enterprise} {hazard}"
                event_key = f"hazard:{h.id}"
                targets: list[tuple[str, str, str]] = []  # (route, channel, recipient)
                for sub in snap.subs:
                    if not sub.hazards or sub.channel_id not in snap.channels:
                        continue
                    is_assignee = bool(h.assignee) and sub.username == h.assignee
                    officer = sub.role == Role.ENTERPRISE.value and sub.enterprise_id == h.enterprise_id
                    if is_assignee or (officer and not any(x.username == h.assignee for x in snap.subs)):
                        targets.append((f"{kind}:{day}:u{sub.user_id}", sub.channel_id, sub.address))
                if overdue and park_ch is not None:
                    for rcpt in cfg.park_recipients or [""]:
                        targets.append((f"{kind}:{day}:park", park_ch.id, rcpt))
                if not targets and park_ch is not None:  # nobody to remind by name: the park hears of it
                    for rcpt in cfg.park_recipients or [""]:
                        targets.append((f"{kind}:{day}:park", park_ch.id, rcpt))
                for route, ch_id, rcpt in targets:
                    key = message.idempotency_key(event_key, route, rcpt)
                    rows.append(
                        outbox.new_row(
                            event_key=event_key,
                            route=route,
                            recipient=rcpt,
                            kind=kind,
                            channel_id=ch_id,
                            payload=message.payload(fields, key, kind, subject, text),
                            now_ms=now,
                            enterprise_id=h.enterprise_id,
                        )
                    )
            return len(outbox.insert_new(s, rows))

    def run_digests(self) -> int:
        """After ``digest_time`` (park time), gather each (route, recipient)'s held alerts into one
        message of the day; the held rows become ``digested`` in the same transaction."""
        now = self.clock()
        local = self._local(now)
        hh, mm = (int(x) for x in self.config.digest_time.split(":"))
        if (local.hour, local.minute) < (hh, mm):
            return 0
        day = local.date().isoformat()
        made = 0
        with self.factory.begin() as s:
            held = list(
                s.scalars(
                    select(Notification)
                    .where(Notification.state == outbox.HELD, Notification.created_ms <= now)
                    .order_by(Notification.created_ms)
                    .limit(5000)
                )
            )
            groups: dict[tuple[str, str, str], list[Notification]] = {}
            for n in held:
                groups.setdefault((n.channel_id, n.route, n.recipient), []).append(n)
            for (ch_id, route, rcpt), items in groups.items():
                lines = [
                    f"{i}. {n.payload['fields'].get('time', '')} {n.payload['fields'].get('enterprise', '')} "
                    f"{n.payload['fields'].get('camera', '')} {n.payload['fields'].get('rule', '')}"
                    f"（{n.payload['fields'].get('severity', '')}）"
                    for i, n in enumerate(items[:DIGEST_MAX_LINES], start=1)
                ]
                if len(items) > DIGEST_MAX_LINES:
                    lines.append(f"……另有 {len(items) - DIGEST_MAX_LINES} 条")
                event_key = f"digest:{day}"
                key = message.idempotency_key(event_key, route, rcpt)
                fields = {
                    "site_name": self.site_name,
                    "title": f"每日告警汇总 {day}",
                    "link": f"{self.base_url}/alerts",
                    "event_id": event_key,
                }
                subject = f"【{self.site_name}】每日告警汇总 {day}（{len(items)} 条）"
                body = f"{subject}\n" + "\n".join(lines) + f"\n查看：{self.base_url}/alerts"
                payload = {
                    "kind": "digest",
                    "subject": subject,
                    "text": body,
                    "fields": {**fields, "idempotency_key": key},
                }
                new = outbox.insert_new(
                    s,
                    [
                        outbox.new_row(
                            event_key=event_key,
                            route=route,
                            recipient=rcpt,
                            kind="digest",
                            channel_id=ch_id,
                            payload=payload,
                            now_ms=now,
                        )
                    ],
                )
                if new:  # else today's digest went out already: these wait for tomorrow's
                    made += 1
                    s.execute(
                        update(Notification)
                        .where(Notification.id.in_([n.id for n in items]))
                        .values(state=outbox.DIGESTED, sent_ms=now)
                    )
        return made

    # --- delivery -----------------------------------------------------------------------

    def _send(self, item: outbox.Claimed, channel: ChannelIn | None) -> tuple[outbox.Claimed, str | None]:
        if channel is None:
            return item, f"channel {item.channel_id} no longer exists"
        try:
            deliver(channel, item.recipient, item.payload, self.clock() / 1000)
        except DeliveryError as exc:
            return item, str(exc)
        except Exception as exc:  # a sender's bug must not stop the worker
            log.exception("notify: sender %s crashed", channel.type)
            return item, f"internal error: {type(exc).__name__}"
        return item, None

    def _deliver_one(self, item: outbox.Claimed, channel: ChannelIn | None) -> None:
        """Send one claimed notification and record the outcome (in a sender thread: the
        deliveries of a round and their commits run in parallel)."""
        cfg = self.config
        item, error = self._send(item, channel)
        now = self.clock()
        if error is None:
            if not outbox.mark_sent(self.factory, item, now):
                log.warning("notify: notification %d was sent but its lease had run out", item.id)
            return
        state = outbox.mark_failed(
            self.factory, item, error, now, cfg.max_attempts, cfg.backoff_s, cfg.backoff_max_s
        )
        log.warning(
            "notify: notification %d (%s to %s, attempt %d) failed: %s%s",
            item.id,
            item.channel_id,
            outbox.mask(item.recipient) or "group",
            item.attempts,
            error,
            "; giving up" if state == outbox.FAILED else "; will retry",
        )

    def deliver_due(self) -> int:
        """Claim what is due and deliver it (``workers`` at a time); returns how many were claimed."""
        cfg = self.config
        claimed = outbox.claim(self.factory, self.clock(), int(cfg.lease_s * 1000), cfg.batch)
        if not claimed:
            return 0
        snap = self.snapshot()
        futures = [self._pool.submit(self._deliver_one, c, snap.channels.get(c.channel_id)) for c in claimed]
        for future in as_completed(futures):
            try:
                future.result()
            except Exception:  # a database error while marking: the lease lapses, it is sent again
                log.exception("notify: recording a delivery failed")
        return len(claimed)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
