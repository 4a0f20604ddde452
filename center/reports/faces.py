"""Evidence thumbnails for reports, every face blurred at render time.

A snapshot is blurred on the edge node when it is taken (edge/evidence/blur.py), but a node may
run with ``blur_faces: false`` and hazard photos come from phones: the center cannot rely on
that. So each image a report shows goes through the face model here (the edge's BlazeFace
detector and its pixelation, reused, not rewritten), at full size and then as the thumbnail the
PDF embeds:

1. the edge's two passes (edge/evidence/blur.py): faces on the whole image and on each person's
   upper body, and the head of every person (NanoDet) on whom no face is found (a face turned
   away is still a head); then faces on overlapping square tiles (BlazeFace sees the image at
   256×256, a small face on a large frame is found on a tile; on a tile only faces up to half its
   side scoring 0.8 or more count: the model sees face-like blobs in crowds and in pixelated
   heads on tiles, up to ~0.7) are pixelated;
2. the thumbnail is made, JPEG-encoded, decoded and searched again the same way; what is found
   is pixelated too, up to ``PASSES`` times;
3. if the face model still finds a face, or cannot be loaded at all, the image is left out
   (the report says so): no thumbnail is better than one with a face.
"""

from __future__ import annotations

import base64
import logging
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

THUMB_PX = 360  # longest side of an evidence thumbnail
JPEG_QUALITY = 80
PASSES = 3
TILE_FACE_MAX = 0.5  # on a tile, only faces up to this share of its side count
TILE_SCORE = 0.8  # and only at this score (faces on tiles of the test photos: 0.85–0.94)
MAX_SIDE = 4096  # larger images are shrunk first (bounded work per image)


class FacesUnavailable(RuntimeError):
    """The face model cannot be loaded: no thumbnail may be shown."""


PERSON_SCORE = 0.4
HEAD_MIN_PX = 24  # a person this high (pixels) gets a head blurred when no face is found on it


@lru_cache(maxsize=4)
def _detector(manifest: Path, model: str, score: float) -> Any:
    from common.configfile import ConfigError
    from edge.detect.detector import Detector
    from edge.detect.manifest import load_manifest

    try:
        models = load_manifest(manifest)
    except (ConfigError, OSError) as exc:
        raise FacesUnavailable(f"face model manifest {manifest}: {exc}") from None
    if model not in models:
        raise FacesUnavailable(f"{manifest} has no model {model!r}")
    try:
        return Detector(models[model], threads=1, score_threshold=score)
    except (ConfigError, OSError, RuntimeError, ValueError) as exc:
        raise FacesUnavailable(f"model {model}: {exc}") from None


def head_regions(faces: Any, people: Any, img: np.ndarray) -> list[tuple[int, int, int, int]]:
    """The edge's regions: faces on the frame and on each person's upper body, else the person's
    head (``people``: a person detector, or None)."""
    from edge.evidence.blur import FaceBlurrer, people_of

    h, w = img.shape[:2]
    persons = people_of(people.detect(img), w, h) if people is not None else []
    return FaceBlurrer(faces, head_fallback=True, head_min_px=HEAD_MIN_PX).regions(img, persons)


def windows(width: int, height: int) -> list[tuple[int, int, int, int]]:
    """The whole image, then square tiles of half its short side (at least 160 px) that overlap
    by a quarter, covering it."""
    out = [(0, 0, width, height)]
    side = max(160, min(width, height) // 2)
    if side >= max(width, height):
        return out
    step = side * 3 // 4

    def starts(length: int) -> list[int]:
        s = list(range(0, max(1, length - side) + 1, step))
        if s[-1] + side < length:
            s.append(length - side)
        return s

    for y in starts(height):
        for x in starts(width):
            out.append((x, y, min(x + side, width), min(y + side, height)))
    return out


def face_regions(detector: Any, img: np.ndarray) -> list[tuple[int, int, int, int]]:
    """Pixel rectangles around every face the model finds on ``img`` or on one of its tiles,
    grown to cover the head as the edge does."""
    from edge.evidence.blur import FACE_GROW, clip_box, grow

    h, w = img.shape[:2]
    out = []
    for i, (x1, y1, x2, y2) in enumerate(windows(w, h)):
        crop = img[y1:y2, x1:x2]
        cw, ch = x2 - x1, y2 - y1
        found = detector.detect(crop)
        for b, score in zip(found.boxes, found.scores, strict=True):
            if i and (max(b[2] - b[0], b[3] - b[1]) > TILE_FACE_MAX or score < TILE_SCORE):
                continue  # on a tile: only small faces the model is sure of (blobs score up to ~0.7)
            box = np.asarray(b, np.float32) * np.array([cw, ch, cw, ch], np.float32)
            box += np.array([x1, y1, x1, y1], np.float32)
            r = clip_box(grow(box, FACE_GROW), w, h)
            if r is not None:
                out.append(r)
    return out


def _jpeg(img: np.ndarray) -> bytes:
    import cv2

    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    if not ok:
        raise ValueError("JPEG encoding failed")
    return bytes(buf)


def blurred_thumbnail(detector: Any, data: bytes, px: int = THUMB_PX, people: Any = None) -> bytes | None:
    """The JPEG thumbnail (long side ``px``) of the image ``data`` with every face pixelated (and
    every head of a person ``people`` finds without a face); None if the image cannot be read or
    a face is still found after ``PASSES`` rounds."""
    import cv2

    from edge.evidence.blur import obscure

    img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if img is None:
        return None
    h, w = img.shape[:2]
    if max(h, w) > MAX_SIDE:
        f = MAX_SIDE / max(h, w)
        img = cv2.resize(img, (max(1, round(w * f)), max(1, round(h * f))), interpolation=cv2.INTER_AREA)
    obscure(img, head_regions(detector, people, img) + face_regions(detector, img))
    h, w = img.shape[:2]
    f = min(1.0, px / max(h, w))
    thumb = cv2.resize(img, (max(1, round(w * f)), max(1, round(h * f))), interpolation=cv2.INTER_AREA)
    for _ in range(PASSES):
        jpeg = _jpeg(thumb)
        seen = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
        if seen is None:
            return None
        regions = face_regions(detector, seen)
        if not regions:
            return jpeg
        obscure(thumb, regions)
    log.warning("report: a face is still found after %d blurring passes: the image is left out", PASSES)
    return None


class Thumbnails:
    """Makes the blurred thumbnails of one report (the face model loaded once, on first use)."""

    def __init__(self, manifest: Path, model: str, score: float, person_model: str | None) -> None:
        self.manifest, self.model, self.score = manifest, model, score
        self.person_model = person_model
        self.unavailable: str | None = None  # why no thumbnail can be made, once known
        self.left_out = 0  # images dropped because a face stayed

    def data_uri(self, data: bytes) -> str | None:
        if self.unavailable is not None:
            return None
        try:
            detector = _detector(self.manifest, self.model, self.score)
            people = _detector(self.manifest, self.person_model, PERSON_SCORE) if self.person_model else None
        except FacesUnavailable as exc:
            self.unavailable = str(exc)
            log.error("report: no evidence thumbnails: %s", exc)
            return None
        jpeg = blurred_thumbnail(detector, data, THUMB_PX, people)
        if jpeg is None:
            self.left_out += 1
            return None
        return "data:image/jpeg;base64," + base64.b64encode(jpeg).decode("ascii")

    def note(self) -> str:
        """What the report says about its images."""
        if self.unavailable is not None:
            return "人脸检测模型未能加载，报告不附证据图片（图片须经人脸模糊处理后才能出具）。"
        text = "图片中的人脸已在出具报告时检测并模糊处理（BlazeFace 人脸检测，未检出人脸的人员模糊头部）。"
        if self.left_out:
            text += f"另有 {self.left_out} 张图片未能确认已完全模糊，未附。"
        return text
