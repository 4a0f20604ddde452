"""vehicle_proximity (人车距离过近): a person too close to a *moving* vehicle.

Vehicles (``vehicle_classes``) move when their track's anchor (bottom centre) travelled faster
than ``min_speed`` over the last 2 s of the rule's own track history. Distance from a person's
feet (bottom centre) to the vehicle:
- without ``homography``: to the vehicle's box, in pixels, divided by the person's box height;
  close = at most ``distance`` person heights;
- with ``homography`` (3×3, image-normalised → ground metres): from the feet's ground point to
  the vehicle's ground line (its box's bottom edge), in metres; close = at most ``distance_m``.
  ``min_speed`` is then in m/s, else in vehicle-box heights per second.
Untracked vehicles have no speed: they count only with ``min_speed: 0``.
"""

from __future__ import annotations

from collections import deque
from typing import Any, Literal

import numpy as np
from pydantic import Field, field_validator, model_validator

from edge.detect.detections import Detections
from edge.rules.base import FrameContext, Rule, RuleConfigBase, Verdict
from edge.rules.phone_use import box_point_distance
from protocol import RuleType

SPEED_WINDOW_MS = 2000
FORGET_MS = 5000
METRIC_MIN_SPEED = 0.5  # m/s: the default min_speed with a homography


class VehicleProximityConfig(RuleConfigBase):
    type: Literal[RuleType.VEHICLE_PROXIMITY]
    vehicle_classes: list[str] = Field(
        default_factory=lambda: ["vehicle"], min_length=1, description="labels that are vehicles"
    )
    distance: float = Field(
        default=1.0, gt=0.0, le=50.0, description="largest allowed feet-to-vehicle gap, in person heights"
    )
    homography: list[list[float]] | None = Field(
        default=None, description="3×3 matrix, image-normalised (x, y) → ground-plane metres"
    )
    distance_m: float | None = Field(
        default=None,
        validate_default=True,
        gt=0.0,
        le=1000.0,
        description="with homography: largest allowed gap in metres",
    )
    min_speed: float = Field(
        default=0.2,
        ge=0.0,
        le=100.0,
        description=f"moving = faster than this, in box heights/s (with a homography: m/s, default "
        f"{METRIC_MIN_SPEED})",
    )

    @model_validator(mode="before")
    @classmethod
    def _metric_min_speed(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("min_speed") is None:
            data = {k: v for k, v in data.items() if k != "min_speed"}
            if data.get("homography") is not None:
                data["min_speed"] = METRIC_MIN_SPEED
        return data

    @field_validator("homography")
    @classmethod
    def _homography(cls, h: list[list[float]] | None) -> list[list[float]] | None:
        if h is None:
            return None
        if len(h) != 3 or any(len(row) != 3 for row in h):
            raise ValueError("need a 3×3 matrix (three rows of three numbers)")
        if any(v != v or abs(v) == float("inf") for row in h for v in row):
            raise ValueError("all nine numbers must be finite")
        det = (
            h[0][0] * (h[1][1] * h[2][2] - h[1][2] * h[2][1])
            - h[0][1] * (h[1][0] * h[2][2] - h[1][2] * h[2][0])
            + h[0][2] * (h[1][0] * h[2][1] - h[1][1] * h[2][0])
        )
        if abs(det) < 1e-12:
            raise ValueError("the matrix is singular (determinant 0): not a homography")
        return h

    @field_validator("distance_m")
    @classmethod
    def _distance_m(cls, d: float | None, info: Any) -> float | None:
        has_h = info.data.get("homography") is not None
        if has_h and d is None:
            raise ValueError("a homography measures in metres: give distance_m too")
        if d is not None and not has_h and "homography" in info.data:
            raise ValueError("distance_m needs a homography (image → ground metres)")
        return d

    def needed_labels(self) -> dict[str, list[str]]:
        return {**super().needed_labels(), "vehicle_classes": list(self.vehicle_classes)}


def apply_homography(h: np.ndarray, pts: np.ndarray) -> np.ndarray:
    """(M, 2) image-normalised points → (M, 2) ground-plane coordinates."""
    xyw = np.hstack([pts, np.ones((len(pts), 1))]) @ h.T
    with np.errstate(divide="ignore", invalid="ignore"):  # a point on the horizon: inf, never close
        out = xyw[:, :2] / xyw[:, 2:3]
    return np.where(np.isfinite(out), out, np.inf)


def point_segment_distance(p: np.ndarray, a: np.ndarray, b: np.ndarray) -> float:
    if not (np.isfinite(p).all() and np.isfinite(a).all() and np.isfinite(b).all()):
        return float("inf")
    ab = b - a
    t = 0.0 if float(ab @ ab) < 1e-12 else float(np.clip((p - a) @ ab / (ab @ ab), 0.0, 1.0))
    return float(np.hypot(*(p - (a + t * ab))))


class VehicleProximityRule(Rule[VehicleProximityConfig]):
    config_model = VehicleProximityConfig
    uses_tracks = True

    def setup(self) -> None:
        self.vehicle_labels = set(self.cfg.vehicle_classes)
        self.h = None if self.cfg.homography is None else np.asarray(self.cfg.homography, np.float64)
        self.min_speed = self.cfg.min_speed
        self.history: dict[int, deque[tuple[int, float, float, float]]] = {}

    def reset(self) -> None:
        self.history.clear()

    def speed(self, track: int, now: int) -> float | None:
        """Vehicle speed over the last 2 s (m/s with a homography, else box heights/s)."""
        pts = self.history.get(track)
        if not pts or len(pts) < 2:
            return None
        t1, x1, y1, h1 = pts[-1]
        t0, x0, y0, _ = next(p for p in pts if p[0] >= t1 - SPEED_WINDOW_MS)
        if t1 <= t0:
            t0, x0, y0, _ = pts[0]
        if t1 <= t0:
            return None
        if self.h is not None:
            g = apply_homography(self.h, np.array([[x0, y0], [x1, y1]]))
            if not np.isfinite(g).all():
                return None
            return float(np.hypot(*(g[1] - g[0]))) / ((t1 - t0) / 1000)
        return float(np.hypot(x1 - x0, y1 - y0)) / max(h1, 1e-9) / ((t1 - t0) / 1000)

    def evaluate(self, ctx: FrameContext) -> Verdict:
        now = ctx.ts_ms
        scale = ctx.scale
        vehicles = ctx.people(self.vehicle_labels, self.cfg.min_score)
        moving = np.zeros(len(vehicles), bool)
        for j in range(len(vehicles)):
            tid = -1 if vehicles.tracks is None else int(vehicles.tracks[j])
            x1, y1, x2, y2 = (float(v) for v in vehicles.boxes[j])
            if tid >= 0:
                # the homography works on normalised points; else pixels (speed must not depend on
                # the frame's aspect), with the box height in pixels as the unit of speed
                cx, by = (x1 + x2) / 2, y2
                if self.h is None:
                    cx, by = cx * scale[0], by * scale[1]
                hist = self.history.setdefault(tid, deque(maxlen=64))
                hist.append((now, cx, by, (y2 - y1) * scale[1]))
                v = self.speed(tid, now)
                moving[j] = v is not None and v >= self.min_speed
            else:
                moving[j] = self.min_speed <= 0
        for tid in [t for t, h in self.history.items() if now - h[-1][0] > FORGET_MS]:
            del self.history[tid]
        people = self.watched(ctx)
        if not moving.any() or len(people) == 0:
            return Verdict(False, people.select(np.zeros(len(people), bool)))
        near_p = np.zeros(len(people), bool)
        near_v = np.zeros(len(vehicles), bool)
        feet_n = np.stack([(people.boxes[:, 0] + people.boxes[:, 2]) / 2, people.boxes[:, 3]], 1).astype(
            np.float64
        )
        for j in np.flatnonzero(moving).tolist():
            vb = vehicles.boxes[j].astype(np.float64)
            if self.h is not None:
                assert self.cfg.distance_m is not None
                g_feet = apply_homography(self.h, feet_n)
                a, b = apply_homography(self.h, np.array([[vb[0], vb[3]], [vb[2], vb[3]]]))
                d = np.array([point_segment_distance(p, a, b) for p in g_feet])
                close = d <= self.cfg.distance_m
            else:
                heights = (people.boxes[:, 3] - people.boxes[:, 1]).astype(np.float64) * scale[1]
                d = box_point_distance(vb * np.tile(scale, 2), feet_n * scale)
                close = d <= self.cfg.distance * heights
            near_p |= close
            near_v[j] = bool(close.any())
        shown = Detections.concat([people.select(near_p), vehicles.select(near_v)])
        return Verdict(bool(near_p.any()), shown, count=int(near_p.sum()))
