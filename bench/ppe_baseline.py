"""PPE baseline (edge/rules/ppe.py): how often it says "worn" where nobody wears PPE, and what it costs.

    python bench/ppe_baseline.py [--fps 2] [--threads 2]

Nobody in the sample clip (people walking on a campus) wears a hard hat or a hi-vis vest, so
every "worn" answer is a false one (the baseline would miss a missing item). NanoDet people
(score ≥ 0.4) with their matched MoveNet pose, every frame at ``--fps``; the baseline's default
calibration against the same with white hats off (``helmet_white: false``), in the same run.
Figures: people judged per item, "worn" answers (false) per item, ms per person for the check,
against the detector's ms per frame (the baseline cost). Goals: false "vest worn" ≤ 2 % of the
judged; false "helmet worn" ≤ 10 %; the check ≤ 10 % of the detector's time per person.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

from edge_common import CLIP, REPO, goal

sys.path.insert(0, str(REPO))


from edge.detect.detector import Detector
from edge.detect.manifest import load_manifest
from edge.detect.pose import PoseEstimator, match_poses
from edge.rules.ppe import PpeBaselineConfig, check_person
from edge.video.stream import iter_file_frames


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--fps", type=float, default=2.0)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    models = load_manifest(REPO / "models" / "manifest.yaml")
    det = Detector(models["nanodet-coco"], threads=args.threads)
    pose = PoseEstimator(models["movenet-multipose"], threads=args.threads)
    det.warmup(3)
    cals = {"default": PpeBaselineConfig(), "no white hats": PpeBaselineConfig(helmet_white=False)}
    stats = {k: {"people": 0, "h_judged": 0, "h_worn": 0, "v_judged": 0, "v_worn": 0} for k in cals}
    det_ms: list[float] = []
    check_ms: list[float] = []
    frames = 0
    for _, _, frame in iter_file_frames(str(CLIP), 1.0 / args.fps):
        img = frame.to_ndarray(format="bgr24")
        t0 = time.perf_counter()
        people = det.detect(img).with_labels({"person"}, 0.4)
        det_ms.append((time.perf_counter() - t0) * 1000)
        kps = match_poses(people, pose(img))
        frames += 1
        for name, cal in cals.items():
            s = stats[name]
            for box, kp in zip(people.boxes, kps, strict=True):
                t0 = time.perf_counter()
                v = check_person(img, box, kp, cal)
                check_ms.append((time.perf_counter() - t0) * 1000)
                s["people"] += 1
                if v.helmet is not None:
                    s["h_judged"] += 1
                    s["h_worn"] += int(v.helmet)
                if v.vest is not None:
                    s["v_judged"] += 1
                    s["v_worn"] += int(v.vest)
    det_mean = statistics.fmean(det_ms)
    per_person = statistics.fmean(check_ms)
    print(f"{frames} frames of {CLIP.name} at {args.fps:g} fps; nobody wears PPE in it")
    print(f"detector (baseline): {det_mean:.2f} ms/frame; PPE check: {per_person:.3f} ms/person")
    for name, s in stats.items():
        print(
            f"{name:14s}: {s['people']} people; helmet judged {s['h_judged']}, said worn {s['h_worn']} "
            f"({100 * s['h_worn'] / max(1, s['h_judged']):.1f} %); vest judged {s['v_judged']}, "
            f"said worn {s['v_worn']} ({100 * s['v_worn'] / max(1, s['v_judged']):.1f} %)"
        )
    d = stats["default"]
    ok = goal("false vest worn (default)", 100 * d["v_worn"] / max(1, d["v_judged"]), 2, "%", higher=False)
    ok &= goal(
        "false helmet worn (default)", 100 * d["h_worn"] / max(1, d["h_judged"]), 10, "%", higher=False
    )
    ok &= goal("check per person, share of detector time", 100 * per_person / det_mean, 10, "%", higher=False)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
