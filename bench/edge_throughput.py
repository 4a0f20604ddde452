"""Edge pipeline throughput vs raw ONNX Runtime throughput, measured in the same run.

    python bench/edge_throughput.py [--frames 150] [--rounds 3] [--threads 2] [--spinning on|off]

Raw: ``session.run`` alone on tensors prepared in advance (the ceiling).
Pipeline: decoded frame → BGR → resize/normalise → session.run → decode + NMS → tracker →
rules → events, the per-frame work of the node's loop for one camera (motion gating off; the
frames are decoded beforehand, so H.264 decoding is not in either figure: bench/edge_cameras.py
has it). Raw and pipeline alternate frame by frame so that noise from a shared machine hits
both; the median of the rounds' ratios is reported, with the time of each stage per frame.

Two variants of the config's first camera, in the same run: "intrusion" (its intrusion rules
only: the node runs no tracker, goal ratio >= 0.90) and "tracked" (all its rules, the tracker
running for those that read tracks, goal >= 0.85).
"""

from __future__ import annotations

import argparse
import resource
import statistics
import sys
import time
from pathlib import Path

import av
import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from edge_common import goal, load_bench_detector  # noqa: E402

from edge.config import CameraConfig, EdgeConfig, MotionConfig, load_edge_config  # noqa: E402
from edge.detect.detector import Detector  # noqa: E402
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

    intrusion = cam.model_copy(update={"rules": [r for r in cam.rules if r.type == "intrusion"]})
    for name, variant, target in (("intrusion", intrusion, 0.90), ("tracked", cam, 0.85)):
        measure(name, target, cfg, variant, det, frames, tensors, args.rounds)


def measure(
    name: str,
    target: float,
    cfg: EdgeConfig,
    cam: CameraConfig,
    det: Detector,
    frames: list[av.VideoFrame],
    tensors: list[np.ndarray],
    rounds: int,
) -> None:
    """Raw and pipeline interleaved frame by frame, so a neighbour's burst of load hits both alike."""
    raw_s, pipe_s, ratios = [], [], []
    stages: dict[str, float] = {}
    for r in range(rounds):
        analyzer = CameraAnalyzer(cfg, cam, CameraPipeline(cfg, cam, det.labels, None), tracked_labels(det))
        if r == 0:
            rules = ", ".join(f"{x.id} ({x.type})" for x in cam.rules)
            print(f"[{name}] rules: {rules}; tracker running: {analyzer.tracker is not None}", flush=True)
        ts = 1_795_827_600_000
        raw_t = pipe_t = 0.0
        for i, (f, t) in enumerate(zip(frames, tensors, strict=True)):
            t0 = time.perf_counter()
            det.run_raw(t)
            t1 = time.perf_counter()
            img = f.to_ndarray(format="bgr24")
            t_img = time.perf_counter()
            dets = det.detect(img)
            frame_stages = {"convert": (t_img - t1) * 1000, **det.last_stage_ms}
            analyzer.process(ts + i * 100, img, dets)
            t2 = time.perf_counter()
            raw_t += t1 - t0
            pipe_t += t2 - t1
            for k, v in (frame_stages | analyzer.last_stage_ms).items():
                stages[k] = stages.get(k, 0.0) + v
        raw_s.append(raw_t)
        pipe_s.append(pipe_t)
        ratios.append(raw_t / pipe_t)
        print(
            f"[{name}] round {r + 1}: raw {len(frames) / raw_t:.1f} frames/s, "
            f"pipeline {len(frames) / pipe_t:.1f} frames/s, ratio {raw_t / pipe_t:.3f}",
            flush=True,
        )
    raw = len(frames) / statistics.median(raw_s)
    pipe = len(frames) / statistics.median(pipe_s)
    ratio = statistics.median(ratios)  # each round's raw and pipeline saw the same load
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    n = len(frames) * rounds
    breakdown = " ".join(f"{k}={v / n:.2f}" for k, v in stages.items())
    print(f"[{name}] ms per frame by stage (mean of {n}): {breakdown}")
    print(
        f"RESULT {name} raw_session_run_fps={raw:.1f} pipeline_fps={pipe:.1f} ratio={ratio:.3f} "
        f"raw_ms={1000 / raw:.1f} pipeline_ms={1000 / pipe:.1f} bench_max_rss_mb={rss_mb:.0f}"
    )
    goal(f"pipeline/raw, one camera, {name}, decoding excluded", ratio, target)


if __name__ == "__main__":
    main()
