"""PPE classifier on the data set's valid split: crop accuracy, end to end on photos, cost.

    python bench/ppe_eval.py [--data ../shared/data/construction-site-safety] [--threads 2] [--json OUT]

1. **Crops**: every labelled head (Hardhat / NO-Hardhat) and torso (Safety Vest / NO-Safety Vest)
   box of the split, squared as in training, judged by the bundled model through ONNX Runtime
   (edge/detect/ppe.py): accuracy and confusion matrices for helmet and vest.
2. **End to end**, per photo as the edge does it: NanoDet people (score ≥ 0.4) → head and torso
   located (``--locate``: ``pose`` = MoveNet keypoints where seen, else the box; ``box`` = the
   person box's proportions) → regions too small / cut off left out → judged. One frame per
   photo, so no vote (the rule votes over 5 frames on video). A judged head (torso) matches a
   labelled one when the IoU of their squares is ≥ ``--iou``; precision and recall of
   ``no_helmet`` (truth: NO-Hardhat) and ``no_vest`` (truth: NO-Safety Vest). Recall counts every
   labelled box, also those too small to judge (and, beside it, recall of the judgeable ones).
3. **Cost** per judged person (2 threads): cut + preprocess + ``session.run`` of its head and
   torso crops as the rule batches them per frame, against raw ``session.run`` on prepared
   tensors of the same batch sizes, in the same run.

Goals (issue 19): crop accuracy ≥ 0.93 helmet, ≥ 0.90 vest; no_helmet precision and recall ≥ 0.8
end to end; ≤ 2 ms per judged person. The valid split also chose the training's best epoch
(early stopping), so its crop figures are not from fully unseen data.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "models"))

from train_ppe_classifier import (  # noqa: E402  (models/, importable without torch)
    INPUT_SIZE,
    class_ids,
    extract,
    split_photos,
)

from edge.detect.detector import Detector  # noqa: E402
from edge.detect.geometry import iou_matrix  # noqa: E402
from edge.detect.manifest import load_manifest  # noqa: E402
from edge.detect.pose import PoseEstimator, match_poses  # noqa: E402
from edge.detect.ppe import PpeClassifier, Region, check_region, regions_from_box, regions_from_pose  # noqa: E402

ITEM_OF_TASK = {0: "helmet", 1: "vest"}
GOALS = {"helmet_acc": 0.93, "vest_acc": 0.90}


def goal(ok: bool) -> str:
    return "met" if ok else "NOT met"


def crop_level(clf: PpeClassifier, data: Path, split: str) -> dict[str, object]:
    crops = extract(data, split, class_ids(data), 0)
    c = 96 / 2  # extract() keeps CACHE_SIZE (96) px of context around a 64 px square
    out: dict[str, object] = {}
    for task, item in ITEM_OF_TASK.items():
        idx = np.flatnonzero(crops.task == task)
        views = [crops.images[i] for i in idx]
        regions = [Region(item, c, c, 64.0) for _ in idx]
        probs: list[float] = []
        for k in range(0, len(views), 64):
            for img, r in zip(views[k : k + 64], regions[k : k + 64], strict=True):
                probs += clf.classify(img, [r])
        pred_no = np.array([p < 0.5 for p in probs])
        truth_no = crops.label[idx] == 1
        cm = [
            [int((~truth_no & ~pred_no).sum()), int((~truth_no & pred_no).sum())],
            [int((truth_no & ~pred_no).sum()), int((truth_no & pred_no).sum())],
        ]
        out[item] = {
            "n": len(idx),
            "accuracy": round(float((pred_no == truth_no).mean()), 4),
            "confusion": cm,
        }
    return out


def squares(boxes: np.ndarray, margin: float) -> np.ndarray:
    """Pixel xyxy boxes → their squares (side = longest side × margin), as the regions are cut."""
    cx, cy = (boxes[:, 0] + boxes[:, 2]) / 2, (boxes[:, 1] + boxes[:, 3]) / 2
    half = np.maximum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]) * margin / 2
    return np.stack([cx - half, cy - half, cx + half, cy + half], 1)


def labels_of(path: Path, ids: dict[int, tuple[int, int]], w: int, h: int) -> dict[str, list]:
    """Labelled boxes (pixel xyxy) per item: (box, not_worn)."""
    out: dict[str, list] = {"helmet": [], "vest": []}
    if not path.is_file():
        return out
    for line in path.read_text().splitlines():
        p = line.split()
        if len(p) < 5 or int(p[0]) not in ids:
            continue
        task, label = ids[int(p[0])]
        cx, cy, bw, bh = (float(v) for v in p[1:5])
        box = [(cx - bw / 2) * w, (cy - bh / 2) * h, (cx + bw / 2) * w, (cy + bh / 2) * h]
        out[ITEM_OF_TASK[task]].append((box, label == 1))
    return out


def new_stats() -> dict[str, dict[str, int]]:
    keys = ("tp", "fp_worn", "fp_unlabelled", "truth", "truth_judgeable", "tp_judgeable")
    return {item: dict.fromkeys(keys, 0) for item in ("helmet", "vest")}


def tally(
    st: dict[str, int],
    worn_ok: list[int],
    pred: np.ndarray,
    said_no: np.ndarray,
    truth: list,
    min_px: int,
    iou_min: float,
    margin: float,
) -> None:
    """Score one photo's judgements of one item: ``pred`` are the judged squares (pixel xyxy),
    ``said_no`` whether each was judged "not worn"; ``truth`` the labelled (box, not_worn) pairs.
    A judged square matches a labelled box's square (side × ``margin``) at IoU ≥ ``iou_min``,
    greedily by IoU, each labelled box at most once."""
    gt_boxes = np.array([b for b, _ in truth], np.float64).reshape(-1, 4)
    gt_no = np.array([n for _, n in truth], bool)
    st["truth"] += int(gt_no.sum())
    sides = np.maximum(gt_boxes[:, 2] - gt_boxes[:, 0], gt_boxes[:, 3] - gt_boxes[:, 1])
    st["truth_judgeable"] += int((gt_no & (sides >= min_px)).sum())
    if not len(pred):
        return
    iou = iou_matrix(pred, squares(gt_boxes, margin)) if len(truth) else np.zeros((len(pred), 0))
    taken: set[int] = set()
    order = np.argsort(-iou.max(1)) if iou.shape[1] else np.arange(len(pred))
    for k in order:
        j = int(np.argmax(iou[k])) if iou.shape[1] else -1
        matched = j >= 0 and iou[k, j] >= iou_min and j not in taken
        if matched:
            taken.add(j)
        if said_no[k]:
            if matched and gt_no[j]:
                st["tp"] += 1
                if sides[j] >= min_px:
                    st["tp_judgeable"] += 1
            elif matched:
                st["fp_worn"] += 1
            else:
                st["fp_unlabelled"] += 1
        elif matched and not gt_no[j]:
            worn_ok[0] += 1
        if matched and not gt_no[j]:
            worn_ok[1] += 1


def summary(stats: dict[str, dict[str, int]], worn_ok: dict[str, list[int]]) -> dict[str, object]:
    out: dict[str, object] = {}
    for item, st in stats.items():
        said = st["tp"] + st["fp_worn"] + st["fp_unlabelled"]
        out[f"no_{item}"] = {
            **st,
            "precision": round(st["tp"] / said, 3) if said else None,
            "precision_labelled_only": round(st["tp"] / (st["tp"] + st["fp_worn"]), 3)
            if st["tp"] + st["fp_worn"]
            else None,
            "recall": round(st["tp"] / st["truth"], 3) if st["truth"] else None,
            "recall_judgeable": round(st["tp_judgeable"] / st["truth_judgeable"], 3)
            if st["truth_judgeable"]
            else None,
            "worn_judged_right": worn_ok[item],
        }
    return out


def end_to_end_detector(
    det: Detector, data: Path, split: str, iou_min: float, min_px: dict[str, int], score: float, margin: float
) -> dict[str, object]:
    """The detector path (``missing_ppe`` ``provider: model``), as the rule decides: a ``head`` box
    that no ``helmet`` box covers is a missing hard hat; a ``person`` box with no ``vest`` box's
    centre in its middle is a missing vest (its torso square, located from the box, is what is
    matched); helmet boxes and vested people count as "worn"."""
    from edge.rules.missing_ppe import _centre_in, _covered

    ids = class_ids(data)
    stats = new_stats()
    worn_ok = {"helmet": [0, 0], "vest": [0, 0]}
    frame_ms: list[float] = []
    people_n = 0
    for photo in split_photos(data, split):
        img = cv2.imread(str(photo))
        h, w = img.shape[:2]
        t0 = time.perf_counter()
        dets = det.detect(img)
        frame_ms.append((time.perf_counter() - t0) * 1000)
        helmets = dets.with_labels({"helmet"}, score).boxes
        heads = dets.with_labels({"head"}, score).boxes
        vests = dets.with_labels({"vest"}, score).boxes
        people = dets.with_labels({"person"}, score).boxes
        people_n += len(people)
        truth = labels_of(data / split / "labels" / (photo.stem + ".txt"), ids, w, h)
        bare = np.array([not _covered(b, helmets) for b in heads], bool)
        head_boxes = np.concatenate([heads, helmets]).reshape(-1, 4) * np.array(
            [w, h, w, h]
        )  # normalised → px
        said_no = np.concatenate([bare, np.zeros(len(helmets), bool)])
        tally(
            stats["helmet"],
            worn_ok["helmet"],
            squares(head_boxes, margin),
            said_no,
            truth["helmet"],
            min_px["helmet"],
            iou_min,
            margin,
        )
        torsos, no_vest = [], []
        for b in people:
            r = regions_from_box(b, (w, h), margin)["vest"]
            torsos.append([r.cx - r.side / 2, r.cy - r.side / 2, r.cx + r.side / 2, r.cy + r.side / 2])
            no_vest.append(not _centre_in(vests, b, 0.25, 0.75))
        tally(
            stats["vest"],
            worn_ok["vest"],
            np.array(torsos).reshape(-1, 4),
            np.array(no_vest, bool),
            truth["vest"],
            min_px["vest"],
            iou_min,
            margin,
        )
    out: dict[str, object] = {"people": people_n, **summary(stats, worn_ok)}
    out["ms_per_frame_median"] = round(statistics.median(frame_ms), 2) if frame_ms else None
    return out


def end_to_end(
    clf: PpeClassifier,
    det: Detector,
    pose: PoseEstimator | None,
    data: Path,
    split: str,
    iou_min: float,
    min_px: dict[str, int],
    max_outside: float = 0.25,
    person_score: float = 0.4,
) -> dict[str, object]:
    ids = class_ids(data)
    stats = new_stats()
    worn_ok = {"helmet": [0, 0], "vest": [0, 0]}  # judged "worn" on a labelled wearer: [right, all]
    unjudged: dict[str, int] = {}
    people_n = judged_people = 0
    cost_ms: list[float] = []
    batch_sizes: list[int] = []
    for photo in split_photos(data, split):
        img = cv2.imread(str(photo))
        h, w = img.shape[:2]
        people = det.detect(img).with_labels({"person"}, person_score)
        kps = match_poses(people, pose(img)) if pose is not None else None
        t0 = time.perf_counter()
        regions: list[Region] = []
        owners: list[int] = []
        for i in range(len(people)):
            if kps is not None and float(kps[i][:, 2].max()) > 0:
                found = regions_from_pose(kps[i], people.boxes[i], (w, h), clf.margin)
            else:
                found = regions_from_box(people.boxes[i], (w, h), clf.margin)
            for item, r in found.items():
                r = check_region(r, (w, h), min_px[item], max_outside)
                if r.reason is None:
                    regions.append(r)
                    owners.append(i)
                else:
                    unjudged[f"{item}:{r.reason}"] = unjudged.get(f"{item}:{r.reason}", 0) + 1
        probs = clf.classify(img, regions)
        if regions:
            cost_ms.append((time.perf_counter() - t0) * 1000)
            batch_sizes.append(len(regions))
        people_n += len(people)
        judged_people += len(set(owners))
        truth = labels_of(data / split / "labels" / (photo.stem + ".txt"), ids, w, h)
        for item in ("helmet", "vest"):
            mine = [(r, p) for r, p in zip(regions, probs, strict=True) if r.item == item]
            pred = np.array(
                [
                    [r.cx - r.side / 2, r.cy - r.side / 2, r.cx + r.side / 2, r.cy + r.side / 2]
                    for r, _ in mine
                ]
            ).reshape(-1, 4)
            tally(
                stats[item],
                worn_ok[item],
                pred,
                np.array([p < 0.5 for _, p in mine], bool),
                truth[item],
                min_px[item],
                iou_min,
                clf.margin,
            )
    out: dict[str, object] = {
        "people": people_n,
        "judged_people": judged_people,
        "not_judged": unjudged,
        **summary(stats, worn_ok),
    }
    out["ms_per_judged_person"] = round(sum(cost_ms) / max(1, judged_people), 3)
    out["crops_per_frame_median"] = statistics.median(batch_sizes) if batch_sizes else 0
    out["batch_sizes"] = batch_sizes
    return out


def raw_cost(clf: PpeClassifier, batch_sizes: list[int], people: int, repeat: int = 3) -> float:
    """Raw ``session.run`` on prepared tensors of the frames' batch sizes: ms per judged person."""
    rng = np.random.default_rng(0)
    tensors = [rng.standard_normal((n, 3, INPUT_SIZE, INPUT_SIZE), dtype=np.float32) for n in batch_sizes]
    for x in tensors[:5]:
        clf.session.run(None, {clf.input_name: x})
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        for x in tensors:
            clf.session.run(None, {clf.input_name: x})
        best = min(best, (time.perf_counter() - t0) * 1000 / max(1, people))
    return round(best, 3)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data" / "construction-site-safety")
    ap.add_argument("--split", default="valid")
    ap.add_argument("--manifest", type=Path, default=REPO / "models" / "manifest.yaml")
    ap.add_argument("--model", default="ppe-classifier")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--locate", choices=["pose", "box", "both"], default="both")
    ap.add_argument("--iou", type=float, default=0.3)
    ap.add_argument("--min-head-px", type=int, default=12)
    ap.add_argument("--min-torso-px", type=int, default=20)
    ap.add_argument("--json", type=Path, help="write the figures here")
    ap.add_argument(
        "--detector",
        help="also score the detector path: a manifest model with helmet / head / vest / person labels "
        "(models/train_ppe.py)",
    )
    ap.add_argument(
        "--person-score", type=float, default=0.4, help="least NanoDet person score (the rule's min_score)"
    )
    ap.add_argument("--score", type=float, default=0.25, help="detector path: least box score")
    ap.add_argument("--only-detector", action="store_true", help="skip the classifier path")
    args = ap.parse_args()
    if not (args.data / "data.yaml").is_file():
        print(f"ppe_eval.py: {args.data}: no data.yaml (give --data)", file=sys.stderr)
        return 2
    models = load_manifest(args.manifest)
    clf = PpeClassifier(models[args.model], threads=args.threads)
    det = Detector(models["nanodet-coco"], threads=args.threads)
    det.warmup(2)
    for n in (1, 2, 4, 8):  # ONNX Runtime's first runs of a shape are slow: not part of the cost
        clf.session.run(None, {clf.input_name: np.zeros((n, 3, INPUT_SIZE, INPUT_SIZE), np.float32)})
    figures: dict[str, object] = {"model": args.model, "threads": args.threads, "split": args.split}

    if not args.only_detector:
        crops = crop_level(clf, args.data, args.split)
        figures["crops"] = crops
        print(f"PPE classifier {args.model} on {args.data.name}/{args.split}, {args.threads} threads\n")
        print("crop level (labelled boxes, squared as in training):")
        for item in ("helmet", "vest"):
            c = crops[item]
            assert isinstance(c, dict)
            want = GOALS[f"{item}_acc"]
            print(
                f"  {item:<6} n={c['n']:<4} accuracy {c['accuracy']:.3f}  "
                f"(goal ≥ {want}: {goal(c['accuracy'] >= want)})"
            )
            print(
                f"         confusion [truth {item}: {c['confusion'][0]}, "
                f"truth no_{item}: {c['confusion'][1]}]"
                f"  (columns: said {item}, said no_{item})"
            )

    locates = ["pose", "box"] if args.locate == "both" else [args.locate]
    if args.only_detector:
        locates = []
    min_px = {"helmet": args.min_head_px, "vest": args.min_torso_px}
    for loc in locates:
        pose = PoseEstimator(models["movenet-multipose"], threads=args.threads) if loc == "pose" else None
        e2e = end_to_end(
            clf, det, pose, args.data, args.split, args.iou, min_px, person_score=args.person_score
        )
        raw = raw_cost(clf, e2e.pop("batch_sizes"), int(e2e["judged_people"]))  # type: ignore[arg-type]
        e2e["raw_ms_per_judged_person"] = raw
        figures[f"end_to_end_{loc}"] = e2e
        print(
            f"\nend to end, locate={loc} (NanoDet people ≥ {args.person_score}"
            f"{' + MoveNet' if pose else ''}; "
            f"one frame per photo, no vote; match IoU ≥ {args.iou}):"
        )
        print(f"  people {e2e['people']}, judged {e2e['judged_people']}; not judged: {e2e['not_judged']}")
        print_items(e2e)
        ms = float(e2e["ms_per_judged_person"])  # type: ignore[arg-type]
        print(
            f"  cost per judged person: {ms:.2f} ms (cut + preprocess + run; goal ≤ 2 ms: {goal(ms <= 2)}); "
            f"raw session.run on the same batches: {raw:.2f} ms"
        )
    if args.detector:
        ppe_det = Detector(models[args.detector], threads=args.threads)
        ppe_det.warmup(2)
        e2e = end_to_end_detector(ppe_det, args.data, args.split, args.iou, min_px, args.score, clf.margin)
        figures[f"end_to_end_detector_{args.detector}"] = e2e
        print(
            f"\nend to end, detector path ({args.detector}, provider: model; boxes ≥ {args.score}; "
            f"one frame per photo; match IoU ≥ {args.iou}):"
        )
        print(f"  people {e2e['people']}")
        print_items(e2e)
        print(f"  cost: {e2e['ms_per_frame_median']} ms a frame (median; pre-processing + run + decode)")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=1), encoding="utf-8")
    return 0


def print_items(e2e: dict[str, object]) -> None:
    for item in ("helmet", "vest"):
        f = e2e[f"no_{item}"]
        assert isinstance(f, dict)
        line = (
            f"  no_{item:<6} precision {f['precision']} "
            f"(on labelled ones only {f['precision_labelled_only']})"
            f"  recall {f['recall']} (judgeable only {f['recall_judgeable']})\n"
            f"           tp {f['tp']} fp(worn) {f['fp_worn']} fp(unlabelled) {f['fp_unlabelled']} "
            f"truth {f['truth']}; worn judged right {f['worn_judged_right']}"
        )
        if item == "helmet":
            ok = (f["precision"] or 0) >= 0.8 and (f["recall"] or 0) >= 0.8
            line += f"  (goal P, R ≥ 0.8: {goal(ok)})"
        print(line)


if __name__ == "__main__":
    sys.exit(main())
