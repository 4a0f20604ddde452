"""What the rules cost per analyzed frame, against the detector's own time in the same run.

    python bench/rules_cost.py [--frames 150] [--fps 5] [--threads 2]

The sample clip's frames are decoded, detected (NanoDet) and tracked (ByteTrack) once; then the
same frames go through camera pipelines with different rule sets, timed per frame:
1. ``intrusion``: the demo's single zone rule (the baseline);
2. ``counting+tracks``: overcrowding, post_unattended, loitering, line_crossing;
3. ``pose``: (2) plus man_down, phone_use and missing_ppe (baseline), which run MoveNet once a
   frame that has people.
Figures: mean and median ms per frame of ``CameraPipeline.process``, pose runs, and the
detector's mean ms per frame measured on the same frames. Goals: the rules without pose cost
under 5 % of the detector's time; with pose, under the detector's time again (≤ 100 %).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

from edge_common import CLIP, REPO, goal, node_config

sys.path.insert(0, str(REPO))

from edge.detect.detector import load_detector
from edge.pipeline import CameraPipeline, tracked_labels
from edge.track.tracker import Tracker
from edge.video.stream import iter_file_frames

ZONES = [
    {"id": "junction", "points": [[0.50, 0.50], [0.72, 0.48], [0.80, 0.68], [0.55, 0.70]]},
    {"id": "strip", "points": [[0.55, 0.2], [1.0, 0.2], [1.0, 0.85], [0.55, 0.85]]},
]
INTRUSION = [{"id": "in", "type": "intrusion", "zone": "junction"}]
COUNTING = [
    {"id": "crowd", "type": "overcrowding", "max_count": 7},
    {"id": "post", "type": "post_unattended", "zone": "junction", "duration_s": 4},
    {"id": "dwell", "type": "loitering", "zone": "strip", "duration_s": 15},
    {"id": "cross", "type": "line_crossing", "line": [[0.5, 0.25], [0.5, 0.95]]},
]
POSE = [
    {"id": "down", "type": "man_down"},
    {"id": "phone", "type": "phone_use"},
    {"id": "ppe", "type": "missing_ppe", "ppe": ["helmet", "vest"], "provider": "baseline"},
]


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--frames", type=int, default=150)
    ap.add_argument("--fps", type=float, default=5.0)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="rules-bench-"))
    base = node_config(1, args.fps, tmp, args.threads)
    det = load_detector(base.models)
    det.warmup(3)
    frames, dets, det_ms = [], [], []
    tracker = Tracker(base.tracker, args.fps, tracked_labels(det))
    for _, t, frame in iter_file_frames(str(CLIP), 1.0 / args.fps):
        img = frame.to_ndarray(format="bgr24")
        t0 = time.perf_counter()
        d = det.detect(img)
        det_ms.append((time.perf_counter() - t0) * 1000)
        frames.append((round(t * 1000), img))
        dets.append(tracker.update(d, round(t * 1000)))
        if len(frames) >= args.frames:
            break
    det_mean = statistics.fmean(det_ms)
    print(f"{len(frames)} frames of {CLIP.name} at {args.fps:g} fps, {args.threads} thread(s)")
    print(
        f"detector (NanoDet, baseline): {det_mean:.2f} ms/frame mean, {statistics.median(det_ms):.2f} median"
    )
    results = {}
    for name, rules in (("intrusion", INTRUSION), ("counting+tracks", COUNTING), ("pose", COUNTING + POSE)):
        data = base.model_dump()
        data["cameras"][0].update(zones=ZONES, rules=rules)
        cfg = type(base).model_validate(data)
        pipe = CameraPipeline(cfg, cfg.cameras[0], det.labels, None)
        if pipe.pose is not None:
            pipe.pose.estimator(frames[0][1])  # load and warm the session outside the timing
            runs0 = pipe.pose.estimator.runs
        times, events = [], 0
        for (ts, img), d in zip(frames, dets, strict=True):
            t0 = time.perf_counter()
            events += len(pipe.process(img, ts, d))
            times.append((time.perf_counter() - t0) * 1000)
        runs = pipe.pose.estimator.runs - runs0 if pipe.pose is not None else 0
        mean = statistics.fmean(times)
        results[name] = mean
        print(
            f"rules {name:16s}: {mean:7.3f} ms/frame mean, {statistics.median(times):7.3f} median, "
            f"{100 * mean / det_mean:5.1f} % of the detector; {events} event message(s), pose runs {runs}"
        )
    ok = goal(
        "rules without pose, share of detector time",
        100 * results["counting+tracks"] / det_mean,
        5,
        "%",
        higher=False,
    )
    ok &= goal(
        "rules with pose, share of detector time", 100 * results["pose"] / det_mean, 100, "%", higher=False
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
