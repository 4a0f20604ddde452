"""Snapshots of an alert: the frame that raised it, with the zone or tripwire, the objects and
the rule drawn on it (faces are blurred before, by the store)."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import cv2
import numpy as np

from edge.config.camera import ZoneConfig
from edge.rules.registry import RuleConfig
from protocol import DetectedObject

RED = (40, 40, 230)
YELLOW = (0, 210, 255)


def annotate(
    frame: np.ndarray,
    objects: list[DetectedObject],
    zone: ZoneConfig | None,
    rule: RuleConfig,
    ts_ms: int,
    timezone: str,
) -> np.ndarray:
    img = frame.copy()
    h, w = img.shape[:2]
    if zone is not None:
        pts = (np.asarray(zone.points) * [w, h]).astype(np.int32)
        overlay = img.copy()
        cv2.fillPoly(overlay, [pts], YELLOW)
        cv2.addWeighted(overlay, 0.18, img, 0.82, 0, img)
        cv2.polylines(img, [pts], True, YELLOW, 2, cv2.LINE_AA)
    line = rule.tripwire()
    if line is not None:  # a tripwire, drawn from its A end to its B end (arrow head at B)
        (ax, ay), (bx, by) = ((round(x * w), round(y * h)) for x, y in line)
        cv2.arrowedLine(img, (ax, ay), (bx, by), YELLOW, 2, cv2.LINE_AA, tipLength=0.04)
        cv2.putText(img, "A", (ax + 4, ay - 4), cv2.FONT_HERSHEY_SIMPLEX, 0.5, YELLOW, 1, cv2.LINE_AA)
    for o in objects:
        x1, y1, x2, y2 = (int(v) for v in np.asarray(o.box) * [w, h, w, h])
        cv2.rectangle(img, (x1, y1), (x2, y2), RED, 2, cv2.LINE_AA)
        tag = f"{o.label} {o.score:.2f}" + (f" #{o.track}" if o.track is not None else "")
        cv2.putText(img, tag, (x1, max(12, y1 - 4)), cv2.FONT_HERSHEY_SIMPLEX, 0.45, RED, 1, cv2.LINE_AA)
    stamp = datetime.fromtimestamp(ts_ms / 1000, ZoneInfo(timezone)).strftime("%Y-%m-%d %H:%M:%S")
    banner = f"{rule.id} [{rule.type.value}] {stamp}"
    cv2.rectangle(img, (0, 0), (w, 24), (0, 0, 0), -1)
    cv2.putText(img, banner, (6, 17), cv2.FONT_HERSHEY_SIMPLEX, 0.55, (255, 255, 255), 1, cv2.LINE_AA)
    return img
