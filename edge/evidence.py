"""Evidence: an annotated snapshot of the frame that raised an event, stored content-addressed."""

from __future__ import annotations

import hashlib
import os
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import cv2
import numpy as np

from edge.config import RuleConfig, ZoneConfig
from protocol import DetectedObject, EvidenceItem

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


class EvidenceStore:
    """Files named by their sha256 under ``root/ab/abcdef….jpg``; writing is atomic."""

    def __init__(self, root: Path, max_side: int = 1280, jpeg_quality: int = 80) -> None:
        self.root = root
        self.max_side = max_side
        self.jpeg_quality = jpeg_quality

    def path_for(self, sha256: str, ext: str) -> Path:
        return self.root / sha256[:2] / f"{sha256}.{ext}"

    def save_snapshot(self, image: np.ndarray) -> EvidenceItem:
        h, w = image.shape[:2]
        if max(h, w) > self.max_side:
            s = self.max_side / max(h, w)
            image = cv2.resize(image, (round(w * s), round(h * s)), interpolation=cv2.INTER_AREA)
        ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, self.jpeg_quality])
        if not ok:
            raise RuntimeError("JPEG encoding failed")
        data = buf.tobytes()
        digest = hashlib.sha256(data).hexdigest()
        path = self.path_for(digest, "jpg")
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(f".tmp{os.getpid()}")
            tmp.write_bytes(data)
            os.replace(tmp, path)
        return EvidenceItem(kind="snapshot", sha256=digest, content_type="image/jpeg", size=len(data))
