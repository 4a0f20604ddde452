"""The center is killed with SIGKILL in the middle of deliveries (the receiver stalls, so the
requests are in flight), then started again: every notification is delivered, and after the
restart each exactly once. Delivery is at-least-once: the requests the receiver had already
taken when the center died come again after the lease, with the same idempotency key, and are
counted here as the duplicates a receiver drops. On SQLite and PostgreSQL."""

from __future__ import annotations

import json
import sys
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import paho.mqtt.client as mqtt
import pytest
from sqlalchemy import text

from center.store import db
from protocol.topics import ROOT
from tests.center.notify.receivers import http_sink
from tests.centerkit import emptied, event, register_cameras_at
from tests.support.ports import free_port
from tests.support.procs import ManagedProcess

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

BIN = Path(sys.executable).parent
N = 12


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def queue_url(request: pytest.FixtureRequest, tmp_workdir: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_workdir / 'center.db'}"
    return emptied(request.getfixturevalue("pg_url"))


def _query(url: str, sql: str) -> list[Any]:
    engine = db.make_engine(url)
    try:
        with engine.connect() as conn:
            return list(conn.execute(text(sql)))
    finally:
        engine.dispose()


def _sent(url: str) -> int:
    return int(_query(url, "select count(*) from notifications where state = 'sent'")[0][0])


def _wait(cond: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = cond()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def test_sigkill_mid_delivery_then_restart_delivers_each_notification_once(
    tmp_workdir: Path, mosquitto: Any, queue_url: str
) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    register_cameras_at(queue_url, {"cam-k": ("edge-k", "ent-k")})
    with http_sink(stall_s=60.0) as sink:
        cfg = tmp_workdir / "center.yaml"
        cfg.write_text(
            f"""site: yijia
database: {{url: "{queue_url}"}}
mqtt: {{host: 127.0.0.1, port: {mosquitto.port}, client_id: notify-kill-{uuid.uuid4().hex[:6]}}}
http: {{host: 127.0.0.1, port: {port}}}
notify:
  poll_s: 0.2
  lease_s: 4
  workers: 4
  channels: [{{id: hook, name: 对接平台, type: webhook, url: "{sink.url}/in", timeout_s: 30}}]
  routes: [{{id: all, name: 全部告警, channel: hook}}]
""",
            encoding="utf-8",
        )
        center = ManagedProcess(
            [BIN / "parkguard-center", "serve", "--config", cfg],
            name="center",
            log_dir=tmp_workdir,
            ready_url=f"{url}/api/health",
            ready_timeout=60,
        )
        with center:
            _wait(
                lambda: httpx.get(f"{url}/api/health", timeout=2).json().get("mqtt") == "connected",
                30,
                "MQTT",
            )
            pub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"pub-{uuid.uuid4().hex[:6]}")
            pub.connect("127.0.0.1", mosquitto.port)
            pub.loop_start()
            topic = f"{ROOT}/yijia/edge-k/event"
            for i in range(N):
                msg = event(
                    str(uuid.uuid4()), node="edge-k", camera="cam-k", started_ms=int(time.time() * 1000) + i
                )
                pub.publish(topic, json.dumps(msg), qos=1).wait_for_publish(5)
            pub.loop_stop()
            pub.disconnect()
            sink.wait(1, timeout=30)  # deliveries are in flight, stalled by the receiver
            time.sleep(0.5)
            center.kill9()
            before = [h.headers["x-parkguard-idempotency-key"] for h in sink.hits]
            sink.stall_s = 0.0
            states = Counter(s for (s,) in _query(queue_url, "select state from notifications"))
            assert sum(states.values()) == N and states["sending"] >= 1, states  # claimed when it died
            center.start()
            _wait(lambda: _sent(queue_url) == N, 60, f"{N} notifications sent after the restart")
        after = [h.headers["x-parkguard-idempotency-key"] for h in sink.hits[len(before) :]]
    rows = _query(queue_url, "select payload from notifications")
    keys = {(p if isinstance(p, dict) else json.loads(p))["fields"]["idempotency_key"] for (p,) in rows}
    alerts = _query(queue_url, "select count(*) from alerts")[0][0]
    assert alerts == N and len(keys) == N
    assert Counter(after) == Counter(keys)  # after the restart: every notification, each exactly once
    assert set(before) <= keys  # before it: only the ones that were in flight
    print(
        f"\nkill-restart ({queue_url.split(':')[0]}): {N} notifications, {len(before)} in flight at SIGKILL "
        f"were delivered again (same idempotency key; a receiver drops them), {N} distinct delivered"
    )
