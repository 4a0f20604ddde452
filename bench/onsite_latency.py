"""On-site warning latency: from an event's start to its voice playing at the post.

Runs the demo's edge node in-process on the sample footage (``samples/vtest-walkway.mp4``, looping
in real time as a camera) with the demo's junction rule (区域闯入) warning 「危险区域，请勿进入」 on two
local playback sinks: aplay to ALSA's ``null`` device, and the demo's WAV file sink. The broker is
unreachable on purpose (a port nobody listens on): the warnings are local and must not care.

For every event: latency = the first output's playback start − the event's ``started_ms`` (the
capture time of the first frame its condition held on; confirmation, detection, the rule, the queue
and the player are all inside). Same-run baseline: the alert itself, ``new`` message emitted −
``started_ms``. Goal: every warning plays within 2 s of its event's start (issue 20).

    .venv/bin/python bench/onsite_latency.py [--seconds 90]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.edge_common import goal  # noqa: E402
from edge.config import EdgeConfig  # noqa: E402
from edge.config.node import parse_edge_config  # noqa: E402
from edge.node import EdgeNode  # noqa: E402
from protocol import AlertEvent, EventPhase, WarningOutcome, now_ms  # noqa: E402
from tests.support.ports import free_port  # noqa: E402

GOAL_MS = 2000


def bench_config(workdir: Path) -> EdgeConfig:
    data: dict[str, Any] = yaml.safe_load((REPO / "configs" / "demo-edge.yaml").read_text(encoding="utf-8"))
    data.update(
        state_dir=str(workdir / "state"),
        evidence_dir=str(workdir / "ev"),
        metrics_port=0,
        mqtt={"host": "127.0.0.1", "port": free_port()},  # nobody there: the broker is unreachable
        center={},  # no uploads
    )
    data["warning"]["voice"]["cache_dir"] = str(workdir / "voice")
    data["warning"]["outputs"] = [
        {
            "id": "alsa-null",
            "name": "aplay → ALSA null",
            "type": "audio",
            "player": "aplay",
            "device": "null",
        },
        {
            "id": "wav-sink",
            "name": "WAV file sink",
            "type": "audio",
            "player": "file",
            "file": str(workdir / "played.wav"),
        },
    ]
    for rule in data["cameras"][0]["rules"]:
        if rule.get("warning"):
            # every event warns (the rate limit is tested elsewhere): the most samples per minute
            rule["warning"].update(outputs=["alsa-null", "wav-sink"], min_interval_s=0, max_per_hour=3600)
    return parse_edge_config(data, "bench", REPO / "configs")


def pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] if len(values) > 1 else values[0]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=90.0, help="how long the node runs")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="pg-onsite-") as tmp:
        cfg = bench_config(Path(tmp))
        t0 = time.perf_counter()
        node = EdgeNode(cfg)
        print(f"RESULT node_start_s={time.perf_counter() - t0:.1f} (voices made, model loaded)", flush=True)
        emitted: dict[str, int] = {}  # event id → when its new message went out (wall ms)
        finals: dict[str, tuple[AlertEvent, Any]] = {}
        emit = node._emit

        def capture(events: list[AlertEvent]) -> None:
            now = now_ms()
            for ev in events:
                if ev.phase is EventPhase.NEW:
                    emitted[ev.event_id] = now
                if ev.warning is not None and ev.warning.outcome is not WarningOutcome.QUEUED:
                    finals[ev.event_id] = (ev, ev.warning)
            emit(events)

        node._emit = capture  # type: ignore[method-assign]
        runner = threading.Thread(target=node.run, name="node")
        runner.start()
        time.sleep(args.seconds)
        node.stop()
        runner.join(60)
        assert node.warner is not None
        health = node.warner.health()

    lat: dict[str, list[float]] = {}
    first: list[float] = []
    alert: list[float] = []
    overhead: list[float] = []
    outcomes: dict[str, int] = {}
    for eid, (ev, rec) in finals.items():
        outcomes[rec.outcome.value] = outcomes.get(rec.outcome.value, 0) + 1
        played = [o for o in rec.outputs if o.ok and o.ms is not None]
        for o in played:
            lat.setdefault(o.output, []).append(o.ms - ev.started_ms)
        if played:
            first.append(min(o.ms for o in played) - ev.started_ms)
        if eid in emitted:
            alert.append(emitted[eid] - ev.started_ms)
            if played:
                overhead.append(min(o.ms for o in played) - emitted[eid])
    print(
        f"RESULT events_with_warning={len(finals)} outcomes={outcomes} seconds={args.seconds:g}", flush=True
    )
    print(
        f"RESULT warning_health played={health.played} failed={health.failed} "
        f"rate_limited={health.rate_limited} dropped={health.dropped}",
        flush=True,
    )
    if not first:
        print("RESULT no warning played: run longer (--seconds)", flush=True)
        return 1
    for out, values in sorted(lat.items()):
        print(
            f"RESULT output={out} n={len(values)} latency_ms p50={statistics.median(values):.0f} "
            f"p95={pct(values, 95):.0f} max={max(values):.0f}",
            flush=True,
        )
    print(
        f"RESULT baseline alert (new message emitted − started_ms) n={len(alert)} "
        f"p50={statistics.median(alert):.0f} p95={pct(alert, 95):.0f} max={max(alert):.0f} ms",
        flush=True,
    )
    if overhead:  # negative: the voice started before the alert's message left (snapshot, publish)
        print(
            f"RESULT playback − alert emitted: p50={statistics.median(overhead):.0f} "
            f"max={max(overhead):.0f} ms"
        )
    ok = goal("event start → first playback, max (ms)", max(first), GOAL_MS, " ms", higher=False)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
