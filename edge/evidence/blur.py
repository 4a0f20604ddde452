"""Faces blurred in everything that leaves the node (snapshots and every frame of a clip).

Two passes find what to blur:

1. the face model (BlazeFace, manifest entry ``blazeface``) on the whole frame, and again on
   the upper body of each person large enough for a face to be found there (a person far from
   the camera is a few pixels wide on the whole frame's 256×256 model input);
2. a fallback for every person (box at least ``head_min_px`` high) on whom neither pass found a
   face: the head region, from pose keypoints (nose, eyes, ears) where the detector gives them,
   otherwise the top of the person's box.

A region is pixelated and smoothed in place; nothing outside the regions changes.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from edge.detect.detections import Detections
from edge.detect.detector import Detector

log = logging.getLogger("parkguard.edge.blur")

# COCO-17 keypoints of the head (MoveNet's order): nose, eyes, ears
HEAD_KEYPOINTS = (0, 1, 2, 3, 4)
KEYPOINT_MIN_SCORE = 0.3
FACE_GROW = 0.4  # a face box grows by this share on each side (hair, chin, ears: the head)
CROP_MIN_PX = 64  # a person this high (pixels) gets a face pass on its own upper body


@dataclass(slots=True)
class Person:
    """A person in pixel coordinates, with COCO-17 keypoints (x, y, score) in pixels if known."""

    box: np.ndarray  # (4,) x1, y1, x2, y2
    keypoints: np.ndarray | None = None  # (17, 3)


def people_of(dets: Detections | None, width: int, height: int, label: str = "person") -> list[Person]:
    """The persons of a frame's detections, in pixels."""
    if dets is None or len(dets) == 0:
        return []
    scale = np.array([width, height, width, height], np.float32)
    out = []
    for i, lbl in enumerate(dets.labels):
        if lbl != label:
            continue
        kps = None
        if dets.keypoints is not None and dets.keypoints.shape[1] >= 5:
            kps = dets.keypoints[i] * np.array([width, height, 1], np.float32)
        out.append(Person(dets.boxes[i] * scale, kps))
    return out


def head_box(person: Person) -> np.ndarray:
    """Where the head of a person is: from its head keypoints, else the top of its box."""
    x1, y1, x2, y2 = (float(v) for v in person.box)
    bw, bh = max(x2 - x1, 1.0), max(y2 - y1, 1.0)
    if person.keypoints is not None:
        kp = person.keypoints[list(HEAD_KEYPOINTS)]
        seen = kp[kp[:, 2] >= KEYPOINT_MIN_SCORE]
        if len(seen) >= 2:
            cx, cy = seen[:, 0].mean(), seen[:, 1].mean()
            span = max(np.ptp(seen[:, 0]), np.ptp(seen[:, 1]))
            half = max(span * 0.9, 0.05 * bh, 4.0)
            return np.array([cx - half, cy - 1.2 * half, cx + half, cy + 1.1 * half], np.float32)
    # no keypoints: a standing person's head is the top fifth of the box, about half its width
    cx = (x1 + x2) / 2
    half_w = max(0.35 * bw, 0.12 * bh)
    return np.array([cx - half_w, y1 - 0.03 * bh, cx + half_w, y1 + 0.22 * bh], np.float32)


def grow(box: np.ndarray, share: float) -> np.ndarray:
    x1, y1, x2, y2 = box
    dx, dy = (x2 - x1) * share, (y2 - y1) * share
    return np.array([x1 - dx, y1 - dy, x2 + dx, y2 + dy], np.float32)


def clip_box(box: np.ndarray, width: int, height: int) -> tuple[int, int, int, int] | None:
    x1 = int(np.floor(max(0.0, box[0])))
    y1 = int(np.floor(max(0.0, box[1])))
    x2 = int(np.ceil(min(float(width), box[2])))
    y2 = int(np.ceil(min(float(height), box[3])))
    if x2 - x1 < 1 or y2 - y1 < 1:
        return None
    return x1, y1, x2, y2


def obscure(img: np.ndarray, regions: Sequence[tuple[int, int, int, int]]) -> np.ndarray:
    """Pixelate then smooth each region of ``img`` in place; returns ``img``."""
    for x1, y1, x2, y2 in regions:
        roi = img[y1:y2, x1:x2]
        h, w = roi.shape[:2]
        if h < 1 or w < 1:
            continue
        # at most 6×6 colours survive, whatever the size: no face model finds a face in it again
        cells = (max(1, min(w // 12, 6)), max(1, min(h // 12, 6)))
        small = cv2.resize(roi, cells, interpolation=cv2.INTER_AREA)
        coarse = cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)
        k = max(3, (min(w, h) // 4) | 1)
        roi[:] = cv2.GaussianBlur(coarse, (k, k), 0)
    return img


class FaceBlurrer:
    """Finds faces (model + head fallback) and blurs them. One per thread (it holds a session)."""

    def __init__(
        self,
        detector: Detector | None,
        head_fallback: bool = True,
        head_min_px: int = 40,
    ) -> None:
        self.detector = detector
        self.head_fallback = head_fallback
        self.head_min_px = head_min_px
        self.faces_found = 0
        self.heads_guessed = 0

    def _faces(self, img: np.ndarray) -> list[np.ndarray]:
        if self.detector is None:
            return []
        h, w = img.shape[:2]
        d = self.detector.detect(img)
        scale = np.array([w, h, w, h], np.float32)
        return [b * scale for b in d.boxes]

    def regions(self, img: np.ndarray, people: Sequence[Person]) -> list[tuple[int, int, int, int]]:
        """Pixel rectangles to blur in ``img``."""
        h, w = img.shape[:2]
        faces = self._faces(img)
        boxes: list[np.ndarray] = []
        for person in people:
            x1, y1, x2, y2 = (float(v) for v in person.box)
            ph = y2 - y1
            upper = np.array([x1, y1 - 0.05 * ph, x2, y1 + 0.5 * ph], np.float32)
            mine = [f for f in faces if _centre_in(f, upper)]
            if not mine and self.detector is not None and ph >= CROP_MIN_PX:
                mine = self._faces_in_crop(img, person)
                faces += mine
            if mine:
                continue
            if self.head_fallback and ph >= self.head_min_px:
                boxes.append(head_box(person))
                self.heads_guessed += 1
        self.faces_found += len(faces)
        boxes += [grow(f, FACE_GROW) for f in faces]
        out = []
        for b in boxes:
            r = clip_box(b, w, h)
            if r is not None:
                out.append(r)
        return out

    def _faces_in_crop(self, img: np.ndarray, person: Person) -> list[np.ndarray]:
        """The face model on a square crop of a person's upper body (faces too small on the frame)."""
        h, w = img.shape[:2]
        x1, y1, x2, y2 = (float(v) for v in person.box)
        side = max(x2 - x1, 0.5 * (y2 - y1))
        cx = (x1 + x2) / 2
        crop = clip_box(np.array([cx - side / 2, y1 - 0.1 * side, cx + side / 2, y1 + 0.9 * side]), w, h)
        if crop is None:
            return []
        cx1, cy1, cx2, cy2 = crop
        found = self._faces(img[cy1:cy2, cx1:cx2])
        return [f + np.array([cx1, cy1, cx1, cy1], np.float32) for f in found]

    def blur(self, img: np.ndarray, people: Sequence[Person]) -> np.ndarray:
        """A copy of ``img`` with every face found (or guessed) blurred."""
        out = img.copy()
        return obscure(out, self.regions(img, people))


def _centre_in(box: np.ndarray, area: np.ndarray) -> bool:
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    return bool(area[0] <= cx <= area[2] and area[1] <= cy <= area[3])


def make_blurrer(
    manifest: str | object, face_model: str, score: float, head_fallback: bool, head_min_px: int
) -> FaceBlurrer:
    """A blurrer with its own face-model session (1 thread: it runs beside the analysis)."""
    from common.configfile import ConfigError
    from edge.detect.manifest import load_manifest

    models = load_manifest(manifest)  # type: ignore[arg-type]
    if face_model not in models:
        raise ConfigError(
            f"evidence.face_model: {face_model!r} is not in {manifest} (have: {', '.join(models)})"
        )
    det = Detector(models[face_model], threads=1, score_threshold=score)
    return FaceBlurrer(det, head_fallback, head_min_px)
