"""PPE **baseline**: a colour/shape attribute check on the head and torso located by pose.

This is not a trained PPE model (none exists offline; see docs/rules.md). It answers, for one
person, two questions from the pixels:
- vest: the share of the torso (the quadrilateral shoulders → hips of the matched pose) whose
  colour is hi-vis (hue within ``vest_hues_deg``, saturation and value above the minimums);
- hard hat: in the region above the eyes/ears (1.4 head widths high and wide), the largest blob
  of one hard-hat colour family (``helmet_hues_deg`` with enough saturation; or white) must cover
  ``helmet_min_fraction`` of the region, span ``helmet_min_width`` of the head width, be no taller
  than wide, and not touch the region's top edge (a dome on the head, not a wall or the sky).
Each answer is True (worn), False (missing) or None (cannot judge: person too small, keypoints
not seen). The thresholds are per-camera calibration values (``baseline:`` in the rule's config);
:func:`suggest_threshold` helps choose them from a few labelled crops of the camera.

Known limits: colours only (a yellow shirt passes as a vest, a bare head of yellow hair or a
white wall behind the head can pass as a hat), lighting and white balance shift hues, small or
back-facing people are not judged, no occlusion reasoning.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator

NOSE, L_EYE, R_EYE, L_EAR, R_EAR = 0, 1, 2, 3, 4
L_SHOULDER, R_SHOULDER, L_HIP, R_HIP = 5, 6, 11, 12


class PpeBaselineConfig(BaseModel):
    """missing_ppe ``provider: baseline``: per-camera calibration of the colour/shape check
    (this module). Hues in degrees 0–360, saturation and value 0–1. A baseline, not a trained model."""

    model_config = ConfigDict(extra="forbid")

    vest_hues_deg: list[tuple[float, float]] = Field(
        default_factory=lambda: [(45.0, 90.0)], min_length=1, description="hi-vis hue ranges (yellow-green)"
    )
    vest_min_saturation: float = Field(default=0.5, ge=0.0, le=1.0)
    vest_min_value: float = Field(default=0.45, ge=0.0, le=1.0)
    vest_min_fraction: float = Field(
        default=0.2, gt=0.0, le=1.0, description="share of torso pixels in hi-vis colours that means a vest"
    )
    helmet_hues_deg: list[tuple[float, float]] = Field(
        default_factory=lambda: [(0.0, 70.0), (190.0, 250.0), (330.0, 360.0)],
        description="coloured hard hat hue ranges (red/orange/yellow, blue)",
    )
    helmet_min_saturation: float = Field(default=0.5, ge=0.0, le=1.0)
    helmet_min_value: float = Field(default=0.45, ge=0.0, le=1.0)
    helmet_white: bool = Field(default=True, description="white hats count (saturation < 0.2, value > 0.75)")
    helmet_min_fraction: float = Field(
        default=0.1, gt=0.0, le=1.0, description="share of the region above the head that the hat blob covers"
    )
    helmet_min_width: float = Field(
        default=0.6,
        gt=0.0,
        le=2.0,
        description="the coloured blob spans at least this share of the head width",
    )
    min_person_px: int = Field(
        default=80, ge=16, le=4000, description="smaller people (box height) are not judged"
    )
    min_keypoint_score: float = Field(default=0.3, ge=0.0, le=1.0)

    @field_validator("vest_hues_deg", "helmet_hues_deg")
    @classmethod
    def _hues(cls, ranges: list[tuple[float, float]]) -> list[tuple[float, float]]:
        for lo, hi in ranges:
            if not (0.0 <= lo < hi <= 360.0):
                raise ValueError(f"hue range ({lo}, {hi}) must satisfy 0 <= low < high <= 360")
        return ranges


@dataclass
class PpeMeasure:
    """What the baseline measured on one person (None: region not located)."""

    vest_fraction: float | None = None
    helmet_fraction: float | None = None  # largest hat-coloured blob area / region area
    helmet_width: float | None = None  # largest hat-coloured blob width / head width
    helmet_dome: bool | None = None  # that blob is no taller than wide


@dataclass
class PpeVerdict:
    helmet: bool | None
    vest: bool | None
    measure: PpeMeasure


def _hue_mask(hsv: np.ndarray, ranges: list[tuple[float, float]], min_s: float, min_v: float) -> np.ndarray:
    h = hsv[..., 0].astype(np.float32) * 2.0  # OpenCV hue is 0–179 for 0–358°
    s = hsv[..., 1].astype(np.float32) / 255.0
    v = hsv[..., 2].astype(np.float32) / 255.0
    hue_ok = np.zeros(h.shape, bool)
    for lo, hi in ranges:
        hue_ok |= (h >= lo) & (h <= hi)
    return hue_ok & (s >= min_s) & (v >= min_v)


def vest_mask(hsv: np.ndarray, cal: PpeBaselineConfig) -> np.ndarray:
    return _hue_mask(hsv, cal.vest_hues_deg, cal.vest_min_saturation, cal.vest_min_value)


def helmet_masks(hsv: np.ndarray, cal: PpeBaselineConfig) -> list[np.ndarray]:
    """Hard-hat colour masks, one per colour family (coloured; white): each is judged alone, so a
    yellow hat against a white wall is not merged into one blob with the wall."""
    masks = [_hue_mask(hsv, cal.helmet_hues_deg, cal.helmet_min_saturation, cal.helmet_min_value)]
    if cal.helmet_white:
        masks.append((hsv[..., 1] < 0.2 * 255) & (hsv[..., 2] > 0.75 * 255))
    return masks


def _pt(kp: np.ndarray, i: int, size: tuple[int, int], min_score: float) -> np.ndarray | None:
    if kp[i, 2] < min_score:
        return None
    return np.array([kp[i, 0] * size[0], kp[i, 1] * size[1]], np.float64)


def torso_polygon(kp: np.ndarray, size: tuple[int, int], min_score: float) -> np.ndarray | None:
    """Pixel quadrilateral left shoulder → right shoulder → right hip → left hip (None if unseen)."""
    pts = [_pt(kp, i, size, min_score) for i in (L_SHOULDER, R_SHOULDER, R_HIP, L_HIP)]
    if any(p is None for p in pts):
        return None
    return np.array(pts)


def head_region(
    kp: np.ndarray, size: tuple[int, int], min_score: float
) -> tuple[int, int, int, int, float] | None:
    """Pixel box (x1, y1, x2, y2) where a hard hat sits (above the eyes), and the head width."""
    face = [p for i in (NOSE, L_EYE, R_EYE, L_EAR, R_EAR) if (p := _pt(kp, i, size, min_score)) is not None]
    if len(face) < 2:
        return None
    face_a = np.array(face)
    ears = [p for i in (L_EAR, R_EAR) if (p := _pt(kp, i, size, min_score)) is not None]
    shoulders = [p for i in (L_SHOULDER, R_SHOULDER) if (p := _pt(kp, i, size, min_score)) is not None]
    width = float(np.ptp(face_a[:, 0])) * 1.2
    if len(ears) == 2:
        width = max(width, float(abs(ears[0][0] - ears[1][0])) * 1.1)
    if len(shoulders) == 2:
        width = max(width, float(np.hypot(*(shoulders[0] - shoulders[1]))) * 0.5)
    if width < 4:
        return None
    cx = float(face_a[:, 0].mean())
    eye_y = float(face_a[:, 1].min())  # the highest face point (eyes or ears)
    x1, x2 = cx - 0.7 * width, cx + 0.7 * width
    y1, y2 = eye_y - 1.5 * width, eye_y - 0.1 * width
    w, h = size
    box = (max(0, int(x1)), max(0, int(y1)), min(w, int(x2)), min(h, int(y2)))
    if box[2] - box[0] < 4 or box[3] - box[1] < 3:
        return None
    return (*box, width)


def measure_person(
    frame_bgr: np.ndarray, box: np.ndarray, kp: np.ndarray, cal: PpeBaselineConfig
) -> PpeMeasure:
    """Measure one person: ``box`` normalised xyxy, ``kp`` (17, 3) normalised x, y, score."""
    h, w = frame_bgr.shape[:2]
    size = (w, h)
    out = PpeMeasure()
    if (box[3] - box[1]) * h < cal.min_person_px:
        return out
    poly = torso_polygon(kp, size, cal.min_keypoint_score)
    if poly is not None:
        x1, y1 = np.floor(poly.min(0)).astype(int)
        x2, y2 = np.ceil(poly.max(0)).astype(int)
        x1, y1, x2, y2 = max(0, x1), max(0, y1), min(w, x2 + 1), min(h, y2 + 1)
        if x2 - x1 >= 3 and y2 - y1 >= 3:
            crop = frame_bgr[y1:y2, x1:x2]
            region = np.zeros(crop.shape[:2], np.uint8)
            cv2.fillPoly(region, [np.round(poly - [x1, y1]).astype(np.int32)], 1)
            inside = region.astype(bool)
            if inside.sum() >= 9:
                hsv = cv2.cvtColor(crop, cv2.COLOR_BGR2HSV)
                out.vest_fraction = float(vest_mask(hsv, cal)[inside].mean())
    head = head_region(kp, size, cal.min_keypoint_score)
    if head is not None:
        hx1, hy1, hx2, hy2, head_w = head
        hsv = cv2.cvtColor(frame_bgr[hy1:hy2, hx1:hx2], cv2.COLOR_BGR2HSV)
        out.helmet_fraction, out.helmet_width, out.helmet_dome = 0.0, 0.0, False
        for mask in helmet_masks(hsv, cal):
            fraction, width, dome = _hat_shape(mask, head_w, clipped_top=hy1 == 0)
            if (dome, width, fraction) > (out.helmet_dome, out.helmet_width, out.helmet_fraction):
                out.helmet_fraction, out.helmet_width, out.helmet_dome = fraction, width, dome
    return out


def _hat_shape(mask: np.ndarray, head_w: float, clipped_top: bool) -> tuple[float, float, bool]:
    """(share of the region in the colour, largest blob width / head width, blob is a dome): no
    taller than wide, and not touching the region's top edge (a hat has something else above it;
    a wall or sky does not) unless the frame's edge cut the region."""
    n, _, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    if n <= 1:
        return 0.0, 0.0, False
    best = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    _, by, bw, bh, area = (int(v) for v in stats[best, :5])
    dome = bh <= bw and (by > 0 or clipped_top)
    return area / mask.size, bw / head_w, dome


def judge(m: PpeMeasure, cal: PpeBaselineConfig) -> PpeVerdict:
    vest = None if m.vest_fraction is None else m.vest_fraction >= cal.vest_min_fraction
    helmet = None
    if m.helmet_fraction is not None:
        helmet = (
            m.helmet_fraction >= cal.helmet_min_fraction
            and (m.helmet_width or 0.0) >= cal.helmet_min_width
            and bool(m.helmet_dome)
        )
    return PpeVerdict(helmet, vest, m)


def check_person(
    frame_bgr: np.ndarray, box: np.ndarray, kp: np.ndarray, cal: PpeBaselineConfig
) -> PpeVerdict:
    return judge(measure_person(frame_bgr, box, kp, cal), cal)


def suggest_threshold(with_ppe: list[float], without_ppe: list[float]) -> float:
    """Calibration helper: from fractions measured (``measure_person``) on people of this camera
    known to wear the item and known not to, the threshold that separates them best (midway
    between the classes where they separate; else the cut with the fewest errors)."""
    if not with_ppe or not without_ppe:
        raise ValueError("need measurements of people with and without the item")
    lo, hi = max(without_ppe), min(with_ppe)
    if hi > lo:
        return round((lo + hi) / 2, 4)
    cuts = sorted(set(with_ppe) | set(without_ppe))
    errors = [sum(v < c for v in with_ppe) + sum(v >= c for v in without_ppe) for c in cuts]
    return round(cuts[int(np.argmin(errors))], 4)
