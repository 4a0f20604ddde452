#!/usr/bin/env python3
"""Reference pre-processing and decoding for the bundled MoveNet MultiPose and BlazeFace models.

    python models/verify_pose_face.py IMAGE [IMAGE ...] [--pose-side 256] [--bench 30]

Prints the people (box, score, a few keypoints) and faces (box, score) found in each image, in
source-image pixels. numpy, onnxruntime and OpenCV only. See models/README.md for the I/O spec.
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

# MoveNet keypoint order (COCO-17).
KEYPOINTS = (
    "nose",
    "left_eye",
    "right_eye",
    "left_ear",
    "right_ear",
    "left_shoulder",
    "right_shoulder",
    "left_elbow",
    "right_elbow",
    "left_wrist",
    "right_wrist",
    "left_hip",
    "right_hip",
    "left_knee",
    "right_knee",
    "left_ankle",
    "right_ankle",
)
# BlazeFace keypoint order (subject's point of view).
FACE_KEYPOINTS = ("right_eye", "left_eye", "nose", "mouth", "right_ear_tragion", "left_ear_tragion")
BLAZEFACE_SIZE = 256


@dataclass(frozen=True)
class Letterbox:
    """Image scaled by ``scale`` and pasted at the top-left of a ``width`` x ``height`` canvas."""

    scale: float
    width: int
    height: int

    def to_image(self, x_norm: np.ndarray, y_norm: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Normalised canvas coordinates -> source-image pixels."""
        return x_norm * self.width / self.scale, y_norm * self.height / self.scale


def letterbox(image: np.ndarray, long_side: int, multiple: int) -> tuple[np.ndarray, Letterbox]:
    """Scale the long side to ``long_side``, pad right/bottom with black to multiples of ``multiple``."""
    height, width = image.shape[:2]
    scale = long_side / max(height, width)
    new_w, new_h = round(width * scale), round(height * scale)
    pad_w, pad_h = -(-new_w // multiple) * multiple, -(-new_h // multiple) * multiple
    canvas = np.zeros((pad_h, pad_w, 3), dtype=np.uint8)
    canvas[:new_h, :new_w] = cv2.resize(image, (new_w, new_h), interpolation=cv2.INTER_AREA)
    return canvas, Letterbox(scale, pad_w, pad_h)


def session(path: Path, threads: int = 0) -> ort.InferenceSession:
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    return ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])


# ---------------------------------------------------------------- MoveNet MultiPose


def movenet_input(image_bgr: np.ndarray, long_side: int = 256) -> tuple[np.ndarray, Letterbox]:
    """BGR image -> int32 [1, H, W, 3] RGB 0..255, H and W multiples of 32."""
    canvas, box = letterbox(image_bgr, long_side, 32)
    return np.ascontiguousarray(canvas[..., ::-1]).astype(np.int32)[np.newaxis], box


def movenet_decode(output: np.ndarray, box: Letterbox, min_score: float = 0.2) -> list[dict]:
    """output [1, 6, 56]: per person 17 x (y, x, score), then ymin, xmin, ymax, xmax, score.
    Coordinates are normalised to the (padded) input tensor."""
    people = []
    for row in output[0]:
        if row[55] < min_score:
            continue
        kp = row[:51].reshape(17, 3)
        kx, ky = box.to_image(kp[:, 1], kp[:, 0])
        x1, y1 = box.to_image(row[52], row[51])
        x2, y2 = box.to_image(row[54], row[53])
        people.append(
            {
                "score": float(row[55]),
                "box": (float(x1), float(y1), float(x2), float(y2)),
                "keypoints": {
                    n: (float(x), float(y), float(s))
                    for n, x, y, s in zip(KEYPOINTS, kx, ky, kp[:, 2], strict=True)
                },
            }
        )
    return people


# ---------------------------------------------------------------- BlazeFace (back camera, 256x256)


def blazeface_anchors() -> np.ndarray:
    """896 anchor centres (x, y), normalised: 16x16 grid x 2 anchors (stride 16), then 8x8 grid x 6
    anchors (stride 32), row-major, the anchors of one cell consecutive. Anchor size is fixed (1.0)."""
    centres = []
    for grid, per_cell in ((16, 2), (8, 6)):
        ys, xs = np.mgrid[0:grid, 0:grid]
        cell = np.stack([(xs.ravel() + 0.5) / grid, (ys.ravel() + 0.5) / grid], axis=1)
        centres.append(np.repeat(cell, per_cell, axis=0))
    return np.concatenate(centres).astype(np.float32)


ANCHORS = blazeface_anchors()


def blazeface_input(image_bgr: np.ndarray) -> tuple[np.ndarray, Letterbox]:
    """BGR image -> float32 [1, 256, 256, 3] RGB scaled to [-1, 1], letterboxed top-left."""
    canvas, box = letterbox(image_bgr, BLAZEFACE_SIZE, BLAZEFACE_SIZE)
    return (canvas[..., ::-1].astype(np.float32) / 127.5 - 1.0)[np.newaxis], box


def blazeface_decode(
    outputs: dict[str, np.ndarray], box: Letterbox, min_score: float = 0.6, iou: float = 0.3
) -> list[dict]:
    """Scores are logits (sigmoid needed). Regressors per anchor: dx, dy, w, h, then 6 x (x, y)
    keypoints, all in 256-pixel input units; centre = anchor + (dx, dy) / 256."""
    logits = np.concatenate([outputs["Identity:0"][0, :, 0], outputs["Identity_1:0"][0, :, 0]])
    regs = np.concatenate([outputs["Identity_2:0"][0], outputs["Identity_3:0"][0]]) / BLAZEFACE_SIZE
    scores = 1.0 / (1.0 + np.exp(-np.clip(logits, -80.0, 80.0)))
    idx = np.nonzero(scores >= min_score)[0]
    cx, cy = ANCHORS[idx, 0] + regs[idx, 0], ANCHORS[idx, 1] + regs[idx, 1]
    w, h = regs[idx, 2], regs[idx, 3]
    boxes = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=1)
    kps = regs[idx, 4:16].reshape(-1, 6, 2) + ANCHORS[idx, np.newaxis, :]
    order, keep = np.argsort(-scores[idx]), []
    for i in order:  # plain greedy NMS (MediaPipe blends overlapping boxes; this is enough here)
        if all(_iou(boxes[i], boxes[k]) < iou for k in keep):
            keep.append(i)
    faces = []
    for i in keep:
        x1, y1 = box.to_image(boxes[i, 0], boxes[i, 1])
        x2, y2 = box.to_image(boxes[i, 2], boxes[i, 3])
        kx, ky = box.to_image(kps[i, :, 0], kps[i, :, 1])
        faces.append(
            {
                "score": float(scores[idx[i]]),
                "box": (float(x1), float(y1), float(x2), float(y2)),
                "keypoints": {
                    n: (float(x), float(y)) for n, x, y in zip(FACE_KEYPOINTS, kx, ky, strict=True)
                },
            }
        )
    return faces


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter + 1e-9)


def timed(fn, runs: int) -> float:  # type: ignore[no-untyped-def]
    for _ in range(3):
        fn()
    t0 = time.perf_counter()
    for _ in range(runs):
        fn()
    return (time.perf_counter() - t0) * 1000 / runs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("images", nargs="+", type=Path)
    parser.add_argument("--pose-model", type=Path, default=MODELS_DIR / "movenet-multipose.onnx")
    parser.add_argument("--face-model", type=Path, default=MODELS_DIR / "blazeface.onnx")
    parser.add_argument("--pose-side", type=int, default=256, help="MoveNet input long side (multiple of 32)")
    parser.add_argument("--bench", type=int, default=0, metavar="N", help="time N runs on the first image")
    args = parser.parse_args(argv)

    pose, face = session(args.pose_model), session(args.face_model)
    face_names = [o.name for o in face.get_outputs()]
    for path in args.images:
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if image is None:
            print(f"{path}: cannot read", file=sys.stderr)
            return 1
        x, box = movenet_input(image, args.pose_side)
        people = movenet_decode(pose.run(None, {"input": x})[0], box)
        print(
            f"{path} ({image.shape[1]}x{image.shape[0]}), MoveNet input {list(x.shape)}: {len(people)} people"
        )
        for p in people:
            nose = p["keypoints"]["nose"]
            mean_kp = np.mean([s for _, _, s in p["keypoints"].values()])
            print(
                f"  person {p['score']:.2f} box [{', '.join(f'{v:.0f}' for v in p['box'])}] "
                f"nose ({nose[0]:.0f}, {nose[1]:.0f}) {nose[2]:.2f}, mean keypoint score {mean_kp:.2f}"
            )
        fx, fbox = blazeface_input(image)
        faces = blazeface_decode(
            dict(zip(face_names, face.run(face_names, {"input:0": fx}), strict=True)), fbox
        )
        print(f"  BlazeFace: {len(faces)} faces")
        for f in faces:
            eye = f["keypoints"]["right_eye"]
            print(
                f"  face {f['score']:.2f} box [{', '.join(f'{v:.0f}' for v in f['box'])}] "
                f"right eye ({eye[0]:.0f}, {eye[1]:.0f})"
            )
    if args.bench:
        image = cv2.imread(str(args.images[0]), cv2.IMREAD_COLOR)
        x, _ = movenet_input(image, args.pose_side)
        fx, _ = blazeface_input(image)
        for threads in (1, 0):
            p, f = session(args.pose_model, threads), session(args.face_model, threads)
            label = "1 thread" if threads == 1 else "default threads"
            ms_pose = timed(lambda p=p: p.run(None, {"input": x}), args.bench)
            ms_face = timed(lambda f=f: f.run(None, {"input:0": fx}), args.bench)
            print(f"{label:16s} MoveNet {list(x.shape)}: {ms_pose:.1f} ms   BlazeFace: {ms_face:.1f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
