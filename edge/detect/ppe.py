"""The PPE crop classifier (manifest family ``ppe_classifier``, bundled as ``ppe-classifier``):
hard hat on a head crop, hi-vis vest on a torso crop (models/train_ppe_classifier.py makes it).

Where the head and torso are: from the person's MoveNet keypoints when they were seen (face
points → head, shoulders and hips → torso), else from the person box's proportions (fitted on the
training labels: a head's side is ~0.47 of the person box's width, a torso's grows with the box's
height-to-width ratio). Each region is a square, as in training (side = the region's longest side
× the model's ``square_margin``), cut and resized to the model's input.

A region is *not judged* (``Region.reason``) when it is too small (``min_head_px`` /
``min_torso_px``), when the frame's edge cuts off more than ``max_outside`` of it, or, with pose,
when the keypoints that locate it were not seen (occluded, turned away). The rule counts these,
never alerts on them.

The ONNX session is loaded once per process and model (:func:`ppe_classifier`), shared by every
camera and rule; its sha256 is checked against the manifest, and its metadata must name the
classes this code reads (``heads``: ``{"helmet": ["helmet", "no_helmet"], "vest": ["vest",
"no_vest"]}``): a model that does not is refused at load with one line (``ConfigError``).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np

from common.configfile import ConfigError
from edge.detect.detector import CPU, make_session, resolve_providers
from edge.detect.manifest import ResolvedModel, load_manifest

if TYPE_CHECKING:
    from edge.config.models import ModelsConfig

log = logging.getLogger("parkguard.edge.ppe")

PPE_FAMILY = "ppe_classifier"
DEFAULT_PPE_MODEL = "ppe-classifier"
EXPECTED_HEADS = {"helmet": ["helmet", "no_helmet"], "vest": ["vest", "no_vest"]}
ITEMS = ("helmet", "vest")

# COCO-17 keypoints
NOSE, L_EYE, R_EYE, L_EAR, R_EAR = 0, 1, 2, 3, 4
L_SHOULDER, R_SHOULDER, L_HIP, R_HIP = 5, 6, 11, 12

# person box → head / torso (medians over the 5,220 head and 6,828 torso boxes of the training
# split that lie in a labelled Person box; W, H: the person box's width and height)
HEAD_SIDE_W = 0.47  # head side ≈ 0.47 W (at most 0.5 H)
HEAD_DY_SIDE = 0.48  # head centre ≈ 0.48 head sides below the box's top
TORSO_SIDE = (0.45, 0.15, 0.8, 1.5)  # side / W = clip(0.45 H/W + 0.15, 0.8, 1.5)
TORSO_DY = (0.31, 0.31)  # centre below the top, / W = 0.31 H/W + 0.31


@dataclass
class Region:
    """A square region of one person: centre and side in pixels; ``reason`` set when not judged."""

    item: str  # helmet (head region) or vest (torso region)
    cx: float
    cy: float
    side: float
    reason: str | None = None  # too_small, cut_by_edge, occluded

    def box(self, size: tuple[int, int]) -> np.ndarray:
        """Normalised xyxy, clipped to the frame."""
        w, h = size
        half = self.side / 2
        b = np.array([self.cx - half, self.cy - half, self.cx + half, self.cy + half]) / [w, h, w, h]
        return np.clip(b, 0.0, 1.0).astype(np.float32)


@dataclass
class Judgement:
    """One region's answer: ``worn`` (True / False), its probability, or ``reason`` why not judged."""

    region: Region
    worn: bool | None
    score: float  # probability of the answer given (0 when not judged)

    @property
    def label(self) -> str:
        return self.region.item if self.worn else f"no_{self.region.item}"


def _pt(kp: np.ndarray, i: int, size: tuple[int, int], min_score: float) -> np.ndarray | None:
    if kp[i, 2] < min_score:
        return None
    return np.array([kp[i, 0] * size[0], kp[i, 1] * size[1]], np.float64)


def regions_from_box(box: np.ndarray, size: tuple[int, int], margin: float) -> dict[str, Region]:
    """Head and torso squares from the person box's proportions (``box`` normalised xyxy)."""
    w, h = size
    x1, y1, x2, y2 = (float(v) for v in box * [w, h, w, h])
    bw, bh = max(x2 - x1, 1.0), max(y2 - y1, 1.0)
    cx = (x1 + x2) / 2
    head = min(HEAD_SIDE_W * bw, 0.5 * bh)
    ratio = bh / bw
    a, b, lo, hi = TORSO_SIDE
    torso = bw * float(np.clip(a * ratio + b, lo, hi))
    torso_cy = y1 + bw * (TORSO_DY[0] * ratio + TORSO_DY[1])
    # a box that starts at the frame's top edge may have lost the head (and its hard hat) above it
    cut_top = "cut_by_edge" if box[1] <= 0.005 else None
    return {
        "helmet": Region("helmet", cx, y1 + HEAD_DY_SIDE * head, head * margin, cut_top),
        "vest": Region("vest", cx, torso_cy, min(torso, bh) * margin),
    }


def regions_from_pose(
    kp: np.ndarray, box: np.ndarray, size: tuple[int, int], margin: float, min_score: float = 0.3
) -> dict[str, Region]:
    """Head and torso squares from the keypoints; a part whose keypoints were not seen is taken
    from the person box when the other part's keypoints were (the person is there), else marked
    ``occluded`` (no keypoint of the person seen)."""
    from_box = regions_from_box(box, size, margin)
    face = [p for i in (NOSE, L_EYE, R_EYE, L_EAR, R_EAR) if (p := _pt(kp, i, size, min_score)) is not None]
    shoulders = [p for i in (L_SHOULDER, R_SHOULDER) if (p := _pt(kp, i, size, min_score)) is not None]
    hips = [p for i in (L_HIP, R_HIP) if (p := _pt(kp, i, size, min_score)) is not None]
    out: dict[str, Region] = {}
    shoulder_w = float(np.hypot(*(shoulders[0] - shoulders[1]))) if len(shoulders) == 2 else 0.0
    if len(face) >= 2:
        f = np.array(face)
        head = max(float(np.ptp(f[:, 0])) * 1.6, shoulder_w * 0.55, 1.0)
        # the hard hat sits above the eyes: the square's centre a quarter side above the face's
        top = float(f[:, 1].min())
        out["helmet"] = Region("helmet", float(f[:, 0].mean()), top - 0.15 * head, head * margin)
    if len(shoulders) == 2:
        s = np.array(shoulders)
        sy = float(s[:, 1].mean())
        if hips:
            hy = float(np.mean([p[1] for p in hips]))
            height = max(hy - sy, 1.0)
        else:
            height = shoulder_w * 1.3
        side = max(height * 1.1, shoulder_w * 1.1)
        out["vest"] = Region("vest", float(s[:, 0].mean()), sy + height / 2, side * margin)
    if not out:
        return {k: Region(r.item, r.cx, r.cy, r.side, "occluded") for k, r in from_box.items()}
    for k, r in from_box.items():
        out.setdefault(k, r)
    return out


def check_region(r: Region, size: tuple[int, int], min_px: float, max_outside: float) -> Region:
    """Mark a region that is too small or cut by the frame's edge (sets ``reason``; too small
    wins over a reason already set: the more useful figure for whoever places the camera)."""
    w, h = size
    if r.side / 1.15 < min_px:  # the part itself (the square has a margin)
        r.reason = "too_small"
        return r
    if r.reason is not None:
        return r
    half = r.side / 2
    ix = max(0.0, min(w, r.cx + half) - max(0.0, r.cx - half))
    iy = max(0.0, min(h, r.cy + half) - max(0.0, r.cy - half))
    if 1.0 - ix * iy / (r.side * r.side) > max_outside:
        r.reason = "cut_by_edge"
    return r


def cut_square(image: np.ndarray, cx: float, cy: float, side: float, out: int) -> np.ndarray:
    """The square (centre cx, cy; ``side`` pixels) resized to ``out``×``out``; outside the image
    is grey 114. The one crop of the PPE classifier: training (models/train_ppe_classifier.py)
    and the edge cut the same way."""
    scale = out / max(side, 1e-6)
    m = np.array([[scale, 0, out / 2 - cx * scale], [0, scale, out / 2 - cy * scale]], dtype=np.float32)
    return cv2.warpAffine(
        image,
        m,
        (out, out),
        flags=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=(114, 114, 114),
    )


def cut(frame: np.ndarray, r: Region, out: int) -> np.ndarray:
    """The region's square resized to ``out``×``out`` (outside the frame: grey, as in training)."""
    return cut_square(frame, r.cx, r.cy, r.side, out)


def _meta_json(meta: dict[str, str], key: str, name: str) -> object:
    try:
        return json.loads(meta[key])
    except KeyError:
        raise ConfigError(
            f"model {name!r}: ONNX metadata has no {key!r} (not a PPE classifier export)"
        ) from None
    except json.JSONDecodeError:
        raise ConfigError(f"model {name!r}: ONNX metadata {key!r} is not JSON: {meta[key]!r}") from None


class PpeClassifier:
    """A loaded PPE classifier: square crops in, P(worn) per crop out (batched, one session)."""

    def __init__(
        self,
        model: ResolvedModel,
        threads: int = 0,
        providers: list[str] | None = None,
        verify_hash: bool = True,
    ) -> None:
        name = model.entry.name
        if model.entry.family != PPE_FAMILY:
            raise ConfigError(f"model {name!r}: family {model.entry.family!r}, expected {PPE_FAMILY!r}")
        if verify_hash:
            model.verify_hash()
        try:
            self.session = make_session(str(model.path), threads, resolve_providers(providers or [CPU]))
        except ConfigError:
            raise
        except Exception as exc:
            raise ConfigError(f"model {name!r}: ONNX Runtime cannot load {model.path}: {exc}") from None
        meta = dict(self.session.get_modelmeta().custom_metadata_map)
        heads = _meta_json(meta, "heads", name)
        if heads != EXPECTED_HEADS:
            raise ConfigError(
                f"model {name!r}: its class names {heads} are not {EXPECTED_HEADS}; "
                "refusing a model whose answers cannot be read"
            )
        size = _meta_json(meta, "input_size", name)
        mean, std = _meta_json(meta, "mean", name), _meta_json(meta, "std", name)
        if not (
            isinstance(size, list) and len(size) == 2 and size[0] == size[1] and 8 <= int(size[0]) <= 512
        ):
            raise ConfigError(f"model {name!r}: metadata input_size {size} is not a square side 8–512")
        if not (isinstance(mean, list) and isinstance(std, list) and len(mean) == len(std) == 3):
            raise ConfigError(f"model {name!r}: metadata mean/std must be three numbers each")
        if meta.get("channel_order", "BGR") != "BGR":
            raise ConfigError(f"model {name!r}: channel_order {meta['channel_order']!r}; only BGR is read")
        self.name = name
        self.size = int(size[0])
        self.mean = np.array(mean, np.float32)
        self.std = np.array(std, np.float32)
        self.margin = float(json.loads(meta.get("square_margin", "1.15")))
        self.input_name = self.session.get_inputs()[0].name
        outs = [o.name for o in self.session.get_outputs()]
        if not {"helmet", "vest"} <= set(outs):
            raise ConfigError(f"model {name!r}: outputs {outs}; expected 'helmet' and 'vest'")
        self._lock = threading.Lock()
        self.runs = 0
        self.crops = 0
        self.last_ms = 0.0

    def preprocess(self, crops: list[np.ndarray]) -> np.ndarray:
        x = np.stack(crops).astype(np.float32)
        x = (x - self.mean) / self.std
        return np.ascontiguousarray(x.transpose(0, 3, 1, 2))

    def classify(self, frame: np.ndarray, regions: list[Region]) -> list[float]:
        """P(worn) for each region (head regions read by the helmet head, torso by the vest)."""
        if not regions:
            return []
        x = self.preprocess([cut(frame, r, self.size) for r in regions])
        with self._lock:  # one session shared by every camera of the node
            t0 = time.perf_counter()
            helmet, vest = self.session.run(["helmet", "vest"], {self.input_name: x})
            self.last_ms = (time.perf_counter() - t0) * 1000
            self.runs += 1
            self.crops += len(regions)
        return [float((helmet if r.item == "helmet" else vest)[i, 0]) for i, r in enumerate(regions)]


def find_ppe_model(manifest: Path, name: str) -> ResolvedModel:
    models = load_manifest(manifest)
    if name not in models:
        have = [m.entry.name for m in models.values() if m.entry.family == PPE_FAMILY]
        raise ConfigError(
            f"{manifest}: no model {name!r} for missing_ppe provider 'classifier' "
            f"(family {PPE_FAMILY} models there: {', '.join(have) or 'none'})"
        )
    return models[name]


_lock = threading.Lock()
_registry: dict[tuple, PpeClassifier] = {}


def ppe_classifier(m: ModelsConfig, name: str = DEFAULT_PPE_MODEL) -> PpeClassifier:
    """The node's PPE classifier ``name``, loaded on first use and shared by every camera."""
    key = (str(Path(m.manifest).resolve()), name, m.threads, tuple(m.providers))
    with _lock:
        clf = _registry.get(key)
        if clf is None:
            clf = _registry[key] = PpeClassifier(
                find_ppe_model(Path(m.manifest), name), m.threads, m.providers
            )
            log.info("PPE classifier %s loaded (input %d px)", name, clf.size)
        return clf
