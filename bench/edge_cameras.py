"""Pipeline throughput with 1, 4 and 8 cameras vs raw ``session.run``, measured in the same run.

    python bench/edge_cameras.py [--cameras 1 4 8] [--seconds 15] [--threads 2]

Each camera is the sample clip played in real time (10 fps, decoded by its own reader thread,
like an RTSP camera); a single camera plays it 4× faster (40 fps), else one camera could not
offer more frames than the model can take. The node is asked for more than it can do
(analysis_fps 60 per camera), so its analysed frames per second is its ceiling with that many
cameras: decode, BGR conversion, letterbox, inference, NMS, tracking, rules.
Raw = ``session.run`` alone on prepared tensors,
measured right before and after each node run; the ratio uses their mean.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from edge_common import CLIP, NodeRun, fast_clip, node_config, raw_fps

from edge.config import MotionConfig
from edge.node import load_detector


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cameras", type=int, nargs="+", default=[1, 4, 8])
    ap.add_argument("--seconds", type=float, default=15.0)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        det = load_detector(node_config(1, 30, Path(tmp), args.threads))
        det.warmup(3)
        print(f"model {det.model.entry.name}, intra-op threads {args.threads}", flush=True)
        for n in args.cameras:
            clip = fast_clip(Path(tmp) / "fast.mp4") if n == 1 else CLIP
            cfg = node_config(
                n, 60, Path(tmp) / str(n), args.threads, clip, motion=MotionConfig(enabled=False)
            )
            before = raw_fps(det)
            with NodeRun(cfg, det) as run:
                m = run.measure(warmup_s=4.0, seconds=args.seconds)
            after = raw_fps(det)
            raw = (before + after) / 2
            print(
                f"RESULT cameras={n} source_fps={40 if n == 1 else 10}/camera pipeline_fps={m['fps']:.1f} "
                f"raw_fps={raw:.1f} (before {before:.1f}, "
                f"after {after:.1f}) ratio={m['fps'] / raw:.3f} p50_age_ms={m['p50_age_ms']:.0f} "
                f"min_frames_per_camera={m['min_cam_analysed']}",
                flush=True,
            )


if __name__ == "__main__":
    main()
