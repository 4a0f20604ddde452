"""Vectorised geometry helpers: letterbox, IoU, NMS, point-in-polygon, normalised points."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import cv2
import numpy as np

Point = tuple[float, float]  # (x, y) normalised 0–1: zone corners, tripwire ends


def check_normalised(points: Iterable[Point], what: str) -> None:
    """Raise ValueError naming the first point outside 0–1 (``what``: "zone", "line")."""
    for x, y in points:
        if not (0.0 <= x <= 1.0 and 0.0 <= y <= 1.0):
            raise ValueError(f"point ({x}, {y}) is outside 0–1 ({what} points are normalised)")


@dataclass(frozen=True)
class Letterbox:
    """How a frame was resized and padded into the model input; maps boxes back."""

    scale_x: float
    scale_y: float
    pad_x: float
    pad_y: float
    src_w: int
    src_h: int

    def to_normalised(self, boxes: np.ndarray) -> np.ndarray:
        """Model-input pixel boxes (N,4 xyxy) → frame-normalised 0–1 boxes, clipped."""
        out = boxes.astype(np.float32, copy=True)
        out[:, [0, 2]] = (out[:, [0, 2]] - self.pad_x) / (self.scale_x * self.src_w)
        out[:, [1, 3]] = (out[:, [1, 3]] - self.pad_y) / (self.scale_y * self.src_h)
        np.clip(out, 0.0, 1.0, out=out)
        return out

    def points_to_normalised(self, points: np.ndarray) -> np.ndarray:
        """Model-input pixel points (..., 2+: x, y, extra columns kept) → frame-normalised 0–1, clipped."""
        out = points.astype(np.float32, copy=True)
        out[..., 0] = (out[..., 0] - self.pad_x) / (self.scale_x * self.src_w)
        out[..., 1] = (out[..., 1] - self.pad_y) / (self.scale_y * self.src_h)
        np.clip(out[..., :2], 0.0, 1.0, out=out[..., :2])
        return out


def letterbox(
    frame: np.ndarray, width: int, height: int, pad_value: int = 114
) -> tuple[np.ndarray, Letterbox]:
    """Resize keeping the aspect ratio and pad to (height, width), image centred."""
    h, w = frame.shape[:2]
    scale = min(width / w, height / h)
    nw, nh = round(w * scale), round(h * scale)
    resized = cv2.resize(frame, (nw, nh), interpolation=cv2.INTER_LINEAR) if (nw, nh) != (w, h) else frame
    px, py = (width - nw) // 2, (height - nh) // 2
    canvas = np.full((height, width, frame.shape[2]), pad_value, dtype=frame.dtype)
    canvas[py : py + nh, px : px + nw] = resized
    return canvas, Letterbox(nw / w, nh / h, float(px), float(py), w, h)


def stretch(frame: np.ndarray, width: int, height: int) -> tuple[np.ndarray, Letterbox]:
    """Resize to (height, width) ignoring the aspect ratio (what some models were trained on)."""
    h, w = frame.shape[:2]
    resized = (
        cv2.resize(frame, (width, height), interpolation=cv2.INTER_LINEAR)
        if (w, h) != (width, height)
        else frame
    )
    return resized, Letterbox(width / w, height / h, 0.0, 0.0, w, h)


def iou_one_to_many(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    x1 = np.maximum(box[0], boxes[:, 0])
    y1 = np.maximum(box[1], boxes[:, 1])
    x2 = np.minimum(box[2], boxes[:, 2])
    y2 = np.minimum(box[3], boxes[:, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    area = (box[2] - box[0]) * (box[3] - box[1])
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    return inter / np.maximum(area + areas - inter, 1e-9)


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of every box of ``a`` (N, 4) with every box of ``b`` (M, 4), xyxy: (N, M)."""
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    wh = np.clip(rb - lt, 0, None)
    inter = wh[..., 0] * wh[..., 1]
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    return inter / np.maximum(area_a[:, None] + area_b[None, :] - inter, 1e-12)


def nms(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float, max_out: int = 300) -> np.ndarray:
    """Greedy non-maximum suppression; returns kept indices, best first.

    The IoU of every pair is computed once (candidates after the score threshold are few: ~100 a
    frame), then one pass in score order keeps a box unless a kept one overlaps it too much.
    """
    if len(boxes) == 0:
        return np.empty(0, dtype=np.int64)
    order = np.argsort(-scores, kind="stable")
    overlaps = iou_matrix(boxes[order], boxes[order]) > iou_threshold
    suppressed = np.zeros(len(order), dtype=bool)
    keep: list[int] = []
    for rank in range(len(order)):
        if suppressed[rank]:
            continue
        keep.append(int(order[rank]))
        if len(keep) >= max_out:
            break
        suppressed |= overlaps[rank]
    return np.asarray(keep, dtype=np.int64)


def weighted_nms(
    boxes: np.ndarray, scores: np.ndarray, iou_threshold: float, points: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Blending NMS (MediaPipe's ``WEIGHTED`` overlap): each cluster of boxes overlapping its best one
    becomes one box, the score-weighted mean of the cluster (and of its ``points`` (N, K, D)), with
    the best score. Returns (kept indices, blended boxes, blended points)."""
    if len(boxes) == 0:
        return np.empty(0, dtype=np.int64), boxes[:0], None if points is None else points[:0]
    order = np.argsort(-scores, kind="stable")
    keep: list[int] = []
    out_boxes: list[np.ndarray] = []
    out_points: list[np.ndarray] = []
    while order.size:
        i = int(order[0])
        overlap = iou_one_to_many(boxes[i], boxes[order]) > iou_threshold
        overlap[0] = True
        members = order[overlap]
        w = scores[members] / max(float(scores[members].sum()), 1e-9)
        keep.append(i)
        out_boxes.append(w @ boxes[members])
        if points is not None:
            out_points.append(np.tensordot(w, points[members], axes=1))
        order = order[~overlap]
    blended = np.stack(out_boxes).astype(boxes.dtype)
    pts = None if points is None else np.stack(out_points).astype(points.dtype)
    return np.asarray(keep, dtype=np.int64), blended, pts


def batched_nms(
    boxes: np.ndarray, scores: np.ndarray, classes: np.ndarray, iou_threshold: float, max_out: int = 300
) -> np.ndarray:
    """Per-class NMS in one pass by offsetting each class's boxes far apart."""
    if len(boxes) == 0:
        return np.empty(0, dtype=np.int64)
    span = float(boxes.max()) + 1.0
    shifted = boxes + (classes.astype(np.float32) * span)[:, None]
    return nms(shifted, scores, iou_threshold, max_out)


def points_in_polygon(points: np.ndarray, polygon: np.ndarray) -> np.ndarray:
    """Even-odd test of N points (N,2) against one polygon (M,2); vectorised over points."""
    if len(points) == 0:
        return np.zeros(0, dtype=bool)
    x = points[:, 0][:, None]
    y = points[:, 1][:, None]
    x1, y1 = polygon[:, 0][None, :], polygon[:, 1][None, :]
    x2, y2 = np.roll(polygon[:, 0], -1)[None, :], np.roll(polygon[:, 1], -1)[None, :]
    crosses = (y1 > y) != (y2 > y)
    with np.errstate(divide="ignore", invalid="ignore"):
        x_at = (x2 - x1) * (y - y1) / (y2 - y1) + x1
    inside = crosses & (x < x_at)
    return (inside.sum(axis=1) % 2) == 1


def anchors(boxes: np.ndarray, kind: str = "bottom_center") -> np.ndarray:
    """The point of each box (N,4 xyxy) that decides zone membership."""
    cx = (boxes[:, 0] + boxes[:, 2]) / 2
    y = boxes[:, 3] if kind == "bottom_center" else (boxes[:, 1] + boxes[:, 3]) / 2
    return np.stack([cx, y], axis=1)
