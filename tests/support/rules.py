"""Rule types on sequences of detections built in the test (unit tests of the rule logic; the
real model and footage run in tests/edge/rules/test_pose_rules.py and test_analyze.py)."""

from __future__ import annotations

import numpy as np

from edge.config import CameraConfig
from edge.detect.detections import Detections
from edge.rules.base import FrameContext, Rule
from edge.rules.registry import build_rules

T0 = 1_795_827_600_000  # 2026-11-28T09:00:00+08:00, a Saturday
ZONE = {"id": "z", "points": [[0.2, 0.2], [0.8, 0.2], [0.8, 0.8], [0.2, 0.8]]}


def det(*objs: tuple) -> Detections:
    """objs: (label, (x1, y1, x2, y2)[, track[, score]])."""
    if not objs:
        d = Detections.empty()
        d.tracks = np.zeros(0, np.int64)
        return d
    boxes = np.array([o[1] for o in objs], np.float32)
    tracks = np.array([o[2] if len(o) > 2 else -1 for o in objs], np.int64)
    scores = np.array([o[3] if len(o) > 3 else 0.9 for o in objs], np.float32)
    return Detections(boxes, scores, np.zeros(len(objs), np.int32), [o[0] for o in objs], tracks)


def person_at(x: float, y: float, track: int = -1, h: float = 0.2, w: float = 0.08) -> tuple:
    """A person whose feet (bottom centre) are at (x, y)."""
    return ("person", (x - w / 2, y - h, x + w / 2, y), track)


def make(rule: dict, zones: list[dict] | None = None, labels: set[str] | None = None) -> Rule:
    cam = CameraConfig.model_validate(
        {"id": "cam", "url": "rtsp://cam/1", "zones": [ZONE] if zones is None else zones, "rules": [rule]}
    )
    return build_rules(cam, "Asia/Shanghai", labels or {"person", "vehicle", "phone"})[0]


def run(rule: Rule, frames: list[Detections], fps: float = 5.0, t0: int = T0) -> list[tuple[float, str, int]]:
    """Step through frames; (seconds, phase, count) per transition."""
    out = []
    for i, d in enumerate(frames):
        ts = t0 + round(i * 1000 / fps)
        r = rule.step(ts, FrameContext(ts, d, size=(800, 600)))
        if r is not None:
            out.append(((ts - t0) / 1000, r.phase.value, r.count))
    return out
