"""Camera uptime (center/domain/uptime.py): spans recorded from heartbeats and node status through
the ingest's own functions, online hours over a period checked against figures worked out by hand;
then end to end, heartbeats through a real Mosquitto into the running ingest."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from center.config import MqttConfig
from center.domain import uptime
from center.ingest import upsert
from center.ingest.subscriber import Ingest
from center.store import db
from center.store.models import CameraUptime
from protocol import Heartbeat, NodeState, NodeStatus, Topic
from tests.centerkit import SITE, wait_for

S = 1000
MIN = 60 * S
HOUR = 60 * MIN
T0 = 1_790_000_000_000  # a fixed instant: every figure below is worked out from it


@pytest.fixture
def factory(db_url: str) -> Iterator[sessionmaker[Session]]:
    engine = db.make_engine(db_url)
    db.upgrade(engine)
    yield db.make_session_factory(engine)
    engine.dispose()


def beat(s: Session, node: str, at: int, cams: dict[str, str], interval_s: float = 30.0) -> None:
    hb = Heartbeat(
        site=SITE,
        node=node,
        ts_ms=at,
        uptime_s=0,
        interval_s=interval_s,
        cameras=[
            {"camera": c, "state": st, "fps_in": 10, "fps_out": 5, "infer_ms": 20, "dropped_frames": 0}
            for c, st in cams.items()
        ],
    )
    upsert.apply_heartbeat(s, hb, at)


def status(s: Session, node: str, at: int, state: NodeState) -> None:
    upsert.apply_status(s, NodeStatus(site=SITE, node=node, state=state, ts_ms=at), at)


def spans(s: Session, camera: str) -> list[tuple[int, int, bool]]:
    rows = s.scalars(
        select(CameraUptime).where(CameraUptime.camera == camera).order_by(CameraUptime.start_ms)
    )
    return [(r.start_ms - T0, r.end_ms - T0, r.open) for r in rows]


def test_transitions_make_spans_and_hand_computed_hours(factory: sessionmaker[Session]) -> None:
    # node-a (cam-1, cam-3): a heartbeat a minute (period 30 s: silent for more than 90 s is stale)
    #   cam-1 online 0:00–1:00, stalled at 1:01 (span closes at 1:00), online again 1:30–2:00
    #   cam-3 online all the time 0:00–2:00, but registered at 1:00: counted from then
    #   at 2:00:05 node-a's last will arrives: both spans close at their last heartbeat, 2:00
    # node-b (cam-2): heartbeats 0:00–0:30, silence (center or link down) until 0:40, then to 2:00
    with factory.begin() as s:
        for t in range(0, 2 * HOUR + 1, MIN):
            cam1 = "online" if t <= HOUR or t >= HOUR + 30 * MIN else "stalled"
            beat(s, "node-a", T0 + t, {"cam-1": cam1, "cam-3": "online"})
            if t <= 30 * MIN or t >= 40 * MIN:
                beat(s, "node-b", T0 + t, {"cam-2": "online"})
        status(s, "node-a", T0 + 2 * HOUR + 5 * S, NodeState.OFFLINE)
    with factory() as s:
        assert spans(s, "cam-1") == [(0, HOUR, False), (HOUR + 30 * MIN, 2 * HOUR, False)]
        assert spans(s, "cam-3") == [(0, 2 * HOUR, False)]
        # the silence is longer than 3 periods: a new span, the gap not counted; node-b still open
        assert spans(s, "cam-2") == [(0, 30 * MIN, False), (40 * MIN, 2 * HOUR, True)]
        assert uptime.recording_since(s) == T0
        cams = {"cam-1": T0 - HOUR, "cam-2": T0 - HOUR, "cam-3": T0 + HOUR, "cam-4": T0 - HOUR}
        got = uptime.uptime(s, cams, T0, T0 + 2 * HOUR, now=T0 + 10 * HOUR)
    # by hand: cam-1 1 h + 0.5 h of 2 h = 75.0 %; cam-2 0.5 h + 1 h 20 min of 2 h = 91.7 %;
    # cam-3 1 h of its 1 h = 100.0 %; cam-4 never online: 0.0 %
    u1, u2, u3, u4 = (got[c] for c in ("cam-1", "cam-2", "cam-3", "cam-4"))
    assert u1 is not None and (u1.online_ms, u1.window_ms, u1.pct) == (90 * MIN, 2 * HOUR, 75.0)
    assert u2 is not None and (u2.online_ms, u2.pct, u2.online_hours) == (110 * MIN, 91.7, 1.8)
    assert u3 is not None and (u3.online_ms, u3.window_ms, u3.pct) == (HOUR, HOUR, 100.0)
    assert u4 is not None and (u4.online_ms, u4.pct) == (0, 0.0)
    # all four: (1.5 + 1.8333 + 1 + 0) h of (2 + 2 + 1 + 2) h = 61.9 %
    all4 = uptime.total(got.values())
    assert all4 is not None and all4.pct == 61.9 and all4.window_hours == 7.0
    # a part of the period: 0:30–1:30 → cam-1 30 min, cam-2 from 0:30 (its first span's end) then 0:40–1:30
    with factory() as s:
        part = uptime.online_ms(s, ["cam-1", "cam-2"], T0 + 30 * MIN, T0 + 90 * MIN)
    assert part == {"cam-1": 30 * MIN, "cam-2": 50 * MIN}


def test_a_period_before_any_record_or_before_registration_has_no_figure(
    factory: sessionmaker[Session],
) -> None:
    with factory() as s:
        assert uptime.uptime(s, {"cam-1": T0}, T0, T0 + HOUR, now=T0 + HOUR) == {"cam-1": None}
    with factory.begin() as s:
        beat(s, "node-a", T0 + 5 * HOUR, {"cam-1": "online"})
        beat(s, "node-a", T0 + 5 * HOUR + MIN, {"cam-1": "online"})
        status(s, "node-a", T0 + 5 * HOUR + 2 * MIN, NodeState.STOPPED)  # a clean stop closes it too
    with factory() as s:
        assert spans(s, "cam-1") == [(5 * HOUR, 5 * HOUR + MIN, False)]
        # the period ends before the center recorded anything: no window, no figure
        assert uptime.uptime(s, {"cam-1": T0}, T0, T0 + HOUR, now=T0 + 9 * HOUR) == {"cam-1": None}
        # registered after the period: none; the window starts at the first record otherwise
        late = uptime.uptime(s, {"cam-1": T0 + 8 * HOUR}, T0, T0 + 6 * HOUR, now=T0 + 9 * HOUR)
        assert late == {"cam-1": None}
        got = uptime.uptime(s, {"cam-1": T0}, T0, T0 + 6 * HOUR, now=T0 + 9 * HOUR)["cam-1"]
        assert got is not None and (got.online_ms, got.window_ms) == (MIN, HOUR)


def test_real_heartbeats_through_the_broker_make_spans(db_url: str, mosquitto: Any) -> None:
    """The edge's heartbeat messages, published to a real Mosquitto, read by the running ingest:
    online spans follow them on the center's clock (a short period, so staleness takes a second)."""
    engine = db.make_engine(db_url)
    db.upgrade(engine)
    factory = db.make_session_factory(engine)
    ingest = Ingest(
        MqttConfig(host=mosquitto.host, port=mosquitto.port, client_id=f"t-up-{uuid.uuid4().hex[:6]}"),
        SITE,
        factory,
    )
    ingest.start()
    assert ingest.wait_connected(10)
    time.sleep(0.2)
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"t-edge-{uuid.uuid4().hex[:6]}")
    client.connect(mosquitto.host, mosquitto.port)
    client.loop_start()

    def send(kind: str, msg: Any) -> None:
        client.publish(Topic.of(SITE, "node-e", kind), msg.model_dump_json(), qos=1).wait_for_publish(5)

    def heartbeat(state: str) -> None:
        cam = {
            "camera": "cam-e",
            "state": state,
            "fps_in": 10,
            "fps_out": 5,
            "infer_ms": 20,
            "dropped_frames": 0,
        }
        send("heartbeat", Heartbeat(site=SITE, node="node-e", ts_ms=int(time.time() * 1000), uptime_s=1,
                                    interval_s=0.2, cameras=[cam]))  # fmt: skip

    def rows() -> list[CameraUptime]:
        with factory() as s:
            return list(s.scalars(select(CameraUptime).order_by(CameraUptime.start_ms)))

    try:
        send(
            "status",
            NodeStatus(site=SITE, node="node-e", state=NodeState.ONLINE, ts_ms=int(time.time() * 1000)),
        )
        t0 = time.time()
        for _ in range(6):  # online for about a second
            heartbeat("online")
            time.sleep(0.2)
        first = time.time() - t0
        time.sleep(1.0)  # silent for 5 periods: stale
        for _ in range(4):
            heartbeat("online")
            time.sleep(0.2)
        heartbeat("offline")  # the camera's stream is lost
        wait_for(lambda: len(rows()) == 2 and not rows()[1].open, what="two spans, the second closed")
        a, b = rows()
        assert not a.open and b.start_ms - a.end_ms >= 900  # the silence is not counted
        assert abs((a.end_ms - a.start_ms) - (first - 0.2) * 1000) < 400  # five gaps of 0.2 s
        assert abs((b.end_ms - b.start_ms) - 600) < 400  # four heartbeats: three gaps
        heartbeat("online")
        wait_for(lambda: len(rows()) == 3 and rows()[2].open, what="a new span after the outage")
        send(
            "status",
            NodeStatus(site=SITE, node="node-e", state=NodeState.OFFLINE, ts_ms=int(time.time() * 1000)),
        )
        wait_for(lambda: not rows()[2].open, what="the last will closes it")
        with factory() as s:
            whole = uptime.online_ms(s, ["cam-e"], a.start_ms, rows()[2].end_ms + 1)["cam-e"]
        assert whole == sum(r.end_ms - r.start_ms for r in rows())
        assert whole > 1000
    finally:
        client.loop_stop()
        client.disconnect()
        ingest.stop()
        engine.dispose()
