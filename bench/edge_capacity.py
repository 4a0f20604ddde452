"""Capacity: how many cameras at 2 analyzed fps each keep p95 frame age (capture → result) < 500 ms.

    python bench/edge_capacity.py [--cameras 4 6 8 10 12] [--fps 2] [--seconds 20] [--threads 2]

Each camera is the sample clip played in real time (10 fps, its own reader thread, like an RTSP
camera). Frame age is measured per analyzed frame from its capture (decode) time to the end of
its rule step. Motion gating is off (the sample moves all the time, so it would skip nothing).
A count is OK when its p95 age is under the limit and it analyzes >= 95 % of the frames asked
for. Capacity = the largest count with every smaller count tried also OK (a count that passes
after a smaller one failed is noise, not capacity). Raw ``session.run`` throughput of the same
model is printed as the baseline of the same run.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from edge_common import NodeRun, goal, load_bench_detector, node_config, raw_fps

from edge.config import MotionConfig


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cameras", type=int, nargs="+", default=[4, 6, 8, 10, 12])
    ap.add_argument("--fps", type=float, default=2.0)
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--limit-ms", type=float, default=500.0)
    ap.add_argument("--spinning", choices=["on", "off"], default=None, help="ONNX Runtime thread spinning")
    args = ap.parse_args()
    best = 0
    failed = False  # capacity = the largest count with every smaller count tried also OK
    largest_ok = 0
    with tempfile.TemporaryDirectory() as tmp:
        spinning = None if args.spinning is None else args.spinning == "on"
        det = load_bench_detector(node_config(1, args.fps, Path(tmp), args.threads), spinning)
        det.warmup(3)
        raw = raw_fps(det)
        print(
            f"model {det.model.entry.name}, threads {args.threads}: raw session.run {raw:.1f} frames/s",
            flush=True,
        )
        for n in sorted(args.cameras):
            cfg = node_config(
                n, args.fps, Path(tmp) / str(n), args.threads, motion=MotionConfig(enabled=False)
            )
            with NodeRun(cfg, det) as run:
                m = run.measure(warmup_s=5.0, seconds=args.seconds)
            ok = m["p95_age_ms"] < args.limit_ms and m["fps"] >= 0.95 * n * args.fps
            failed = failed or not ok
            best = n if ok and not failed else best
            largest_ok = n if ok else largest_ok
            print(
                f"RESULT cameras={n} wanted_fps={n * args.fps:.0f} analyzed_fps={m['fps']:.1f} "
                f"p50_age_ms={m['p50_age_ms']:.0f} p95_age_ms={m['p95_age_ms']:.0f} cpu_s={m['cpu_s']:.1f}/"
                f"{args.seconds:.0f}s {'OK' if ok else 'OVER'}",
                flush=True,
            )
    print(
        f"RESULT capacity={best} cameras at {args.fps:g} fps "
        f"with p95 age < {args.limit_ms:.0f} ms (goal >= 8); largest count OK: {largest_ok}"
        + (" (the most tried: give more --cameras to find the limit)" if best == max(args.cameras) else "")
    )
    goal(f"cameras at {args.fps:g} analyzed fps with p95 frame age < {args.limit_ms:.0f} ms", best, 8)


if __name__ == "__main__":
    main()
