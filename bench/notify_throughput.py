"""Notifications: what routing costs the ingest, and how fast the worker delivers, same run.

    python bench/notify_throughput.py [--alerts 2000] [--batch 100] [--pg-url postgresql+psycopg://…]

Ingest cost: the same stream of new alert events goes through the ingest's batch path
(``process_batch``, one transaction per ``--batch`` messages, as the MQTT subscriber does)
into a fresh database, once with notifications off (the baseline) and once with two routes on
(every alert to a signed webhook, 重大 ones to a second route): events/s and µs per event
each way, and the difference. Delivery: the notification worker's ``deliver_due`` rounds
(4 senders in parallel, as configured by default) drain the outbox to a local HTTP receiver
(a ThreadingHTTPServer in this process that answers 200): notifications/s from the first claim
to the last row marked sent; every one is checked to have arrived once.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from sqlalchemy import func, select  # noqa: E402

from center.ingest.process import Received, process_batch  # noqa: E402
from center.notify.config import NotifyConfig  # noqa: E402
from center.notify.service import Notifier  # noqa: E402
from center.store import db  # noqa: E402
from center.store.models import Base, Camera, Enterprise, Notification  # noqa: E402
from protocol import AlertEvent, Topic, new_event_id  # noqa: E402

TOPIC = Topic.of("bench", "edge-01", "event")


def payloads(n: int) -> list[bytes]:
    t0 = 1_795_827_600_000
    out = []
    for i in range(n):
        ev = AlertEvent(
            event_id=new_event_id(t0 + i), phase="new", seq=0, site="bench", node="edge-01", camera="cam-01",
            rule_id="r1", rule_type="intrusion", severity="major" if i % 10 == 0 else "significant",
            started_ms=t0 + i, last_ms=t0 + i, count=1, score=0.8,
        )  # fmt: skip
        out.append(ev.model_dump_json().encode())
    return out


class Sink:
    def __init__(self) -> None:
        self.keys: Counter[str] = Counter()
        self.lock = threading.Lock()
        sink = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with sink.lock:
                    sink.keys[self.headers.get("X-ParkGuard-Idempotency-Key", "")] += 1
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *_a: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def fresh(url: str) -> Any:
    engine = db.make_engine(url)
    db.upgrade(engine)
    with engine.begin() as conn:
        for table in reversed(Base.metadata.sorted_tables):
            conn.execute(table.delete())
    factory = db.make_session_factory(engine)
    with factory.begin() as s:
        s.add(Enterprise(id="ent-1", name="毅佳金属", credit_code="91440605MA4UXY127E", industry="machinery",
                         contacts=[], created_ms=0, updated_ms=0))  # fmt: skip
        s.flush()
        s.add(Camera(id="cam-01", enterprise_id="ent-1", node="edge-01", name="厂区主通道", created_ms=0))
    return engine, factory


def ingest(factory: Any, data: list[bytes], batch: int, notifier: Notifier | None) -> float:
    hook = notifier.enqueue_alerts if notifier is not None else None
    t = time.perf_counter()
    for i in range(0, len(data), batch):
        items = [Received(TOPIC, p, j, 1, 0, 1_795_827_600_000) for j, p in enumerate(data[i : i + batch])]
        process_batch(factory, "bench", items, True, None, hook)
    return time.perf_counter() - t


def run(url: str, label: str, n: int, batch: int, sink: Sink) -> None:
    data = payloads(n)
    cfg = NotifyConfig.model_validate(
        {
            "batch": 100,
            "channels": [{"id": "hook", "name": "对接平台", "type": "webhook", "url": f"{sink.url}/in"}],
            "routes": [
                {"id": "all", "name": "全部", "channel": "hook"},
                {"id": "major", "name": "重大", "channel": "hook", "severities": ["major"]},
            ],
        }
    )
    offs, ons = [], []
    for _round in range(2):  # interleaved, the median-of-two of each
        engine, factory = fresh(url)
        offs.append(ingest(factory, data, batch, None))
        engine.dispose()
        engine, factory = fresh(url)
        notifier = Notifier(
            cfg, factory, site_name="bench", base_url="http://127.0.0.1", timezone="Asia/Shanghai"
        )
        notifier.seed()
        ons.append(ingest(factory, data, batch, notifier))
        if _round == 1:
            break
        notifier.close()
        engine.dispose()
    off, on = min(offs), min(ons)
    with factory() as s:
        queued = s.scalar(select(func.count()).select_from(Notification))
    expected = n + len(data[::10])
    assert queued == expected, (queued, expected)
    print(f"{label}: ingest {n} alerts in batches of {batch}: notifications off {n / off:,.0f} events/s "
          f"({off / n * 1e6:.0f} µs/event), on {n / on:,.0f} events/s ({on / n * 1e6:.0f} µs/event), "
          f"+{(on - off) / n * 1e6:.0f} µs/event for {queued} queued")  # fmt: skip
    sink.keys.clear()
    t = time.perf_counter()
    while notifier.deliver_due():
        pass
    took = time.perf_counter() - t
    with factory() as s:
        sent = s.scalar(select(func.count()).select_from(Notification).where(Notification.state == "sent"))
    assert sent == queued and len(sink.keys) == queued and max(sink.keys.values()) == 1
    print(f"{label}: delivered {queued} webhook notifications in {took:.1f} s: {queued / took:,.0f} /s "
          f"(4 senders), each once")  # fmt: skip
    print(f"RESULT {label} ingest_off_eps={n / off:.0f} ingest_on_eps={n / on:.0f} "
          f"cost_us={(on - off) / n * 1e6:.0f} deliver_per_s={queued / took:.0f}")  # fmt: skip
    notifier.close()
    engine.dispose()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--alerts", type=int, default=2000)
    ap.add_argument("--batch", type=int, default=100)
    ap.add_argument("--pg-url", default=None, help="also on this PostgreSQL database (emptied!)")
    args = ap.parse_args()
    sink = Sink()
    with tempfile.TemporaryDirectory() as tmp:
        run(f"sqlite:///{tmp}/bench.db", "SQLite", args.alerts, args.batch, sink)
    if args.pg_url:
        run(args.pg_url, "PostgreSQL", args.alerts, args.batch, sink)


if __name__ == "__main__":
    main()
