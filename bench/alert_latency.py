"""Alert latency to the operator's eyes: MQTT publish → the alert's row in the browser's DOM,
p50/p95 (issue 16: goal p95 < 1 s), beside the WebSocket feed's figure from the same run.

    python bench/alert_latency.py [--events 300] [--rate 20] [--postgres]

A private Mosquitto, a real center process (``parkguard-center serve``, SQLite or PostgreSQL) and
Debian's Chromium driven by Playwright, logged in as an operator on the alert list (``/``). This
process publishes ``new`` alert events at QoS 1 at a steady rate; in the page a MutationObserver
stamps each row the moment it is added to ``#alert-rows`` (``performance.timeOrigin +
performance.now()``, the wall clock, same machine), and a bare WebSocket client here stamps the
feed's message. Latency = stamp − the wall clock at publish.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
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

from ingest_throughput import drop_pg, free_port, start_broker  # noqa: E402
from latency import PASSWORD, TOPIC, event, pct, prepare_store, start_center  # noqa: E402

from bench.edge_common import goal  # noqa: E402
from protocol import new_event_id  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
OBSERVE = """() => {
  window.__seen = {};
  const rows = document.getElementById("alert-rows");
  new MutationObserver((list) => {
    const t = performance.timeOrigin + performance.now();
    for (const m of list) for (const n of m.addedNodes) {
      const id = n.dataset && n.dataset.eventId;
      if (id && !(id in window.__seen)) window.__seen[id] = t;
    }
  }).observe(rows, { childList: true });
}"""


GOAL_P95_MS = 1000.0


def run(port: int, url: str, n: int, rate: float, still: bool = False) -> dict[str, list[float]]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        raise SystemExit("needs Playwright: scripts/setup.sh test (pip install -e .[test])") from None

    sent: dict[str, float] = {}
    feed: dict[str, float] = {}
    token = httpx.post(
        f"{url}/api/auth/login", json={"username": "bench-op", "password": PASSWORD}, timeout=10
    ).json()["token"]
    ws = ws_connect(url.replace("http://", "ws://") + f"/ws/alerts?token={token}")
    assert json.loads(ws.recv(10))["type"] == "hello"

    def read_feed() -> None:
        while len(feed) < n:
            try:
                msg = json.loads(ws.recv(30))
            except TimeoutError:
                return
            if msg.get("type") == "alert":
                feed.setdefault(msg["alert"]["event_id"], time.time() * 1000)

    reader = threading.Thread(target=read_feed, daemon=True)
    reader.start()
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_context(viewport={"width": 1440, "height": 900}, locale="zh-CN").new_page()
        page.goto(f"{url}/login?next=/")
        page.fill("#username", "bench-op")
        page.fill("#password", PASSWORD)
        page.click("#submit")
        page.wait_for_url(f"{url}/")
        page.wait_for_function("() => document.getElementById('conn').dataset.state === 'live'")
        if still:  # diagnosis: the same page without the new row's highlight (a repaint per frame)
            page.add_style_tag(content="tr.fresh { animation: none !important; }")
        page.evaluate(OBSERVE)
        pub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"dom-pub-{uuid.uuid4().hex[:6]}")
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
            sent[eid] = time.time() * 1000
            pub.publish(TOPIC, payload, qos=1)
            time.sleep(max(0.0, next_t - time.perf_counter()))
        deadline = time.monotonic() + 30
        seen: dict[str, float] = {}
        while time.monotonic() < deadline:
            seen = page.evaluate("() => window.__seen")
            if len(seen) >= n:
                break
            time.sleep(0.5)
        pub.loop_stop()
        pub.disconnect()
        browser.close()
    reader.join(5)
    ws.close()
    missing = [e for e in sent if e not in seen or e not in feed]
    if missing:
        raise SystemExit(f"{len(missing)} of {n} events never arrived (DOM {len(seen)}, feed {len(feed)})")
    return {
        "feed": [feed[e] - sent[e] for e in sent],
        "dom": [seen[e] - sent[e] for e in sent],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=300)
    ap.add_argument("--rate", type=float, default=20.0, help="events per second")
    ap.add_argument("--pg-url", default=os.environ.get("PARKGUARD_BENCH_PG_URL"), help="PostgreSQL admin URL")
    ap.add_argument("--postgres", action="store_true", help="store in PostgreSQL instead of SQLite")
    ap.add_argument("--still", action="store_true", help="without the new row's highlight (diagnosis)")
    args = ap.parse_args()
    if not Path(CHROMIUM).exists():
        raise SystemExit(f"no Chromium at {CHROMIUM} (Debian package chromium)")
    work = Path(tempfile.mkdtemp(prefix="parkguard-alert-latency-"))
    port = free_port()
    broker = start_broker(work / "broker", port, 1000)
    pg_name = None
    center = None
    try:
        db_url, pg_name = prepare_store(work, args.postgres, args.pg_url)
        center, url = start_center(work, port, db_url)
        lat = run(port, url, args.events, args.rate, args.still)
        store = "PostgreSQL" if args.postgres else "SQLite"
        still = " (row highlight off)" if args.still else ""
        print(
            f"{args.events} events at {args.rate:g}/s, center on {store}, Chromium on the alert list{still}:"
        )
        for name, label in [
            ("feed", "publish → committed → WebSocket feed"),
            ("dom", "publish → row in the browser's DOM"),
        ]:
            v = lat[name]
            print(
                f"  {label:40s} p50 {pct(v, 0.5):7.1f} ms  p95 {pct(v, 0.95):7.1f} ms  "
                f"max {max(v):7.1f} ms  mean {statistics.fmean(v):6.1f} ms"
            )
        dom95 = pct(lat["dom"], 0.95)
        print(
            f"RESULT events={args.events} rate={args.rate:g} db={store.lower()} "
            f"feed_p50_ms={pct(lat['feed'], 0.5):.1f} feed_p95_ms={pct(lat['feed'], 0.95):.1f} "
            f"dom_p50_ms={pct(lat['dom'], 0.5):.1f} dom_p95_ms={dom95:.1f}"
        )
        goal("publish → row in the DOM, p95 (ms)", dom95, GOAL_P95_MS, " ms", higher=False)
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
