"""Center ingest throughput (QoS 1, ack after commit) vs a bare paho subscriber, same run.

    python bench/ingest_throughput.py [--messages 20000] [--pg-url postgresql+psycopg://…]

A private Mosquitto is started on a free port. A publisher process sends the same stream of
valid alert events (each event: new, update, end) at QoS 1 as fast as it can, once for each
consumer: a bare paho subscriber (the baseline: receive only), then the center's ingest on
SQLite, then on PostgreSQL (the machine's server at 127.0.0.1:5432 when it answers, in a
fresh database). Rates are messages per second from the first message received to the last
one committed; every message is checked to have landed (rows and final seq).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import paho.mqtt.client as mqtt
from sqlalchemy.orm import Session, sessionmaker

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from center.broker import mosquitto_binary, write_mosquitto_config  # noqa: E402
from center.config import MqttConfig  # noqa: E402
from center.ingest.subscriber import Ingest  # noqa: E402
from center.store import db as center_db  # noqa: E402
from center.store.models import Camera, Enterprise  # noqa: E402
from protocol import AlertEvent, Topic, new_event_id  # noqa: E402

TOPIC = Topic.of("bench", "edge-01", "event")


def start_broker(work: Path, port: int, inflight: int) -> subprocess.Popen[bytes]:
    """Mosquitto as center/broker.py configures it, plus ``max_inflight_messages``: how many
    QoS 1 messages the broker sends a v3.1.1 client before it waits for PUBACKs (default 20).
    The center acknowledges after its commit, so this bounds how many messages one
    transaction can take."""
    conf = write_mosquitto_config(work, "127.0.0.1", port)
    with conf.open("a", encoding="utf-8") as fh:
        fh.write(f"max_inflight_messages {inflight}\n")
    with contextlib.suppress(LookupError, PermissionError, OSError):
        shutil.chown(work, user="mosquitto")  # as root, mosquitto drops to this user
    binary = mosquitto_binary()
    if binary is None:
        raise SystemExit("mosquitto is not installed")
    with (work / "mosquitto.log").open("ab") as log:
        return subprocess.Popen([binary, "-c", str(conf)], stdout=log, stderr=subprocess.STDOUT)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_payloads(n_messages: int) -> list[bytes]:
    out: list[bytes] = []
    t0 = 1_795_827_600_000
    while len(out) < n_messages:
        eid = new_event_id(t0 + len(out))
        for seq, phase in enumerate(("new", "update", "end")):
            ev = AlertEvent(
                event_id=eid,
                phase=phase,
                seq=seq,
                site="bench",
                node="edge-01",
                camera="cam-01",
                rule_id="r1",
                rule_type="intrusion",
                severity="significant",
                started_ms=t0,
                last_ms=t0 + seq,
                ended_ms=t0 + seq if phase == "end" else None,
                count=1,
                score=0.8,
                objects=[{"label": "person", "score": 0.8, "box": (0.1, 0.2, 0.3, 0.6)}],
            )
            out.append(ev.model_dump_json().encode())
    return out[:n_messages]


def publisher_main(port: int, n: int) -> None:
    """Child process: publish n messages at QoS 1 and wait for every PUBACK."""
    payloads = make_payloads(n)
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"bench-pub-{uuid.uuid4().hex[:6]}")
    client.max_inflight_messages_set(1000)
    client.max_queued_messages_set(0)
    client.connect("127.0.0.1", port)
    client.loop_start()
    infos = [client.publish(TOPIC, p, qos=1) for p in payloads]
    for info in infos:
        info.wait_for_publish(60)
    client.loop_stop()
    client.disconnect()


def publish(port: int, n: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, __file__, "--publish", str(n), "--port", str(port)])


def run_baseline(port: int, n: int) -> float:
    got = 0
    first = last = 0.0
    done = threading.Event()

    def on_message(c: mqtt.Client, u: object, msg: mqtt.MQTTMessage) -> None:
        nonlocal got, first, last
        got += 1
        if got == 1:
            first = time.perf_counter()
        if got == n:
            last = time.perf_counter()
            done.set()

    sub = mqtt.Client(
        mqtt.CallbackAPIVersion.VERSION2, client_id=f"bench-raw-{uuid.uuid4().hex[:6]}", clean_session=False
    )
    sub.on_message = on_message
    sub.connect("127.0.0.1", port)
    sub.subscribe(TOPIC, qos=1)
    sub.loop_start()
    time.sleep(0.3)
    pub = publish(port, n)
    done.wait(600)
    pub.wait()
    sub.loop_stop()
    sub.disconnect()
    return n / (last - first)


def register_camera(factory: sessionmaker[Session], camera: str = "cam-01", node: str = "edge-01") -> None:
    """The center takes events only for cameras registered to the sending node."""
    with factory.begin() as s:
        s.add(
            Enterprise(
                id="bench-ent", name="压测企业", credit_code="91440605MA4UXY127E", industry="machinery",
                contacts=[], created_ms=0, updated_ms=0,
            )
        )  # fmt: skip
        s.flush()
        s.add(Camera(id=camera, enterprise_id="bench-ent", node=node, created_ms=0))


def run_center(port: int, n: int, url: str) -> float:
    engine = center_db.make_engine(url)
    center_db.upgrade(engine)
    factory = center_db.make_session_factory(engine)
    register_camera(factory)
    # no $share group: the center's default (a group would also hand messages to the previous
    # run's persistent session, which is gone, and this run would wait for ever)
    client_id = f"bench-center-{uuid.uuid4().hex[:6]}"
    cfg = MqttConfig(host="127.0.0.1", port=port, client_id=client_id, shared_group=None)
    ingest = Ingest(cfg, "bench", factory)
    ingest.start()
    ingest.wait_connected(10)
    time.sleep(0.5)
    pub = publish(port, n)
    first = None
    deadline = time.monotonic() + 600
    while True:
        total = sum(ingest.counts.values())
        if total and first is None:
            first = time.perf_counter()
        if total >= n:
            break
        if time.monotonic() > deadline:
            raise SystemExit(f"the center took only {total} of {n} messages in 600 s")
        time.sleep(0.002)
    last = time.perf_counter()
    pub.wait()
    ingest.stop()
    with engine.connect() as conn:
        rows, ends = conn.exec_driver_sql(
            "select count(*), sum(case when seq = 2 then 1 else 0 end) from alerts"
        ).one()
    engine.dispose()
    expected = len({json.loads(p)["event_id"] for p in make_payloads(n)})
    assert rows == expected and ends == n // 3, f"not everything landed: {rows} rows, {ends} ended"
    assert ingest.counts.get("quarantined", 0) == 0
    return n / (last - (first or last))


def pg_database(url: str | None) -> tuple[str | None, str | None]:
    """(url of a fresh database, its name to drop) or (None, None) when no server answers."""
    import sqlalchemy as sa

    admin = url or "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
    name = f"parkguard_bench_{uuid.uuid4().hex[:8]}"
    try:
        eng = sa.create_engine(admin, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 3})
        with eng.connect() as c:
            c.exec_driver_sql(f"CREATE DATABASE {name}")
        eng.dispose()
    except Exception as exc:
        print(f"PostgreSQL not available ({type(exc).__name__}); skipping it", flush=True)
        return None, None
    return admin.rsplit("/", 1)[0] + f"/{name}", name


def drop_pg(url: str | None, name: str) -> None:
    import sqlalchemy as sa

    admin = url or "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
    eng = sa.create_engine(admin, isolation_level="AUTOCOMMIT")
    with eng.connect() as c:
        c.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    eng.dispose()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--messages", type=int, default=20_000)
    ap.add_argument(
        "--pg-url",
        default=os.environ.get("PARKGUARD_BENCH_PG_URL"),
        help="admin URL of a PostgreSQL server (default: postgres@127.0.0.1:5432)",
    )
    ap.add_argument(
        "--inflight",
        type=int,
        nargs="+",
        default=[20, 1000],
        help="broker max_inflight_messages settings to run the center with (Mosquitto's default: 20)",
    )
    ap.add_argument("--no-pg", action="store_true", help="SQLite only")
    ap.add_argument("--publish", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.publish:
        publisher_main(args.port, args.publish)
        return
    n = args.messages - args.messages % 3
    work = Path(tempfile.mkdtemp(prefix="parkguard-bench-"))
    results: list[str] = []
    try:
        for inflight in args.inflight:
            port = free_port()
            broker = start_broker(work / f"broker-{inflight}", port, inflight)
            try:
                time.sleep(0.5)
                raw = run_baseline(port, n)
                print(f"[inflight {inflight}] bare paho subscriber: {raw:,.0f} messages/s", flush=True)
                lite = run_center(port, n, f"sqlite:///{work / f'center-{inflight}.db'}")
                print(
                    f"[inflight {inflight}] center ingest, SQLite: {lite:,.0f} messages/s "
                    f"({lite / raw:.2f} of raw)",
                    flush=True,
                )
                line = f"RESULT inflight={inflight} messages={n} raw_fps={raw:.0f} sqlite_fps={lite:.0f}"
                pg_url, pg_name = (None, None) if args.no_pg else pg_database(args.pg_url)
                if pg_url and pg_name:
                    try:
                        pg = run_center(port, n, pg_url)
                        print(
                            f"[inflight {inflight}] center ingest, PostgreSQL: {pg:,.0f} messages/s "
                            f"({pg / raw:.2f} of raw)",
                            flush=True,
                        )
                        line += f" postgres_fps={pg:.0f}"
                    finally:
                        drop_pg(args.pg_url, pg_name)
                results.append(line)
            finally:
                broker.terminate()
                broker.wait(10)
        for line in results:
            print(line)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
