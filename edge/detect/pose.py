"""Pose for the rules that need it (man_down, phone_use, missing_ppe baseline).

The MoveNet MultiPose model (manifest family ``movenet_multipose``, bundled as
``movenet-multipose``) runs only on cameras that have such a rule, at most once per analyzed
frame, and its people are matched to the detector's person boxes by IoU. The ONNX session is
loaded once per process (:func:`pose_estimator`, a small lazy registry), never per camera.
"""

from __future__ import annotations

import logging
import math
import threading
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from common.configfile import ConfigError
from edge.detect.detections import Detections
from edge.detect.detector import Detector
from edge.detect.geometry import iou_matrix
from edge.detect.manifest import ResolvedModel, load_manifest

if TYPE_CHECKING:  # edge.config imports the rules, and they this module
    from edge.config.models import ModelsConfig

log = logging.getLogger("parkguard.edge.pose")

POSE_FAMILY = "movenet_multipose"
DEFAULT_POSE_MODEL = "movenet-multipose"
POSE_SCORE = 0.2  # MoveNet person score: lower than a detector's, its boxes are matched anyway
NUM_KEYPOINTS = 17
L_SHOULDER, R_SHOULDER, L_HIP, R_HIP = 5, 6, 11, 12

_lock = threading.Lock()
_registry: dict[tuple, PoseEstimator] = {}


class PoseEstimator:
    """A loaded pose model: a BGR frame in, people with 17 keypoints each out."""

    def __init__(self, model: ResolvedModel, threads: int = 0, providers: list[str] | None = None) -> None:
        self.detector = Detector(model, threads, providers, score_threshold=POSE_SCORE)
        self.name = model.entry.name
        self._run_lock = threading.Lock()
        self.runs = 0

    def __call__(self, frame_bgr: np.ndarray) -> Detections:
        with self._run_lock:  # one session shared by every camera of the node
            self.runs += 1
            return self.detector.detect(frame_bgr)


def find_pose_model(manifest: Path) -> ResolvedModel:
    models = load_manifest(manifest)
    if DEFAULT_POSE_MODEL in models and models[DEFAULT_POSE_MODEL].entry.family == POSE_FAMILY:
        return models[DEFAULT_POSE_MODEL]
    for m in models.values():
        if m.entry.family == POSE_FAMILY:
            return m
    raise ConfigError(
        f"{manifest}: rules man_down, phone_use and missing_ppe (baseline) need a pose model "
        f"(family {POSE_FAMILY}, e.g. {DEFAULT_POSE_MODEL}); the manifest has none"
    )


def pose_estimator(m: ModelsConfig) -> PoseEstimator:
    """The node's pose model, loaded on first use and shared by every camera (and pipeline)."""
    key = (str(m.manifest), m.threads, tuple(m.providers))
    with _lock:
        est = _registry.get(key)
        if est is None:
            est = _registry[key] = PoseEstimator(find_pose_model(m.manifest), m.threads, m.providers)
        return est


class CameraPose:
    """One camera's view of the shared estimator: a frame handed again (the motion gate skipped
    the next one, so the pipeline sees the same still frame) is not run again."""

    def __init__(self, estimator: PoseEstimator) -> None:
        self.estimator = estimator
        self._frame: np.ndarray | None = None
        self._poses: Detections | None = None

    def __call__(self, frame_bgr: np.ndarray) -> Detections:
        if self._frame is not frame_bgr or self._poses is None:
            try:
                self._poses = self.estimator(frame_bgr)
            except Exception as exc:  # ONNX Runtime's own errors: the camera goes on without pose
                log.error("pose model failed on a frame (%s): people not judged by pose this frame", exc)
                self._poses = Detections.empty()
            self._frame = frame_bgr
        return self._poses


def match_poses(people: Detections, poses: Detections | None, min_iou: float = 0.3) -> np.ndarray:
    """Keypoints (N, 17, 3) for each person box: those of the pose whose box overlaps it best
    (greedy, one pose per person, IoU >= ``min_iou``); zeros (score 0) where none matched."""
    out = np.zeros((len(people), NUM_KEYPOINTS, 3), np.float32)
    if poses is None or len(people) == 0 or len(poses) == 0 or poses.keypoints is None:
        return out
    iou = iou_matrix(people.boxes.astype(np.float64), poses.boxes.astype(np.float64))
    used_p: set[int] = set()
    used_q: set[int] = set()
    for flat in np.argsort(-iou, axis=None):
        p, q = divmod(int(flat), iou.shape[1])
        if iou[p, q] < min_iou:
            break
        if p in used_p or q in used_q:
            continue
        used_p.add(p)
        used_q.add(q)
        k = min(NUM_KEYPOINTS, poses.keypoints.shape[1])
        out[p, :k] = poses.keypoints[q, :k]
    return out


def torso_angle_deg(kp: np.ndarray, size: tuple[int, int] | None, min_score: float = 0.3) -> float | None:
    """Angle between the torso (hip centre → shoulder centre) and the image's upward vertical, in
    degrees: ~0 standing, ~90 lying, ~180 upside down. None when no shoulder or no hip is seen.
    ``kp``: (17, 3) normalised x, y, score; ``size``: frame width, height (pixel aspect)."""
    w, h = size or (1, 1)
    shoulders = [kp[i] for i in (L_SHOULDER, R_SHOULDER) if kp[i, 2] >= min_score]
    hips = [kp[i] for i in (L_HIP, R_HIP) if kp[i, 2] >= min_score]
    if not shoulders or not hips:
        return None
    sx, sy = np.mean([s[0] for s in shoulders]) * w, np.mean([s[1] for s in shoulders]) * h
    hx, hy = np.mean([p[0] for p in hips]) * w, np.mean([p[1] for p in hips]) * h
    dx, dy = sx - hx, sy - hy
    length = math.hypot(dx, dy)
    if length < 1e-6:
        return None
    return math.degrees(math.acos(max(-1.0, min(1.0, -dy / length))))
