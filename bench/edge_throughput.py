"""Edge pipeline throughput vs raw ONNX Runtime throughput, measured in the same run.

    python bench/edge_throughput.py [--frames 150] [--rounds 3] [--threads 2] [--spinning on|off]

Raw: ``session.run`` alone on tensors prepared in advance (the ceiling).
Pipeline: decoded frame → BGR → resize/normalise → session.run → decode + NMS → tracker →
rules → events, the per-frame work of the node's loop for one camera (motion gating off; the
frames are decoded beforehand, so H.264 decoding is not in either figure: bench/edge_cameras.py
has it). Raw and pipeline alternate frame by frame so that noise from a shared machine hits
both; the median round of each is reported with the ratio. Goal: ratio >= 0.85.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import sys
import time
from pathlib import Path

import av

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from edge_common import goal, load_bench_detector  # noqa: E402

from edge.config import MotionConfig, load_edge_config  # noqa: E402
from edge.pipeline import CameraAnalyzer, CameraPipeline, tracked_labels  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", type=Path, default=REPO / "configs" / "demo-edge.yaml")
    ap.add_argument("--clip", type=Path, default=REPO / "samples" / "vtest-walkway.mp4")
    ap.add_argument("--frames", type=int, default=150)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument(
        "--threads", type=int, default=None, help="ONNX Runtime intra-op threads (default: config)"
    )
    ap.add_argument("--spinning", choices=["on", "off"], default=None, help="ONNX Runtime thread spinning")
    args = ap.parse_args()

    cfg = load_edge_config(args.config)
    if args.threads is not None:
        cfg.models.threads = args.threads
    cfg.motion = MotionConfig(enabled=False)
    det = load_bench_detector(cfg, None if args.spinning is None else args.spinning == "on")
    det.warmup(3)
    cam = cfg.cameras[0]
    with av.open(str(args.clip)) as c:
        frames = [f for _, f in zip(range(args.frames), c.decode(video=0), strict=False)]
    tensors = [det.adapter.preprocess(f.to_ndarray(format="bgr24"))[0] for f in frames]
    print(
        f"clip {args.clip.name}: {len(frames)} frames {frames[0].width}x{frames[0].height}; "
        f"model {det.model.entry.name} ({det.adapter.width}x{det.adapter.height}); "
        f"threads={cfg.models.threads or 'default'}, spinning={args.spinning or 'default (off)'}",
        flush=True,
    )

    # Interleaved frame by frame, so a neighbour's burst of load hits raw and pipeline alike.
    raw_s, pipe_s = [], []
    for r in range(args.rounds):
        analyzer = CameraAnalyzer(cfg, cam, CameraPipeline(cfg, cam, det.labels, None), tracked_labels(det))
        ts = 1_795_827_600_000
        raw_t = pipe_t = 0.0
        for i, (f, t) in enumerate(zip(frames, tensors, strict=True)):
            t0 = time.perf_counter()
            det.run_raw(t)
            t1 = time.perf_counter()
            img = f.to_ndarray(format="bgr24")
            analyzer.process(ts + i * 100, img, det.detect(img))
            t2 = time.perf_counter()
            raw_t += t1 - t0
            pipe_t += t2 - t1
        raw_s.append(raw_t)
        pipe_s.append(pipe_t)
        print(
            f"round {r + 1}: raw {len(frames) / raw_t:.1f} frames/s, "
            f"pipeline {len(frames) / pipe_t:.1f} frames/s",
            flush=True,
        )
    raw = len(frames) / statistics.median(raw_s)
    pipe = len(frames) / statistics.median(pipe_s)
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"RESULT raw_session_run_fps={raw:.1f} pipeline_fps={pipe:.1f} ratio={pipe / raw:.3f} "
        f"raw_ms={1000 / raw:.1f} pipeline_ms={1000 / pipe:.1f} bench_max_rss_mb={rss_mb:.0f}"
    )
    goal("pipeline/raw, one camera, decoding excluded", pipe / raw, 0.85)


if __name__ == "__main__":
    main()
