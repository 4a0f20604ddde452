"""Center ingest against a real broker and a real database (SQLite file and PostgreSQL)."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import psycopg
import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from center.config import CenterConfig, MqttConfig
from center.ingest.registry import CameraRegistry
from center.ingest.subscriber import Ingest
from center.seed import seed
from center.store import db
from center.store.models import Alert, Camera, Node, Quarantine
from edge.config.node import load_edge_config
from protocol import Topic, new_event_id, now_ms
from tests.centerkit import SITE, event, register_cameras, wait_for

REPO = Path(__file__).resolve().parents[3]
OBJ_A = {"label": "person", "score": 0.81, "box": [0.1, 0.2, 0.3, 0.6], "track": 7}
OBJ_B = {"label": "person", "score": 0.93, "box": [0.15, 0.2, 0.35, 0.6], "track": 7}
# the cameras the center has registered: (node that watches it, enterprise)
CAMERAS = {
    "cam-gate": ("node-a", "ent-a"),
    "cam-marker": ("node-a", "ent-a"),
    "cam-yard": ("node-b", "ent-b"),
}
SNAP = {"kind": "snapshot", "sha256": "a" * 64, "content_type": "image/jpeg", "size": 51234}
CLIP = {"kind": "clip", "sha256": "b" * 64, "content_type": "video/mp4", "size": 912345}


class Publisher:
    def __init__(self, host: str, port: int) -> None:
        self.client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2, client_id=f"test-pub-{uuid.uuid4().hex[:8]}"
        )
        self.client.connect(host, port)
        self.client.loop_start()

    def send(
        self, payload: dict[str, Any] | bytes, node: str = "node-a", kind: str = "event", **kw: Any
    ) -> None:
        topic = kw.pop("topic", None) or Topic.of(SITE, node, kind)
        data = payload if isinstance(payload, bytes) else json.dumps(payload, ensure_ascii=False).encode()
        info = self.client.publish(topic, data, qos=1, **kw)
        info.wait_for_publish(5)

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


class Center:
    """A running ingest plus the database it writes to."""

    def __init__(self, url: str, host: str, port: int) -> None:
        self.engine: Engine = db.make_engine(url)
        db.upgrade(self.engine)
        self.factory: sessionmaker[Session] = db.make_session_factory(self.engine)
        register_cameras(self.factory, CAMERAS)
        self.mqtt = MqttConfig(host=host, port=port, client_id=f"test-center-{uuid.uuid4().hex[:8]}")
        self.changes: list[dict[str, Any]] = []
        self.ingest = self.start()

    def start(self) -> Ingest:
        ingest = Ingest(self.mqtt, SITE, self.factory, on_alert=self.changes.append)
        ingest.start()
        assert ingest.wait_connected(10), "ingest did not connect to the broker"
        time.sleep(0.2)  # let the SUBSCRIBE reach the broker
        return ingest

    def alert(self, event_id: str) -> Alert | None:
        with self.factory() as s:
            return s.get(Alert, event_id)

    def count(self, model: type[Any]) -> int:
        with self.factory() as s:
            return s.scalar(select(func.count()).select_from(model)) or 0

    def quarantine(self) -> list[Quarantine]:
        with self.factory() as s:
            return list(s.scalars(select(Quarantine).order_by(Quarantine.id)))


@pytest.fixture
def center(db_url: str, mosquitto: Any) -> Iterator[Center]:
    c = Center(db_url, mosquitto.host, mosquitto.port)
    yield c
    c.ingest.stop()
    c.engine.dispose()


@pytest.fixture
def pub(mosquitto: Any) -> Iterator[Publisher]:
    p = Publisher(mosquitto.host, mosquitto.port)
    yield p
    p.close()


def test_new_update_end_merge_into_one_row(center: Center, pub: Publisher) -> None:
    eid = new_event_id()
    pub.send(event(eid, objects=[OBJ_A], evidence=[SNAP]))
    pub.send(event(eid, "update", 1, count=3, score=0.95, severity="major", objects=[OBJ_B]))
    pub.send(event(eid, "end", 2, count=2, ended_ms=1_750_000_009_000, evidence=[CLIP]))

    row = wait_for(
        lambda: (a := center.alert(eid)) is not None and a.phase == "end" and a, what="end applied"
    )
    assert center.count(Alert) == 1
    assert (row.seq, row.phase, row.count, row.score, row.severity) == (2, "end", 2, 0.8, "major")
    assert row.started_ms == 1_750_000_000_000
    assert row.last_ms == 1_750_000_002_000
    assert row.ended_ms == 1_750_000_009_000
    assert row.objects == [OBJ_B]  # the end carried none: the last ones seen are kept
    assert [e["kind"] for e in row.evidence] == ["snapshot", "clip"]
    assert row.rule_name == "大门禁区"
    # the live feed is told after the commit: wait for its third change rather than race it
    wait_for(lambda: len(center.changes) >= 3, what="three changes on the live feed")
    assert [c["phase"] for c in center.changes] == ["new", "update", "end"]
    assert center.changes[-1]["ended_at"] == "2025-06-15T15:06:49.000Z"
    assert center.count(Quarantine) == 0


def test_the_warning_played_at_the_post_is_stored_and_kept(center: Center, pub: Publisher) -> None:
    from center.api.alerts.schemas import AlertOut

    queued = {
        "outcome": "queued",
        "message": "请佩戴安全帽",
        "reason": "the rule's event started",
        "decided_ms": 1_750_000_000_600,
    }
    speaker = {
        "output": "yard-01",
        "name": "厂区扬声器",
        "kind": "speaker_http",
        "ok": True,
        "ms": 1_750_000_001_200,
    }
    played = {**queued, "outcome": "played", "outputs": [speaker]}
    eid = new_event_id()
    pub.send(event(eid, warning=queued))
    pub.send(event(eid, "update", 1, warning=played))
    pub.send(event(eid, "update", 2))  # a message without it keeps it
    pub.send(event(eid, "update", 3, warning=queued))  # a result once in is not taken back
    row = wait_for(lambda: (a := center.alert(eid)) is not None and a.seq == 3 and a, what="seq 3 applied")
    assert row.warning == {**played, "outputs": [{**speaker, "error": None}]}
    out = AlertOut.model_validate(row)
    assert (out.warning_label, out.warning_outputs) == ("已播放", "扬声器 厂区扬声器")
    plain = new_event_id()
    pub.send(event(plain))
    row = wait_for(lambda: center.alert(plain), what="a plain event")
    assert row.warning is None and AlertOut.model_validate(row).warning_label is None
    assert center.count(Quarantine) == 0


def test_replay_and_older_seq_change_nothing(center: Center, pub: Publisher) -> None:
    eid = new_event_id()
    pub.send(event(eid))
    pub.send(event(eid, "update", 2, count=5, score=0.9))
    wait_for(lambda: (a := center.alert(eid)) is not None and a.seq == 2, what="seq 2 applied")
    before = center.alert(eid)
    assert before is not None

    pub.send(event(eid, "update", 1, count=99, score=0.1))  # out of order, older
    pub.send(event(eid))  # replay of the new
    pub.send(event(eid, "update", 2, count=42))  # replay of seq 2 with other content
    marker = new_event_id()
    pub.send(event(marker, camera="cam-marker"))
    wait_for(lambda: center.alert(marker), what="marker stored")  # one subscriber: in order

    after = center.alert(eid)
    assert after is not None
    assert (after.seq, after.count, after.score, after.updated_ms) == (2, 5, 0.9, before.updated_ms)
    assert center.ingest.counts.get("unchanged") == 3
    assert len([c for c in center.changes if c["event_id"] == eid]) == 2
    assert center.count(Alert) == 2


def test_update_before_new_creates_the_row(center: Center, pub: Publisher) -> None:
    eid = new_event_id()
    pub.send(event(eid, "update", 3, count=4, objects=[OBJ_A]))
    pub.send(event(eid))  # the late 'new'
    marker = new_event_id()
    pub.send(event(marker, camera="cam-marker"))
    wait_for(lambda: center.alert(marker), what="marker stored")

    row = center.alert(eid)
    assert row is not None
    assert (row.phase, row.seq, row.count, row.objects) == ("update", 3, 4, [OBJ_A])


def test_an_older_message_still_adds_its_evidence_and_warning_result(center: Center, pub: Publisher) -> None:
    """Replicas splitting the ingest store one event's messages in any order: the end first, then
    the new with the snapshot and an update with the clip and the warning's result. The newest seq
    keeps phase, count and objects; the older ones add evidence, severity and the result."""
    played = {"outcome": "played", "message": "请离开", "reason": "r", "decided_ms": 1_750_000_000_600}
    eid = new_event_id()
    pub.send(
        event(eid, "end", 3, count=2, ended_ms=1_750_000_009_000, warning={**played, "outcome": "queued"})
    )
    pub.send(event(eid, objects=[OBJ_A], evidence=[SNAP]))
    pub.send(event(eid, "update", 1, severity="major", evidence=[SNAP, CLIP], warning=played, count=9))
    pub.send(event(eid, "update", 2, evidence=[CLIP]))  # adds nothing new: unchanged
    marker = new_event_id()
    pub.send(event(marker, camera="cam-marker"))
    wait_for(lambda: center.alert(marker), what="marker stored")  # one subscriber: in order

    row = center.alert(eid)
    assert row is not None
    assert (row.phase, row.seq, row.count, row.ended_ms) == ("end", 3, 2, 1_750_000_009_000)
    assert [e["kind"] for e in row.evidence] == ["snapshot", "clip"]
    assert row.severity == "major"
    assert row.warning is not None and row.warning["outcome"] == "played"
    assert row.last_ms == 1_750_000_003_000
    assert center.ingest.counts.get("updated") == 2 and center.ingest.counts.get("unchanged") == 1


def test_malformed_payloads_are_quarantined_and_ingest_goes_on(center: Center, pub: Publisher) -> None:
    eid = new_event_id()
    pub.send(b"{not json")
    pub.send(b"\xff\xfe\x00garbage")
    pub.send({**event(eid, score=5), "seq": "abc"})  # wrong type / out of range
    pub.send(event(new_event_id(), site="other-park"))  # payload site differs from the topic's
    pub.send(event(new_event_id(), node="node-b"))  # payload node differs from the topic's
    pub.send(b"{" + b" " * (1024 * 1024) + b"}")  # 1 MiB
    pub.send(event(new_event_id(), phase="end", seq=1))  # an 'end' without ended_ms
    pub.send(event(new_event_id(), extra_field=1))  # unknown field
    pub.send(event(new_event_id()), topic="parkguard/v1/yijia/bad node/event")
    pub.send(event(new_event_id(), site="otherpark"), topic=Topic.of("otherpark", "node-a", "event"))
    pub.send(b"[1, 2, 3]", kind="heartbeat")

    good = new_event_id()
    pub.send(event(good))
    wait_for(lambda: center.alert(good), what="a valid event after the bad ones")
    rows = wait_for(lambda: len(q := center.quarantine()) >= 11 and q, what="11 quarantined")

    reasons = [r.reason for r in rows]
    expected = [
        "payload is not valid JSON",
        "payload is not UTF-8 text",
        "seq: Input should be a valid integer",
        "payload site other-park does not match topic site yijia",
        "payload node node-b does not match topic node node-a",
        "payload too large: 1048578 bytes",
        "an 'end' message needs ended_ms",
        "extra_field: Extra inputs are not permitted",
        "not a ParkGuard v1 event/status/heartbeat topic",
        "site otherpark is not this center's site yijia",
        "Heartbeat: (message): Input should be an object",
    ]
    for reason, fragment in zip(reasons, expected, strict=True):
        assert fragment in reason, (fragment, reason)
    assert "score: Input should be less than or equal to 1 (got 5)" in reasons[2]
    huge = rows[5]
    assert huge.payload_size == 1048578 and len(huge.payload) == 64 * 1024
    assert rows[0].payload == b"{not json"
    assert center.count(Alert) == 1


def test_status_and_heartbeat_update_nodes(center: Center, pub: Publisher) -> None:
    t = now_ms()
    birth = {
        "site": SITE,
        "node": "node-a",
        "state": "online",
        "ts_ms": t,
        "software": "parkguard-edge 0.1.0",
    }
    birth["cameras"] = ["cam-gate", "cam-yard"]
    pub.send(birth, kind="status")
    camera = {"camera": "cam-gate", "state": "online", "fps_in": 10, "fps_out": 5, "infer_ms": 31.5}
    beat = {"site": SITE, "node": "node-a", "ts_ms": t + 5000, "uptime_s": 5, "cameras": [camera]}
    beat["cameras"][0]["dropped_frames"] = 0
    pub.send(beat, kind="heartbeat")

    def node() -> Node | None:
        with center.factory() as s:
            return s.get(Node, (SITE, "node-a"))

    row = wait_for(lambda: (n := node()) is not None and n.heartbeat is not None and n, what="heartbeat")
    assert (row.state, row.software, row.cameras) == (
        "online",
        "parkguard-edge 0.1.0",
        ["cam-gate", "cam-yard"],
    )
    assert row.last_seen_ms == t + 5000
    assert row.heartbeat["cameras"][0]["fps_in"] == 10

    death = {"site": SITE, "node": "node-a", "state": "offline", "ts_ms": t}  # a last will written at connect
    pub.send(death, kind="status")
    wait_for(lambda: (n := node()) is not None and n.state == "offline", what="last will applied")
    pub.send(b"", kind="status", retain=True)  # clearing a retained status is not an error
    marker = new_event_id()
    pub.send(event(marker))
    wait_for(lambda: center.alert(marker), what="marker stored")
    assert center.count(Quarantine) == 0


def test_messages_sent_while_center_is_down_arrive_after_restart(center: Center, pub: Publisher) -> None:
    center.ingest.stop()
    eid = new_event_id()
    pub.send(event(eid))  # the broker keeps it in the center's persistent session
    center.ingest = center.start()
    wait_for(lambda: center.alert(eid), what="queued event delivered after restart")


def _hold_write_lock(url: str) -> tuple[Callable[[], None], threading.Event]:
    """Lock the alerts table from outside SQLAlchemy; return (release, locked)."""
    locked, release = threading.Event(), threading.Event()
    parsed = make_url(url)

    def hold() -> None:
        if parsed.get_backend_name() == "sqlite":
            conn = sqlite3.connect(parsed.database or "", isolation_level=None)
            conn.execute("BEGIN EXCLUSIVE")
        else:
            conn = psycopg.connect(parsed.set(drivername="postgresql").render_as_string(hide_password=False))
            conn.execute("LOCK TABLE alerts IN ACCESS EXCLUSIVE MODE")
        locked.set()
        release.wait(30)
        conn.rollback()
        conn.close()

    threading.Thread(target=hold, daemon=True).start()
    assert locked.wait(10)
    return release.set, locked


def test_a_message_is_acked_only_after_commit(center: Center, pub: Publisher, db_url: str) -> None:
    release, _ = _hold_write_lock(db_url)
    eid = new_event_id()
    pub.send(event(eid))
    time.sleep(0.5)  # the worker now waits on the lock, holding the message un-acked
    center.ingest.stop(timeout=0.5)  # the center goes away before its commit
    release()
    center.ingest = center.start()  # same client id: the broker redelivers what was not acked
    wait_for(lambda: center.ingest.counts, what="the un-acked message redelivered")
    wait_for(lambda: center.alert(eid), what="event stored")
    assert center.count(Alert) == 1


def test_reconnects_after_broker_restart(center: Center, mosquitto: Any) -> None:
    mosquitto.stop()
    wait_for(lambda: not center.ingest.connected, what="disconnect noticed")
    mosquitto.start()
    wait_for(lambda: center.ingest.connected, timeout=20, what="reconnected")
    time.sleep(0.3)
    pub = Publisher(mosquitto.host, mosquitto.port)
    try:
        eid = new_event_id()
        pub.send(event(eid))
        wait_for(lambda: center.alert(eid), what="event after reconnect")
    finally:
        pub.close()


def test_default_subscription_survives_a_broker_restart_while_the_center_is_away(
    center: Center, mosquitto: Any
) -> None:
    """Regression: with ``$share`` Mosquitto 2.0 forgot the center's subscription over a broker
    restart, and what the edges published before the center came back was lost. The default
    (no shared group) is a plain persistent subscription, which the broker keeps on disk."""
    assert center.mqtt.shared_group is None
    center.ingest.stop()  # the center is away: its session (and subscription) stays on the broker
    mosquitto.restart()  # persistence on: a clean stop writes the sessions to disk
    pub = Publisher(mosquitto.host, mosquitto.port)
    try:
        ids = [new_event_id() for _ in range(20)]
        for eid in ids:
            pub.send(event(eid))  # published before the center reconnects
    finally:
        pub.close()
    center.ingest = center.start()
    wait_for(lambda: all(center.alert(eid) for eid in ids), timeout=20, what="every event stored")
    assert center.count(Alert) == len(ids)


def test_events_are_attributed_by_the_camera_registry(center: Center, pub: Publisher) -> None:
    """A node publishes only for the cameras registered to it; the enterprise is the registry's,
    never the message's; anything else is quarantined with the reason (issue 12, item 6)."""
    foreign = new_event_id()
    pub.send(event(foreign, camera="cam-yard"))  # node-b's camera, sent by node-a
    unknown = new_event_id()
    pub.send(event(unknown, camera="cam-nowhere"))  # not registered at all
    claimed = new_event_id()
    pub.send(event(claimed, enterprise="ent-b"))  # cam-gate is ent-a's, whatever node-a says
    own = new_event_id()
    pub.send(event(own, node="node-b", camera="cam-yard"), node="node-b")
    wait_for(lambda: center.alert(own), what="node-b's own camera stored")
    wait_for(lambda: center.alert(claimed), what="the claimed event stored")
    rows = wait_for(lambda: len(q := center.quarantine()) >= 2 and q, what="2 quarantined")
    assert [r.reason for r in rows] == [
        "camera cam-yard is registered to node node-b, not to node node-a that sent this message",
        "camera cam-nowhere is not registered at the center "
        "(register it with its enterprise and node node-a: POST /api/cameras)",
    ]
    assert center.alert(foreign) is None and center.alert(unknown) is None
    assert center.alert(claimed).enterprise == "ent-a"  # type: ignore[union-attr]
    assert center.alert(own).enterprise == "ent-b"  # type: ignore[union-attr]
    # an update claiming another enterprise does not move a stored alert either
    pub.send(event(claimed, "update", 1, enterprise="ent-b", count=7))
    wait_for(lambda: (a := center.alert(claimed)) is not None and a.seq == 1, what="update applied")
    assert center.alert(claimed).enterprise == "ent-a"  # type: ignore[union-attr]


def test_a_camera_registered_or_moved_while_running_is_seen_at_once(center: Center, pub: Publisher) -> None:
    """The registry is cached; a change committed in this process reloads it before the next message."""
    first = new_event_id()
    pub.send(event(first, camera="cam-new"))
    wait_for(lambda: center.quarantine(), what="an unregistered camera quarantined")
    register_cameras(center.factory, {"cam-new": ("node-a", "ent-b")})
    second = new_event_id()
    pub.send(event(second, camera="cam-new"))
    row = wait_for(lambda: center.alert(second), what="the camera's event after it was registered")
    assert row.enterprise == "ent-b"
    with center.factory.begin() as s:  # moved to node-b: node-a may no longer send for it
        cam = s.get(Camera, "cam-new")
        assert cam is not None
        cam.node = "node-b"
    third = new_event_id()
    pub.send(event(third, camera="cam-new"))
    wait_for(lambda: len(center.quarantine()) == 2, what="the moved camera's event from node-a quarantined")
    assert center.alert(third) is None


@pytest.mark.parametrize("edge_config", ["demo-edge.yaml", "docker-edge.yaml"])
def test_the_seed_registers_every_camera_of_the_shipped_edge_configs(
    db_url: str, tmp_workdir: Path, edge_config: str
) -> None:
    """The demo keeps working: each camera of the bundled edge configs is registered by
    ``parkguard-center seed`` to that config's node, so the center takes its events."""
    edge = load_edge_config(REPO / "configs" / edge_config)
    engine = db.make_engine(db_url)
    db.upgrade(engine)
    factory = db.make_session_factory(engine)
    config = CenterConfig.model_validate({"site": edge.site, "database": {"url": db_url}})
    with factory.begin() as s:
        seed(s, config)
    registry = CameraRegistry(factory)
    try:
        for cam in edge.cameras:
            placed = registry.place(cam.id, edge.node)
            assert not isinstance(placed, str), placed
            assert cam.enterprise in (None, placed.enterprise_id)
    finally:
        engine.dispose()
