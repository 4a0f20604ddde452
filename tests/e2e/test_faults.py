"""Faults with real processes and real Mosquitto: nothing the edge saw is lost or recorded twice.

- the broker is stopped for 30 s while events flow, then started;
- the center is killed with SIGKILL mid-ingest, then started;
- the edge is killed with SIGKILL with events in its outbox, then started.
"""

from __future__ import annotations

import json
import re
import sqlite3
import sys
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import paho.mqtt.client as mqtt
import pytest

from tests.centerkit import register_cameras_at
from tests.support.ports import free_port
from tests.support.procs import ManagedProcess

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
EVENT_LINE = re.compile(r"event (new|update|end) ([0-9a-f-]{36}) seq=(\d+)")


def edge_config(workdir: Path, mqtt_port: int) -> Path:
    path = workdir / "edge.yaml"
    path.write_text(
        f"""site: yijia
node: edge-faults
analysis_fps: 4
heartbeat_s: 1
evidence_dir: ev
state_dir: state
mqtt: {{host: 127.0.0.1, port: {mqtt_port}}}
models: {{manifest: {REPO / "models" / "manifest.yaml"}, threads: 1}}
cameras:
  - id: cam-f
    url: {REPO / "samples" / "vtest-walkway.mp4"}
    zones:
      - {{id: walkway, points: [[0.0, 0.25], [1.0, 0.2], [1.0, 0.75], [0.0, 0.8]]}}
      - {{id: junction, points: [[0.50, 0.50], [0.72, 0.48], [0.80, 0.68], [0.55, 0.70]]}}
    rules:
      - {{id: walkway-crowd, type: intrusion, zone: walkway, min_count: 4, confirm_frames: 2,
         end_after_s: 1, cooldown_s: 0, update_interval_s: 1}}
      - {{id: junction-in, type: intrusion, zone: junction, confirm_frames: 2, end_after_s: 1,
         cooldown_s: 0, update_interval_s: 1}}
""",
        encoding="utf-8",
    )
    return path


class Center:
    def __init__(self, workdir: Path, mqtt_port: int) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        cfg = workdir / "center.yaml"
        cfg.write_text(
            f"""site: yijia
database: {{url: "sqlite:///center.db"}}
mqtt: {{host: 127.0.0.1, port: {mqtt_port}, client_id: faults-center-{uuid.uuid4().hex[:6]}}}
http: {{host: 127.0.0.1, port: {self.port}}}
""",
            encoding="utf-8",
        )
        self.db = workdir / "center.db"
        register_cameras_at(f"sqlite:///{self.db}", {"cam-f": ("edge-faults", "ent-f")})
        self.proc = ManagedProcess(
            [BIN / "parkguard-center", "serve", "--config", cfg],
            name="center",
            log_dir=workdir,
            ready_url=f"{self.url}/api/health",
            ready_timeout=60,
        )

    def records(self) -> dict[str, int]:
        with sqlite3.connect(self.db) as db:
            return dict(db.execute("select event_id, seq from alerts").fetchall())

    def healthy_mqtt(self) -> bool:
        try:
            return httpx.get(f"{self.url}/api/health", timeout=2).json().get("mqtt") == "connected"
        except (httpx.HTTPError, ValueError):
            return False


def edge_messages(edge: ManagedProcess) -> dict[str, int]:
    """event id → highest seq the edge produced (from its log)."""
    out: dict[str, int] = {}
    for line in edge.lines("any"):
        if m := EVENT_LINE.search(line):
            out[m.group(2)] = max(out.get(m.group(2), -1), int(m.group(3)))
    return out


def wait_until(cond: Any, timeout: float, what: str, interval: float = 0.5) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def catch_up(center: Center, produced: dict[str, int], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and center.records() != produced:
        time.sleep(0.5)


def assert_same(produced: dict[str, int], recorded: dict[str, int]) -> None:
    assert produced, "the edge produced no events: the test proves nothing"
    missing = {k: v for k, v in produced.items() if recorded.get(k) != v}
    extra = set(recorded) - set(produced)
    assert not missing and not extra, f"missing/behind {missing}, unexpected {extra}"


def test_broker_outage_30s_loses_nothing(tmp_workdir: Path, mosquitto: Any) -> None:
    center = Center(tmp_workdir, mosquitto.port)
    edge = ManagedProcess(
        [BIN / "parkguard-edge", "run", "--config", edge_config(tmp_workdir, mosquitto.port)],
        name="edge",
        log_dir=tmp_workdir,
        ready_line="running",
        ready_stream="any",
        ready_timeout=60,
        stop_grace=30,
    )
    with center.proc, edge:
        wait_until(lambda: len(edge_messages(edge)) >= 2, 30, "first events")
        mosquitto.stop()
        before = sum(1 for ln in edge.lines("any") if EVENT_LINE.search(ln))
        time.sleep(30)
        during = sum(1 for ln in edge.lines("any") if EVENT_LINE.search(ln)) - before
        assert during > 0, "no event messages were produced while the broker was away"
        mosquitto.start()
        wait_until(center.healthy_mqtt, 30, "center reconnect")
        time.sleep(3)
        assert edge.stop() == 0, edge.log_tail()  # a clean stop ends open events and drains
        produced = edge_messages(edge)
        catch_up(center, produced)
    assert_same(produced, center.records())


def test_center_killed_mid_ingest_loses_nothing(tmp_workdir: Path, mosquitto: Any) -> None:
    center = Center(tmp_workdir, mosquitto.port)
    edge = ManagedProcess(
        [BIN / "parkguard-edge", "run", "--config", edge_config(tmp_workdir, mosquitto.port)],
        name="edge",
        log_dir=tmp_workdir,
        ready_line="running",
        ready_stream="any",
        ready_timeout=60,
        stop_grace=30,
    )
    with center.proc, edge:
        wait_until(lambda: len(center.records()) >= 1, 40, "first records")
        center.proc.kill9()
        time.sleep(8)  # events keep coming; the broker queues them for the center's session
        center.proc.start()
        time.sleep(3)
        assert edge.stop() == 0, edge.log_tail()
        produced = edge_messages(edge)
        catch_up(center, produced)
    assert_same(produced, center.records())


def test_edge_killed_with_a_full_outbox_replays_once(tmp_workdir: Path, mosquitto: Any) -> None:
    cfg = edge_config(tmp_workdir, mosquitto.port)
    mosquitto.stop()  # nowhere to send: everything piles up in the outbox
    edge = ManagedProcess(
        [BIN / "parkguard-edge", "run", "--config", cfg],
        name="edge",
        log_dir=tmp_workdir,
        ready_line="running",
        ready_stream="any",
        ready_timeout=60,
        stop_grace=30,
    )
    with edge:
        wait_until(lambda: len(edge_messages(edge)) >= 3, 40, "events while the broker is down")
        edge.kill9()
    with sqlite3.connect(tmp_workdir / "state" / "outbox.sqlite") as db:
        stored = [json.loads(p) for (p,) in db.execute("select payload from outbox order by id")]
    assert len(stored) >= 3
    stored_keys = [(m["event_id"], m["seq"]) for m in stored]

    mosquitto.start()
    seen: Counter[tuple[str, int]] = Counter()
    order: list[tuple[str, int]] = []
    sub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)

    def on_message(c: mqtt.Client, u: object, msg: mqtt.MQTTMessage) -> None:
        m = json.loads(msg.payload)
        seen[(m["event_id"], m["seq"])] += 1
        order.append((m["event_id"], m["seq"]))

    sub.on_message = on_message
    sub.connect(mosquitto.host, mosquitto.port)
    sub.subscribe("parkguard/v1/yijia/edge-faults/event", qos=1)
    sub.loop_start()
    try:
        center = Center(tmp_workdir, mosquitto.port)
        with center.proc, edge.restart():
            wait_until(lambda: all(k in seen for k in stored_keys), 30, "replay of the outbox")
            assert edge.stop() == 0
        assert all(seen[k] == 1 for k in stored_keys), {k: seen[k] for k in stored_keys if seen[k] != 1}
        assert order[: len(stored_keys)] == stored_keys, "replayed in the order they were stored"
        recorded = center.records()
        for event_id, seq in stored_keys:
            assert recorded.get(event_id, -1) >= seq
    finally:
        sub.loop_stop()
        sub.disconnect()
