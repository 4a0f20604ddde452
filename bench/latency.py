"""Alert latency: MQTT publish → center commit → WebSocket live feed, p50/p95, beside a raw
broker round trip measured on the same messages in the same run.

    python bench/latency.py [--events 300] [--rate 50] [--pg-url postgresql+psycopg://…]

A private Mosquitto and a real center process (``parkguard-center serve``, SQLite or the
given PostgreSQL database) are started. One process here publishes ``new`` alert events at
QoS 1 at a steady rate, and times, for each one, on one clock:

- raw: when a bare paho subscriber (QoS 1) gets it — the broker round trip, the floor;
- feed: when the center's WebSocket feed (``/ws/alerts``, logged in as an operator) sends
  the alert, which it does only after the transaction holding it committed.

``received`` (the center's own ``received_ms``, when its MQTT thread got the message) is
printed too, from the wall clock (same machine, ms resolution).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import httpx
import paho.mqtt.client as mqtt
from websockets.sync.client import connect as ws_connect

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from ingest_throughput import drop_pg, free_port, pg_database, register_camera, start_broker  # noqa: E402

from center.store import db as center_db  # noqa: E402
from protocol import AlertEvent, Topic, new_event_id  # noqa: E402

SITE = "bench"
TOPIC = Topic.of(SITE, "edge-lat", "event")
BIN = Path(sys.executable).parent
PASSWORD = "bench-password-1"


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def start_center(work: Path, mqtt_port: int, db_url: str) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    cfg = work / "center.yaml"
    cfg.write_text(
        f"""site: {SITE}
database: {{url: "{db_url}"}}
mqtt: {{host: 127.0.0.1, port: {mqtt_port}, client_id: lat-center-{uuid.uuid4().hex[:6]}}}
http: {{host: 127.0.0.1, port: {port}}}
""",
        encoding="utf-8",
    )
    env = {**os.environ, "BENCH_PW": PASSWORD}
    log = (work / "center.log").open("ab")
    proc = subprocess.Popen(
        [BIN / "parkguard-center", "serve", "--config", cfg], stdout=log, stderr=subprocess.STDOUT, cwd=work
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/api/health", timeout=1).json().get("mqtt") == "connected":
                break
        except (httpx.HTTPError, ValueError):
            pass
        if proc.poll() is not None:
            raise SystemExit(f"center exited; see {work / 'center.log'}")
        time.sleep(0.3)
    else:
        raise SystemExit("center did not come up in 60 s")
    subprocess.run(
        [BIN / "parkguard-center", "user", "add", "--config", cfg, "--username", "bench-op",
         "--role", "operator", "--password-env", "BENCH_PW"],
        check=True, env=env, cwd=work, capture_output=True,
    )  # fmt: skip
    return proc, url


def event(eid: str, t_ms: int) -> bytes:
    return (
        AlertEvent(
            event_id=eid, phase="new", seq=0, site=SITE, node="edge-lat", camera="cam-lat", rule_id="r-lat",
            rule_type="intrusion", severity="significant", started_ms=t_ms, last_ms=t_ms, count=1, score=0.9,
            objects=[{"label": "person", "score": 0.9, "box": (0.1, 0.2, 0.3, 0.6)}],
        )
        .model_dump_json()
        .encode()
    )  # fmt: skip


def run(port: int, center_url: str, n: int, rate: float) -> dict[str, list[float]]:
    sent: dict[str, float] = {}
    sent_wall: dict[str, int] = {}
    raw: dict[str, float] = {}
    feed: dict[str, float] = {}
    received_ms: dict[str, int] = {}
    all_in = threading.Event()

    def on_raw(_c: mqtt.Client, _u: object, msg: mqtt.MQTTMessage) -> None:
        raw[json.loads(msg.payload)["event_id"]] = time.perf_counter()

    sub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"lat-raw-{uuid.uuid4().hex[:6]}")
    sub.on_message = on_raw
    sub.connect("127.0.0.1", port)
    sub.subscribe(TOPIC, qos=1)
    sub.loop_start()

    token = httpx.post(
        f"{center_url}/api/auth/login", json={"username": "bench-op", "password": PASSWORD}, timeout=10
    ).json()["token"]
    ws = ws_connect(center_url.replace("http://", "ws://") + f"/ws/alerts?token={token}")
    hello = json.loads(ws.recv(10))
    assert hello["type"] == "hello", hello

    def read_feed() -> None:
        while len(feed) < n:
            try:
                msg = json.loads(ws.recv(30))
            except TimeoutError:
                return
            if msg.get("type") == "alert":
                alert = msg["alert"]
                feed.setdefault(alert["event_id"], time.perf_counter())
                received_ms.setdefault(alert["event_id"], alert["received_ms"])
        all_in.set()

    reader = threading.Thread(target=read_feed, daemon=True)
    reader.start()
    pub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"lat-pub-{uuid.uuid4().hex[:6]}")
    pub.connect("127.0.0.1", port)
    pub.loop_start()
    time.sleep(0.5)
    period = 1.0 / rate
    next_t = time.perf_counter()
    for _ in range(n):
        wall = int(time.time() * 1000)
        eid = new_event_id(wall)
        payload = event(eid, wall)
        next_t += period
        sent_wall[eid] = int(time.time() * 1000)
        sent[eid] = time.perf_counter()
        pub.publish(TOPIC, payload, qos=1)
        time.sleep(max(0.0, next_t - time.perf_counter()))
    all_in.wait(30)
    pub.loop_stop()
    pub.disconnect()
    sub.loop_stop()
    sub.disconnect()
    ws.close()
    missing = [e for e in sent if e not in feed or e not in raw]
    if missing:
        raise SystemExit(f"{len(missing)} of {n} events never arrived (raw {len(raw)}, feed {len(feed)})")
    return {
        "raw": [(raw[e] - sent[e]) * 1000 for e in sent],
        "received": [float(received_ms[e] - sent_wall[e]) for e in sent],
        "feed": [(feed[e] - sent[e]) * 1000 for e in sent],
    }


def prepare_store(work: Path, postgres: bool, pg_admin_url: str | None) -> tuple[str, str | None]:
    """The center's database for a latency run, migrated, with the camera the events name:
    (its URL, the PostgreSQL database to drop afterwards or None)."""
    db_url, pg_name = f"sqlite:///{work / 'center.db'}", None
    if postgres:
        pg_url, pg_name = pg_database(pg_admin_url)
        if pg_url is None:
            raise SystemExit("PostgreSQL is not available")
        db_url = pg_url
    engine = center_db.make_engine(db_url)
    center_db.upgrade(engine)
    register_camera(center_db.make_session_factory(engine), "cam-lat", "edge-lat")
    engine.dispose()
    time.sleep(0.5)
    return db_url, pg_name


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=300)
    ap.add_argument("--rate", type=float, default=50.0, help="events per second")
    ap.add_argument("--pg-url", default=os.environ.get("PARKGUARD_BENCH_PG_URL"), help="PostgreSQL admin URL")
    ap.add_argument("--postgres", action="store_true", help="store in PostgreSQL instead of SQLite")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="parkguard-latency-"))
    port = free_port()
    broker = start_broker(work / "broker", port, 1000)
    pg_name = None
    center = None
    try:
        db_url, pg_name = prepare_store(work, args.postgres, args.pg_url)
        center, url = start_center(work, port, db_url)
        lat = run(port, url, args.events, args.rate)
        store = "PostgreSQL" if args.postgres else "SQLite"
        print(f"{args.events} events at {args.rate:g}/s, center on {store}:")
        for name, label in [
            ("raw", "broker round trip (bare paho subscriber)"),
            ("received", "publish → center MQTT thread (received_ms, wall clock)"),
            ("feed", "publish → committed → WebSocket feed"),
        ]:
            v = lat[name]
            print(
                f"  {label:58s} p50 {pct(v, 0.5):7.1f} ms  p95 {pct(v, 0.95):7.1f} ms  "
                f"max {max(v):7.1f} ms  mean {statistics.fmean(v):6.1f} ms"
            )
        print(
            f"RESULT events={args.events} rate={args.rate:g} db={store.lower()} "
            f"raw_p50_ms={pct(lat['raw'], 0.5):.1f} raw_p95_ms={pct(lat['raw'], 0.95):.1f} "
            f"feed_p50_ms={pct(lat['feed'], 0.5):.1f} feed_p95_ms={pct(lat['feed'], 0.95):.1f}"
        )
    finally:
        if center is not None:
            center.terminate()
            center.wait(20)
        broker.terminate()
        broker.wait(10)
        if pg_name:
            drop_pg(args.pg_url, pg_name)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
