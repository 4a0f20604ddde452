#!/usr/bin/env python3
"""Reference decoder for the bundled NanoDet model (models/nanodet-coco-416.onnx).

Runs the model on images with onnxruntime, decodes the six output heads (GFL distribution
regression, three strides), applies class-wise NMS and prints the detections in image pixels.
Only numpy, onnxruntime and OpenCV are needed.

    python models/verify_nanodet.py IMAGE [IMAGE ...] [--score 0.35] [--bench 50] [--draw OUTDIR]

The pre-processing and decoding here are the specification the edge runtime must follow
(see models/README.md, section "NanoDet").
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import onnxruntime as ort

MODELS_DIR = Path(__file__).resolve().parent
DEFAULT_MODEL = MODELS_DIR / "nanodet-coco-416.onnx"
DEFAULT_LABELS = MODELS_DIR / "coco80.txt"

INPUT_NAME = "input_1:0"
INPUT_SIZE = 416  # square input, width == height
NUM_CLASSES = 80
REG_BINS = 11  # GFL: reg_max = 10, i.e. 11 bins per side (distances 0..10 in stride units)
# Output tensor names per stride: (class scores [1, N, 80], box distributions [1, N, 44]).
STRIDE_OUTPUTS: dict[int, tuple[str, str]] = {
    8: ("Identity:0", "Identity_3:0"),  # 52 x 52 = 2704 cells
    16: ("Identity_1:0", "Identity_4:0"),  # 26 x 26 = 676 cells
    32: ("Identity_2:0", "Identity_5:0"),  # 13 x 13 = 169 cells
}
# Normalisation of the original NanoDet (RangiLyu) training pipeline: the image stays in
# OpenCV's BGR order and mean/std are given per B, G, R channel in 0-255 units.
MEAN_BGR = np.array([103.53, 116.28, 123.675], dtype=np.float32)
STD_BGR = np.array([57.375, 57.12, 58.395], dtype=np.float32)


@dataclass(frozen=True)
class Detection:
    class_id: int
    label: str
    score: float
    box: tuple[float, float, float, float]  # x1, y1, x2, y2 in source-image pixels
    stride: int


def load_labels(path: Path) -> list[str]:
    labels = [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    if len(labels) != NUM_CLASSES:
        raise ValueError(f"{path}: expected {NUM_CLASSES} labels, found {len(labels)}")
    return labels


def make_session(model: Path, threads: int = 0) -> ort.InferenceSession:
    """threads=0 lets onnxruntime choose (one per physical core)."""
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    return ort.InferenceSession(str(model), sess_options=opts, providers=["CPUExecutionProvider"])


def preprocess(image_bgr: np.ndarray, rgb: bool = False) -> np.ndarray:
    """BGR uint8 HxWx3 image -> float32 [1, 3, 416, 416] tensor (NCHW).

    The image is stretched to 416x416 (no letterbox; letterboxing scored lower on the test
    photos). ``rgb=True`` gives the alternative RGB + ImageNet-RGB statistics variant, kept only
    for comparison: it also works but scores lower.
    """
    resized = cv2.resize(image_bgr, (INPUT_SIZE, INPUT_SIZE), interpolation=cv2.INTER_LINEAR)
    x = resized.astype(np.float32)
    x = (x[..., ::-1] - MEAN_BGR[::-1]) / STD_BGR[::-1] if rgb else (x - MEAN_BGR) / STD_BGR
    return np.ascontiguousarray(x.transpose(2, 0, 1)[np.newaxis])


def _softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def nms(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float) -> np.ndarray:
    """Greedy NMS; returns kept indices, best score first."""
    order = np.argsort(-scores)
    areas = np.clip(boxes[:, 2] - boxes[:, 0], 0, None) * np.clip(boxes[:, 3] - boxes[:, 1], 0, None)
    keep: list[int] = []
    while order.size:
        i = int(order[0])
        keep.append(i)
        rest = order[1:]
        xx1 = np.maximum(boxes[i, 0], boxes[rest, 0])
        yy1 = np.maximum(boxes[i, 1], boxes[rest, 1])
        xx2 = np.minimum(boxes[i, 2], boxes[rest, 2])
        yy2 = np.minimum(boxes[i, 3], boxes[rest, 3])
        inter = np.clip(xx2 - xx1, 0, None) * np.clip(yy2 - yy1, 0, None)
        iou = inter / (areas[i] + areas[rest] - inter + 1e-9)
        order = rest[iou <= iou_threshold]
    return np.array(keep, dtype=np.int64)


def decode(
    outputs: dict[str, np.ndarray],
    image_size: tuple[int, int],
    labels: list[str],
    score_threshold: float = 0.35,
    iou_threshold: float = 0.5,
    max_detections: int = 100,
) -> list[Detection]:
    """Decode the raw heads into detections in source-image pixels.

    ``image_size`` is (width, height) of the source image. For every stride s the grid has
    n = 416 / s columns and rows; cell i sits at row i // n, column i % n (row-major). Its anchor
    point is ((col + 0.5) * s, (row + 0.5) * s) in 416-pixel input coordinates. The 44 box values
    are 4 groups (left, top, right, bottom) of 11 logits; softmax over each group, the expectation
    sum(p_k * k) times s is the distance from the anchor point to that box side.
    """
    width, height = image_size
    sx, sy = width / INPUT_SIZE, height / INPUT_SIZE
    all_boxes, all_scores, all_classes, all_strides = [], [], [], []
    for stride, (cls_name, reg_name) in STRIDE_OUTPUTS.items():
        cls = outputs[cls_name][0]  # [N, 80], sigmoid already applied in the graph
        reg = outputs[reg_name][0]  # [N, 44]
        n = INPUT_SIZE // stride
        cells, classes = np.nonzero(cls > score_threshold)
        if cells.size == 0:
            continue
        dist = _softmax(reg[cells].reshape(-1, 4, REG_BINS)) @ np.arange(REG_BINS, dtype=np.float32)
        dist *= stride  # [K, 4] = l, t, r, b in input pixels
        cx = (cells % n + 0.5) * stride
        cy = (cells // n + 0.5) * stride
        boxes = np.stack([cx - dist[:, 0], cy - dist[:, 1], cx + dist[:, 2], cy + dist[:, 3]], axis=1)
        all_boxes.append(boxes * np.array([sx, sy, sx, sy], dtype=np.float32))
        all_scores.append(cls[cells, classes])
        all_classes.append(classes)
        all_strides.append(np.full(cells.shape, stride))
    if not all_boxes:
        return []
    boxes = np.concatenate(all_boxes)
    scores = np.concatenate(all_scores)
    classes = np.concatenate(all_classes)
    strides = np.concatenate(all_strides)
    # Class-wise NMS in one pass: shift each class into its own coordinate range.
    offsets = classes[:, np.newaxis] * (max(width, height) + 1.0)
    keep = nms(boxes + offsets, scores, iou_threshold)[:max_detections]
    boxes[:, [0, 2]] = boxes[:, [0, 2]].clip(0, width)
    boxes[:, [1, 3]] = boxes[:, [1, 3]].clip(0, height)
    return [
        Detection(
            class_id=int(classes[i]),
            label=labels[int(classes[i])],
            score=float(scores[i]),
            box=tuple(float(v) for v in boxes[i]),  # type: ignore[arg-type]
            stride=int(strides[i]),
        )
        for i in keep
    ]


def check_signature(session: ort.InferenceSession) -> None:
    """Fail loudly if the model is not the one documented in models/README.md."""
    inputs = session.get_inputs()
    if [(i.name, i.shape, i.type) for i in inputs] != [
        (INPUT_NAME, [1, 3, INPUT_SIZE, INPUT_SIZE], "tensor(float)")
    ]:
        raise SystemExit(f"unexpected model input: {[(i.name, i.shape, i.type) for i in inputs]}")
    shapes = {o.name: o.shape for o in session.get_outputs()}
    for stride, (cls_name, reg_name) in STRIDE_OUTPUTS.items():
        cells = (INPUT_SIZE // stride) ** 2
        expected = {cls_name: [1, cells, NUM_CLASSES], reg_name: [1, cells, 4 * REG_BINS]}
        if any(shapes.get(name) != shape for name, shape in expected.items()):
            raise SystemExit(f"unexpected model outputs: {shapes}")


def run_image(
    session: ort.InferenceSession, image_bgr: np.ndarray, labels: list[str], args: argparse.Namespace
) -> list[Detection]:
    tensor = preprocess(image_bgr, rgb=args.rgb)
    names = [o.name for o in session.get_outputs()]
    outputs = dict(zip(names, session.run(names, {INPUT_NAME: tensor}), strict=True))
    height, width = image_bgr.shape[:2]
    return decode(outputs, (width, height), labels, args.score, args.iou)


def bench(model: Path, image_bgr: np.ndarray, labels: list[str], args: argparse.Namespace) -> None:
    tensor = preprocess(image_bgr)
    for threads, title in ((1, "1 thread"), (0, "default threads")):
        session = make_session(model, threads)
        for _ in range(5):  # warm-up
            session.run(None, {INPUT_NAME: tensor})
        times = []
        for _ in range(args.bench):
            t0 = time.perf_counter()
            session.run(None, {INPUT_NAME: tensor})
            times.append((time.perf_counter() - t0) * 1000)
        full = []
        for _ in range(max(5, args.bench // 5)):
            t0 = time.perf_counter()
            run_image(session, image_bgr, labels, args)
            full.append((time.perf_counter() - t0) * 1000)
        print(
            f"  {title:16s} inference: median {np.median(times):6.1f} ms, mean {np.mean(times):6.1f} ms, "
            f"min {np.min(times):6.1f} ms;  pre+infer+decode median {np.median(full):6.1f} ms"
        )


def draw(image_bgr: np.ndarray, detections: list[Detection], path: Path) -> None:
    canvas = image_bgr.copy()
    for d in detections:
        x1, y1, x2, y2 = (round(v) for v in d.box)
        cv2.rectangle(canvas, (x1, y1), (x2, y2), (0, 255, 0), 2)
        cv2.putText(
            canvas,
            f"{d.label} {d.score:.2f}",
            (x1, max(12, y1 - 4)),
            cv2.FONT_HERSHEY_SIMPLEX,
            0.5,
            (0, 255, 0),
            1,
        )
    cv2.imwrite(str(path), canvas)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("images", nargs="+", type=Path)
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL)
    parser.add_argument("--labels", type=Path, default=DEFAULT_LABELS)
    parser.add_argument("--score", type=float, default=0.35, help="score threshold (default 0.35)")
    parser.add_argument("--iou", type=float, default=0.5, help="NMS IoU threshold (default 0.5)")
    parser.add_argument("--threads", type=int, default=0, help="intra-op threads, 0 = onnxruntime default")
    parser.add_argument(
        "--rgb", action="store_true", help="use the RGB/ImageNet-RGB variant (comparison only)"
    )
    parser.add_argument("--bench", type=int, default=0, metavar="N", help="time N runs on the first image")
    parser.add_argument("--draw", type=Path, metavar="DIR", help="write annotated copies of the images here")
    args = parser.parse_args(argv)

    labels = load_labels(args.labels)
    session = make_session(args.model, args.threads)
    check_signature(session)
    if args.draw:
        args.draw.mkdir(parents=True, exist_ok=True)
    for path in args.images:
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if image is None:
            print(f"{path}: cannot read", file=sys.stderr)
            return 1
        detections = run_image(session, image, labels, args)
        print(f"{path} ({image.shape[1]}x{image.shape[0]}): {len(detections)} detections")
        for d in detections:
            x1, y1, x2, y2 = d.box
            print(
                f"  {d.label:15s} {d.score:.2f}  [{x1:6.1f} {y1:6.1f} {x2:6.1f} {y2:6.1f}]  stride {d.stride}"
            )
        if args.draw:
            draw(image, detections, args.draw / f"{path.stem}.nanodet.png")
    if args.bench:
        image = cv2.imread(str(args.images[0]), cv2.IMREAD_COLOR)
        print(f"timing on {args.images[0]} ({args.bench} runs, onnxruntime {ort.__version__}):")
        bench(args.model, image, labels, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
