"""The notification flow on real SQLite and PostgreSQL: alerts committed by ingest are routed
into the outbox in the same transaction (once per event, route and recipient), the worker
delivers them to a real HTTP receiver, a failing channel is retried with backoff and then marked
failed (visible in the API and the audit log), escalation and hazard reminders fire by the
test's clock, quiet hours hold and digests gather, a lapsed lease is taken again."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from center.app import create_app
from center.config import parse_config
from center.ingest.process import Received, process, process_batch
from center.notify import outbox
from center.notify.config import NotifyConfig
from center.notify.service import Notifier
from center.store import db
from center.store.models import Alert, AuditEntry, Hazard, Notification, NotifySubscription, User
from protocol.topics import ROOT
from tests.center.notify.receivers import HttpSink, http_sink
from tests.centerkit import ENT_A, ENT_B, SITE, add_user, bearer, event, login, mini_park

TOPIC = f"{ROOT}/{SITE}/edge-01/event"
# 2026-12-03 15:00 UTC = 23:00 in Asia/Shanghai
T0 = int(datetime(2026, 12, 3, 15, 0, tzinfo=UTC).timestamp() * 1000)
MIN = 60_000


class Clock:
    def __init__(self, now: int) -> None:
        self.now = now

    def __call__(self) -> int:
        return self.now


@dataclass
class Rig:
    factory: sessionmaker[Session]
    notifier: Notifier
    clock: Clock
    sink: HttpSink
    url: str

    def ingest(self, *events: dict[str, Any], batch: bool = False) -> None:
        payloads = [json.dumps(e).encode() for e in events]
        if batch:
            items = [Received(TOPIC, p, i, 1, 0, self.clock.now) for i, p in enumerate(payloads)]
            process_batch(self.factory, SITE, items, False, None, self.notifier.enqueue_alerts)
        else:
            for p in payloads:
                process(self.factory, SITE, TOPIC, p, self.clock.now, None, self.notifier.enqueue_alerts)

    def rows(self, **where: Any) -> list[Notification]:
        with self.factory() as s:
            stmt = select(Notification).order_by(Notification.id)
            for k, v in where.items():
                stmt = stmt.where(getattr(Notification, k) == v)
            return list(s.scalars(stmt))


def _config(sink_url: str, **extra: Any) -> NotifyConfig:
    return NotifyConfig.model_validate(
        {
            "max_attempts": 3,
            "backoff_s": 10,
            "lease_s": 30,
            "channels": [
                {"id": "hook", "name": "对接平台", "type": "webhook", "url": f"{sink_url}/hook"},
                {
                    "id": "sms",
                    "name": "短信",
                    "type": "sms",
                    "url": f"{sink_url}/sms",
                    "sms_body": {"to": "{phone}", "text": "{text}"},
                },
            ],
            **extra,
        }
    )


@pytest.fixture
def rig(db_url: str) -> Iterator[Rig]:
    engine = db.make_engine(db_url)
    db.upgrade(engine)
    factory = db.make_session_factory(engine)
    mini_park(factory)
    with http_sink() as sink:
        yield Rig(factory, None, Clock(T0), sink, db_url)  # type: ignore[arg-type]
    engine.dispose()


def _notifier(rig: Rig, config: NotifyConfig) -> Notifier:
    n = Notifier(config, rig.factory, site_name="毅佳工业园", base_url="https://pg.example.cn",
                 timezone="Asia/Shanghai", clock=rig.clock)  # fmt: skip
    n.seed()
    rig.notifier = n
    return n


def _alert(eid: str, **fields: Any) -> dict[str, Any]:
    base = {"node": "edge-01", "camera": "cam-a1", "started_ms": T0 - 5000}
    return event(eid, **{**base, **fields})


EID = "6f1c1c1e-0000-4a7e-9d1a-00000000000"


def test_ingest_routes_each_alert_once_and_the_worker_delivers(rig: Rig) -> None:
    cfg = _config(
        rig.sink.url,
        routes=[
            {"id": "all", "name": "全部", "channel": "hook"},
            {"id": "b-only", "name": "乙企业", "channel": "hook", "enterprises": [ENT_B]},
            {"id": "major", "name": "重大", "channel": "hook", "severities": ["major"]},
            {"id": "ppe", "name": "安全帽", "channel": "hook", "rule_types": ["missing_ppe"]},
        ],
    )
    n = _notifier(rig, cfg)
    add_user(rig.factory, "officer-a", "enterprise", enterprise_id=ENT_A)
    add_user(rig.factory, "officer-b", "enterprise", enterprise_id=ENT_B)
    add_user(rig.factory, "insurer-1", "insurer", insurer_id="ins-1")
    with rig.factory.begin() as s:
        for name, phone in (
            ("officer-a", "13800000001"),
            ("officer-b", "13800000002"),
            ("insurer-1", "13800000003"),
        ):
            uid = s.scalar(select(User.id).where(User.username == name))
            s.add(_sub(uid, phone))
    n.invalidate()
    rig.ingest(_alert(EID + "1"), _alert(EID + "2", severity="major"))
    rig.ingest(_alert(EID + "1"), _alert(EID + "1", phase="update", seq=1), batch=True)  # replays, an update
    rig.ingest(_alert(EID + "3"), batch=True)
    rows = rig.rows()
    got = sorted((r.alert_id[-1], r.route, r.recipient) for r in rows if r.alert_id)
    assert got == [
        ("1", "all", ""),
        ("1", "sub:" + str(_uid(rig, "officer-a")), "13800000001"),
        ("2", "all", ""),
        ("2", "major", ""),
        ("2", "sub:" + str(_uid(rig, "officer-a")), "13800000001"),
        ("3", "all", ""),
        ("3", "sub:" + str(_uid(rig, "officer-a")), "13800000001"),
    ]  # fmt: skip  (not the other enterprise's officer, not the insurer, not the b-only or ppe routes)
    assert n.deliver_due() == 7
    hits = rig.sink.wait(7)
    keys = [h.headers["x-parkguard-idempotency-key"] for h in hits]
    assert len(set(keys)) == 7
    assert all(r.state == outbox.SENT and r.attempts == 1 for r in rig.rows())
    assert n.deliver_due() == 0
    sms = [h.json() for h in hits if h.path == "/sms"]
    assert {d["to"] for d in sms} == {"13800000001"} and all("甲金属制品有限公司" in d["text"] for d in sms)
    with rig.factory() as s:
        assert s.scalar(select(AuditEntry).where(AuditEntry.action == "notify_sent").limit(1)) is not None


def _sub(uid: int | None, phone: str) -> NotifySubscription:
    assert uid is not None
    return NotifySubscription(
        user_id=uid, channel_id="sms", address=phone, severities=[], hazards=True, enabled=True, updated_ms=T0
    )


def _uid(rig: Rig, name: str) -> int:
    with rig.factory() as s:
        uid = s.scalar(select(User.id).where(User.username == name))
    assert uid is not None
    return uid


def test_failing_channel_is_retried_with_backoff_then_failed_and_shown(rig: Rig) -> None:
    rig.sink.status = 500
    n = _notifier(rig, _config(rig.sink.url, routes=[{"id": "all", "name": "全部", "channel": "hook"}]))
    rig.ingest(_alert(EID + "9"))
    with rig.factory() as s:
        assert s.get(Alert, EID + "9") is not None  # the alert is stored whatever the channel does
    assert n.deliver_due() == 1
    (row,) = rig.rows()
    assert (row.state, row.attempts, row.next_attempt_ms) == ("pending", 1, T0 + 10_000)
    assert "HTTP 500" in (row.last_error or "")
    assert n.deliver_due() == 0  # not due yet
    rig.clock.now += 10_000
    assert n.deliver_due() == 1
    (row,) = rig.rows()
    assert (row.state, row.attempts, row.next_attempt_ms) == ("pending", 2, rig.clock.now + 20_000)  # doubled
    rig.clock.now += 20_000
    assert n.deliver_due() == 1
    (row,) = rig.rows()
    assert (row.state, row.attempts) == ("failed", 3)
    rig.clock.now += 3_600_000
    assert n.deliver_due() == 0
    assert len(rig.sink.hits) == 3

    cfg = parse_config({"site": SITE, "database": {"url": rig.url}}, "test", __import__("pathlib").Path("."))
    app = create_app(cfg, start_ingest=False)
    add_user(rig.factory, "admin1", "admin")
    add_user(rig.factory, "op1", "operator")
    add_user(rig.factory, "ins1", "insurer", insurer_id="ins-1")
    with TestClient(app) as client:
        token = login(client, "admin1")
        failed = client.get("/api/notify/notifications?state=failed", headers=bearer(token)).json()
        assert [(f["state"], f["state_label"], f["attempts"], f["channel_name"]) for f in failed] == [
            ("failed", "发送失败", 3, "对接平台")
        ]
        assert "HTTP 500" in failed[0]["last_error"]
        per_alert = client.get(f"/api/alerts/{EID}9/notifications", headers=bearer(token)).json()
        assert [p["id"] for p in per_alert] == [failed[0]["id"]]
        audit = client.get("/api/audit?action=notify_failed", headers=bearer(token)).json()["items"]
        assert audit and audit[0]["target"] == EID + "9" and "HTTP 500" in audit[0]["detail"]["error"]
        # the admin sends it again
        assert (
            client.post(
                f"/api/notify/notifications/{failed[0]['id']}/retry", headers=bearer(token)
            ).status_code
            == 200
        )
        assert rig.rows()[0].state == "pending" and rig.rows()[0].attempts == 0
        ins = login(client, "ins1")
        assert client.get(f"/api/alerts/{EID}9/notifications", headers=bearer(ins)).status_code == 403


def test_escalation_fires_level_by_level_by_the_test_clock(rig: Rig) -> None:
    cfg = _config(
        rig.sink.url,
        escalation={
            "severities": ["major"],
            "levels": [
                {"name": "值班长", "after_minutes": 5, "channel": "sms", "recipients": ["13900000001"]},
                {
                    "name": "园区安全负责人",
                    "after_minutes": 15,
                    "channel": "sms",
                    "recipients": ["13900000002"],
                },
                {"name": "镇街联系人", "after_minutes": 30, "channel": "hook"},
            ],
        },
    )
    n = _notifier(rig, cfg)
    rig.ingest(_alert(EID + "5", severity="major"), _alert(EID + "6", severity="significant"))
    rig.clock.now = T0 + 4 * MIN + 59_000
    assert n.check_escalations() == 0
    rig.clock.now = T0 + 5 * MIN
    assert n.check_escalations() == 1
    assert n.check_escalations() == 0  # once a level
    rig.clock.now = T0 + 16 * MIN
    assert n.check_escalations() == 1
    esc = rig.rows(kind="escalation")
    assert [(r.alert_id, r.route, r.recipient) for r in esc] == [
        (EID + "5", "esc:1", "13900000001"),
        (EID + "5", "esc:2", "13900000002"),
    ]
    assert "园区安全负责人" in esc[1].payload["subject"] and "15分钟未确认" in esc[1].payload["subject"]
    with rig.factory.begin() as s:  # the operator acknowledges: no further level
        s.execute(update(Alert).where(Alert.event_id == EID + "5").values(status="acknowledged"))
    rig.clock.now = T0 + 31 * MIN
    assert n.check_escalations() == 0
    with rig.factory() as s:
        steps = s.scalars(
            select(AuditEntry).where(AuditEntry.action == "alert_escalation").order_by(AuditEntry.id)
        )
        assert [(a.target, a.detail["level"], a.detail["name"]) for a in steps] == [
            (EID + "5", 1, "值班长"),
            (EID + "5", 2, "园区安全负责人"),
        ]
    assert n.deliver_due() == 2
    assert sorted(h.json()["to"] for h in rig.sink.wait(2)) == ["13900000001", "13900000002"]


def test_an_alert_first_seen_late_climbs_the_levels_at_their_pace(rig: Rig) -> None:
    """The center was down (or the alert came in old): at its first look the alert is 40 minutes
    unacknowledged, past all three levels. Level 1 goes now, level 2 its 10-minute gap after level 1,
    level 3 its 15-minute gap after level 2 — not three messages at once."""
    levels = [
        {"name": "值班长", "after_minutes": 5, "channel": "hook"},
        {"name": "园区安全负责人", "after_minutes": 15, "channel": "hook"},
        {"name": "镇街联系人", "after_minutes": 30, "channel": "hook"},
    ]
    n = _notifier(rig, _config(rig.sink.url, escalation={"severities": ["major"], "levels": levels}))
    rig.ingest(_alert(EID + "7", severity="major"))
    first_look = T0 + 40 * MIN

    def levels_sent() -> list[str]:
        return [r.route for r in rig.rows(kind="escalation")]

    rig.clock.now = first_look
    assert n.check_escalations() == 1 and n.check_escalations() == 0
    assert levels_sent() == ["esc:1"]
    rig.clock.now = first_look + 10 * MIN - 1000
    assert n.check_escalations() == 0
    rig.clock.now = first_look + 10 * MIN
    assert n.check_escalations() == 1 and levels_sent() == ["esc:1", "esc:2"]
    rig.clock.now = first_look + 25 * MIN - 1000
    assert n.check_escalations() == 0
    rig.clock.now = first_look + 25 * MIN
    assert n.check_escalations() == 1 and levels_sent() == ["esc:1", "esc:2", "esc:3"]
    assert n.check_escalations() == 0


def test_hazard_due_reminds_the_assignee_and_overdue_the_park_too(rig: Rig) -> None:
    cfg = _config(rig.sink.url, hazard_reminders={"channel": "hook"})
    n = _notifier(rig, cfg)
    add_user(rig.factory, "zhang", "enterprise", enterprise_id=ENT_A)
    with rig.factory.begin() as s:
        s.add(_sub(_uid(rig, "zhang"), "13700000000"))
        for code, deadline in (
            ("YH-1", T0 + 10 * 3_600_000),
            ("YH-2", T0 - 3_600_000),
            ("YH-3", T0 + 72 * 3_600_000),
        ):
            s.add(Hazard(code=code, enterprise_id=ENT_A, title=f"隐患{code}", level="general", source="ai",
                         status="pending", deadline_ms=deadline, assignee="zhang", created_by="op",
                         created_ms=T0, updated_ms=T0))  # fmt: skip
    n.invalidate()
    assert n.check_hazards() == 3  # YH-1 due: zhang; YH-2 overdue: zhang and the park; YH-3 later
    assert n.check_hazards() == 0  # once a day
    rows = rig.rows()
    got = sorted((r.kind, r.channel_id, r.recipient) for r in rows)
    assert got == [("hazard_due", "sms", "13700000000"), ("hazard_overdue", "hook", ""),
                   ("hazard_overdue", "sms", "13700000000")]  # fmt: skip
    rig.clock.now += 24 * 3_600_000  # the next day: reminded again
    assert n.check_hazards() >= 2


def test_quiet_hours_hold_all_but_major_and_digest_gathers(rig: Rig) -> None:
    cfg = _config(
        rig.sink.url,
        digest_time="08:00",
        routes=[
            {"id": "night", "name": "夜间免打扰", "channel": "hook", "quiet_hours": "22:00-07:00"},
            {
                "id": "daily",
                "name": "每日汇总",
                "channel": "sms",
                "recipients": ["13600000000"],
                "digest": True,
            },
        ],
    )
    n = _notifier(rig, cfg)
    rig.ingest(_alert(EID + "a"), _alert(EID + "b", severity="major"))  # at 23:00 park time
    night = {r.alert_id: r for r in rig.rows(route="night")}
    seven = int(datetime(2026, 12, 3, 23, 0, tzinfo=UTC).timestamp() * 1000)  # 07:00 next day in Shanghai
    assert night[EID + "a"].next_attempt_ms == seven
    assert night[EID + "b"].next_attempt_ms == T0  # 重大 is not held
    assert {r.state for r in rig.rows(route="daily")} == {"held"}
    assert n.deliver_due() == 1  # 重大 at once; the other waits for 07:00, the digest's rows are held
    assert n.run_digests() == 1  # 23:00 is past 08:00: today's digest goes out with both alerts
    (digest,) = rig.rows(kind="digest")
    assert digest.recipient == "13600000000" and digest.event_key == "digest:2026-12-03"
    assert "（2 条）" in digest.payload["subject"] and digest.payload["text"].count("甲金属制品有限公司") == 2
    assert {r.state for r in rig.rows(route="daily", kind="alert")} == {"digested"}
    rig.clock.now += 30 * MIN
    rig.ingest(_alert(EID + "d"))
    assert n.run_digests() == 0  # today's went out: this one waits for tomorrow's
    assert [r.state for r in rig.rows(route="daily", alert_id=EID + "d")] == ["held"]
    rig.clock.now = T0 + 9 * 3_600_000 - MIN  # 07:59 tomorrow
    assert n.run_digests() == 0
    rig.clock.now += MIN
    assert n.run_digests() == 1
    assert n.deliver_due() == 4  # the two digests and the two alerts held over the night
    bodies = [h.json() for h in rig.sink.wait(5)]
    assert sum(1 for b in bodies if "每日告警汇总" in b.get("text", "")) == 2


def test_a_lapsed_lease_is_taken_again_with_the_same_key(rig: Rig) -> None:
    n = _notifier(rig, _config(rig.sink.url, routes=[{"id": "all", "name": "全部", "channel": "hook"}]))
    rig.ingest(_alert(EID + "c"))
    (first,) = outbox.claim(rig.factory, rig.clock.now, 30_000, 10)  # a worker that then dies
    assert outbox.claim(rig.factory, rig.clock.now + 29_000, 30_000, 10) == []  # leased
    rig.clock.now += 30_001
    assert n.deliver_due() == 1
    (hit,) = rig.sink.wait(1)
    assert hit.json()["idempotency_key"] == first.payload["fields"]["idempotency_key"]
    assert outbox.mark_sent(rig.factory, first, rig.clock.now) is False  # the dead worker's claim is stale
    (row,) = rig.rows()
    assert (row.state, row.attempts) == ("sent", 2)
