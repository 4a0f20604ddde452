"""Motion gating: CPU saved on a still scene, events missed on the moving sample.

    python bench/motion_gating.py [--seconds 20] [--fps 5]

1. Still scene: a node with one camera playing a clip of one real frame repeated (built here with
   PyAV), analyzed at ``--fps``, once with gating off and once on. Figures: detector calls,
   detector time, and the process CPU time of the whole node (readers' decoding included, the
   same in both). Goal: ≥ 3× less inference CPU with gating.
2. Moving sample: the demo camera's rules over the whole sample at ``--fps`` (as ``analyze``
   runs them), with and without gating. Goal: the same events, none missed.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from edge_common import CLIP, REPO, NodeRun, goal, node_config

sys.path.insert(0, str(REPO / "tests"))

from edge.config import MotionConfig, load_edge_config
from edge.detect.detector import load_detector
from edge.pipeline import CameraAnalyzer, CameraPipeline, tracked_labels
from edge.video.stream import iter_file_frames


def still_scene(seconds: float, fps: float, tmp: Path) -> None:
    from test_motion import make_still_clip

    clip = make_still_clip(tmp / "still.mp4", seconds=30.0)
    det = load_detector(node_config(1, fps, tmp, 2, clip).models)
    det.warmup(3)
    res = {}
    for gated in (False, True):
        cfg = node_config(1, fps, tmp / str(gated), 2, clip, motion=MotionConfig(enabled=gated))
        with NodeRun(cfg, det) as run:
            cam = run.node.cameras[0]
            m = run.measure(warmup_s=3.0, seconds=0.0)  # settle, then count from here
            a0, inf0 = cam.analyzed, cam.infer_ms_total
            m = run.measure(warmup_s=0.0, seconds=seconds)
            res[gated] = (cam.analyzed - a0, cam.infer_ms_total - inf0, m["cpu_s"])
        calls, infer_ms, cpu = res[gated]
        print(
            f"RESULT still gating={'on' if gated else 'off'} detector_calls={calls} "
            f"detector_s={infer_ms / 1000:.2f} node_cpu_s={cpu:.2f} over {seconds:g} s",
            flush=True,
        )
    (c0, i0, p0), (c1, i1, p1) = res[False], res[True]
    print(
        f"RESULT still inference_time_ratio={i0 / max(i1, 1e-9):.1f}x calls_ratio={c0 / max(c1, 1):.1f}x "
        f"node_cpu_ratio={p0 / max(p1, 1e-9):.1f}x (goal: >= 3x less inference CPU)",
        flush=True,
    )
    goal("still scene: detector time without gating / with gating", i0 / max(i1, 1e-9), 3.0, "x")
    goal("still scene: node process CPU without gating / with gating", p0 / max(p1, 1e-9), 3.0, "x")


def moving_sample(fps: float) -> None:
    cfg = load_edge_config(REPO / "configs" / "demo-edge.yaml")
    det = load_detector(cfg.models)
    cam = cfg.cameras[0].model_copy(update={"analysis_fps": fps})
    out = {}
    for gated in (False, True):
        cfg.motion = MotionConfig(enabled=gated)
        analyzer = CameraAnalyzer(cfg, cam, CameraPipeline(cfg, cam, det.labels, None), tracked_labels(det))
        events, calls, ts = [], 0, 0
        for _, t, frame in iter_file_frames(str(CLIP), 1 / fps):
            ts = round(t * 1000)
            if analyzer.wants_inference(frame, ts):
                calls += 1
                bgr = frame.to_ndarray(format="bgr24")
                events += analyzer.process(ts, bgr, det.detect(bgr))
            else:
                events += analyzer.process(ts, None, None)
        events += analyzer.pipeline.finish(ts)
        out[gated] = [(e.rule_id, e.phase.value, e.seq, e.started_ms, e.ended_ms) for e in events]
        news = sum(1 for e in events if e.phase.value == "new")
        print(
            f"RESULT moving gating={'on' if gated else 'off'} detector_calls={calls} "
            f"events={news} messages={len(events)}",
            flush=True,
        )
    missed = {e[3] for e in out[False] if e[1] == "new"} - {e[3] for e in out[True] if e[1] == "new"}
    print(f"RESULT moving same_messages={out[False] == out[True]} missed_events={len(missed)}")
    goal("moving sample: events missed with gating", len(missed), 0, higher=False)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--fps", type=float, default=5.0)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        still_scene(args.seconds, args.fps, Path(tmp))
    moving_sample(args.fps)


if __name__ == "__main__":
    main()
