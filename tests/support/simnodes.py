"""Simulated edge nodes: the real publisher and outbox (edge/comms), events made up in code.

    python -m tests.support.simnodes --port 1883 --nodes 20 --events 3000 --state DIR --out sent.json

Each node is a :class:`~edge.comms.publisher.Publisher` over its own SQLite
:class:`~edge.comms.outbox.Outbox` (WAL, ``synchronous=FULL``), as in ``parkguard-edge run``;
only the detector is replaced by a loop that makes events. Node ``edge-NN`` watches camera
``cam-NN``; each event sends ``new``, ``update`` and ``end`` (seq 0, 1, 2; the ``new`` carries a
snapshot reference, the ``end`` a clip reference, so evidence lost to out-of-order storing
shows). The nodes run in threads of one process, ``--events`` spread over them, at most
``--rate`` events a second in all (0: as fast as the outboxes take them).

At the end every publisher drains its outbox (each message PUBACKed by the broker) and the
ids sent are written to ``--out``: ``{"events": {event_id: camera}, "messages": n, ...}``.
Progress lines (``sent N/M``) go to stdout, so a test can cut something midway.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import threading
import time
from pathlib import Path

from edge.comms.outbox import Outbox
from edge.comms.publisher import Publisher
from edge.config.mqtt import MqttConfig
from protocol import AlertEvent, TopicKind, new_event_id, now_ms

SITE = "yijia"


def node_name(i: int) -> str:
    return f"edge-{i:02d}"


def camera_name(i: int) -> str:
    return f"cam-{i:02d}"


def _evidence(eid: str, kind: str) -> list[dict[str, object]]:
    sha = hashlib.sha256(f"{eid}/{kind}".encode()).hexdigest()
    mime, size = ("image/jpeg", 4096) if kind == "snapshot" else ("video/mp4", 65536)
    return [{"kind": kind, "sha256": sha, "content_type": mime, "size": size}]


def _event(node: int, eid: str, phase: str, seq: int, t0: int) -> AlertEvent:
    evidence = {"new": _evidence(eid, "snapshot"), "end": _evidence(eid, "clip")}.get(phase, [])
    return AlertEvent.model_validate(
        {
            "event_id": eid,
            "phase": phase,
            "seq": seq,
            "site": SITE,
            "node": node_name(node),
            "camera": camera_name(node),
            "rule_id": "zone-intrusion",
            "rule_type": "intrusion",
            "rule_name": "禁区闯入",
            "severity": "significant",
            "started_ms": t0,
            "last_ms": t0 + 500 * seq,
            "ended_ms": t0 + 1000 if phase == "end" else None,
            "count": 1 + seq,
            "score": 0.8,
            "objects": [{"label": "person", "score": 0.8, "box": [0.1, 0.2, 0.3, 0.6]}],
            "evidence": evidence,
        }
    )


def run(
    port: int, nodes: int, events: int, state: Path, rate: float, host: str = "127.0.0.1", protocol: str = "5"
) -> dict[str, object]:
    pubs: list[Publisher] = []
    for i in range(nodes):
        cfg = MqttConfig.model_validate(
            {"host": host, "port": port, "client_id": f"sim-{node_name(i)}", "protocol": protocol}
        )
        outbox = Outbox(state / node_name(i) / "outbox.db")
        pub = Publisher(cfg, SITE, node_name(i), "sim", [camera_name(i)], outbox, window=100)
        pub.start()
        pubs.append(pub)
    sent: dict[str, str] = {}
    lock = threading.Lock()
    count = [0]
    per_node = [events // nodes + (1 if i < events % nodes else 0) for i in range(nodes)]
    interval = nodes / rate if rate > 0 else 0.0  # seconds between one node's events
    started = time.monotonic()

    def node_loop(i: int) -> None:
        pub = pubs[i]
        nxt = time.monotonic()
        for _ in range(per_node[i]):
            eid = new_event_id()
            t0 = now_ms()
            for seq, phase in enumerate(("new", "update", "end")):
                pub.send(TopicKind.EVENT, _event(i, eid, phase, seq, t0))
            with lock:
                sent[eid] = camera_name(i)
                count[0] += 1
                if count[0] % max(1, events // 200) == 0:
                    print(f"sent {count[0]}/{events}", flush=True)
            if interval:
                nxt += interval
                time.sleep(max(0.0, nxt - time.monotonic()))

    threads = [threading.Thread(target=node_loop, args=(i,), daemon=True) for i in range(nodes)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    produced_s = time.monotonic() - started
    print(f"produced {len(sent)} events in {produced_s:.1f} s; draining outboxes", flush=True)
    drained = all(p.drain(600) for p in pubs)
    acked_s = time.monotonic() - started
    for p in pubs:
        p.stop(drain_s=1)
    print(f"all acked by the broker: {drained} after {acked_s:.1f} s", flush=True)
    return {
        "events": sent,
        "messages": 3 * len(sent),
        "drained": drained,
        "produced_s": round(produced_s, 2),
        "acked_s": round(acked_s, 2),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--nodes", type=int, default=20)
    ap.add_argument("--events", type=int, default=1000)
    ap.add_argument("--protocol", default="5", choices=["5", "3.1.1", "auto"])
    ap.add_argument("--rate", type=float, default=0.0, help="events a second in all (0: unlimited)")
    ap.add_argument("--state", type=Path, required=True, help="folder of the nodes' outboxes")
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args(argv)
    result = run(args.port, args.nodes, args.events, args.state, args.rate, args.host, args.protocol)
    args.out.write_text(json.dumps(result), encoding="utf-8")
    return 0 if result["drained"] else 1


if __name__ == "__main__":
    sys.exit(main())
