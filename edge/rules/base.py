"""What every rule type shares: the per-frame context, schedule gate, zone test and lifecycle.

A rule type only says, frame by frame, whether its condition holds and which objects show it
(:meth:`Rule.evaluate`); the schedule arms it and :class:`edge.rules.lifecycle.Lifecycle` turns the
stream of verdicts into one event per situation (confirmation, ``new → update → end``, cooldown).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from edge.config import RuleConfig, ZoneConfig
from edge.detect.detections import Detections
from edge.detect.geometry import anchors, points_in_polygon
from edge.rules.lifecycle import Lifecycle, Transition
from edge.rules.schedule import ScheduleClock

log = logging.getLogger("parkguard.edge.rules")

# COCO-17 keypoint indices (MoveNet's order)
NOSE, L_EAR, R_EAR = 0, 3, 4
L_SHOULDER, R_SHOULDER = 5, 6
L_WRIST, R_WRIST = 9, 10
L_HIP, R_HIP = 11, 12


@dataclass
class RuleResult:
    rule: RuleConfig
    transition: Transition


@dataclass
class Verdict:
    """One frame's answer of a rule: does its condition hold, and which objects show it."""

    holds: bool
    shown: Detections
    count: int | None = None  # default: len(shown)


PoseFn = Callable[[np.ndarray], Detections]


@dataclass
class FrameContext:
    """Everything a rule may look at for one analysed frame. Pose runs lazily, once per frame,
    and only when a rule asks for it (``people(..., pose=True)``)."""

    ts_ms: int
    dets: Detections
    frame: np.ndarray | None = None
    size: tuple[int, int] | None = None  # frame width, height in pixels (when frame is None: last known)
    pose_fn: PoseFn | None = None
    _poses: Detections | None = field(default=None, repr=False)
    _people: dict[tuple, Detections] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        if self.size is None and self.frame is not None:
            self.size = (int(self.frame.shape[1]), int(self.frame.shape[0]))

    @property
    def scale(self) -> np.ndarray:
        """Normalised → pixel factors (x, y); a square frame is assumed while no size is known."""
        w, h = self.size or (1, 1)
        return np.array([w, h], np.float64)

    def poses(self) -> Detections | None:
        """The pose model's people on this frame (None without a frame or a pose model)."""
        if self._poses is None and self.pose_fn is not None and self.frame is not None:
            self._poses = self.pose_fn(self.frame)
        return self._poses

    def people(self, classes: set[str], min_score: float, pose: bool = False) -> Detections:
        """Detections of ``classes`` above ``min_score``; with ``pose``, each carries the keypoints
        of the pose matched to it by IoU (zeros, score 0, where no pose matched)."""
        key = (tuple(sorted(classes)), min_score, pose)
        got = self._people.get(key)
        if got is None:
            got = self.dets.with_labels(classes, min_score)
            if pose and got.keypoints is None:
                from edge.detect.pose import match_poses

                # no one to match: the pose model need not run on this frame
                got.keypoints = match_poses(got, self.poses() if len(got) else None)
            self._people[key] = got
        return got


class Rule:
    """Base: schedule gate + lifecycle. Subclasses implement :meth:`evaluate`."""

    needs_pose = False  # the pipeline runs the pose model for this camera
    needs_tracks = False  # refused when tracking is off
    self_confirms = False  # the rule debounces itself; the lifecycle then confirms on the first frame

    def __init__(self, cfg: RuleConfig, zone: ZoneConfig | None, timezone: str) -> None:
        self.cfg = cfg
        self.zone = zone
        self.clock = ScheduleClock(cfg.schedule, timezone)
        self.lifecycle = Lifecycle(
            1 if self.self_confirms else cfg.confirm_frames,
            cfg.end_after_s,
            cfg.cooldown_s,
            cfg.update_interval_s,
            0.0 if self.self_confirms else (cfg.confirm_s or 0.0),
        )
        self.polygon = np.asarray(zone.points, dtype=np.float32) if zone else None
        self.classes = set(cfg.classes)
        self._armed = True
        self._warned: set[str] = set()
        self.available: set[str] = set()  # labels the loaded models provide (set by build_rules)
        self.setup()

    def setup(self) -> None:
        """Type-specific state and settings (called at the end of ``__init__``)."""

    def evaluate(self, ctx: FrameContext) -> Verdict:
        raise NotImplementedError

    def reset(self) -> None:
        """Forget per-track memory (the schedule closed: a new armed period starts afresh)."""

    def step(self, ts_ms: int, ctx: FrameContext | Detections) -> RuleResult | None:
        if isinstance(ctx, Detections):
            ctx = FrameContext(ts_ms, ctx)
        if not self.clock.armed(ts_ms):
            if self._armed:
                self._armed = False
                self.reset()
            transition = self.lifecycle.close(ts_ms)  # a rule outside its schedule costs nothing
        else:
            self._armed = True
            v = self.evaluate(ctx)
            count = len(v.shown) if v.count is None else v.count
            transition = self.lifecycle.step(ts_ms, v.holds, v.shown.to_objects(), count)
        return RuleResult(self.cfg, transition) if transition else None

    # -- helpers for the types ---------------------------------------------------------------
    def in_zone_mask(self, dets: Detections) -> np.ndarray:
        if self.polygon is None or len(dets) == 0:
            return np.ones(len(dets), bool)
        return points_in_polygon(anchors(dets.boxes, self.cfg.anchor), self.polygon)

    def in_zone(self, dets: Detections) -> Detections:
        if self.polygon is None or len(dets) == 0:
            return dets
        return dets.select(self.in_zone_mask(dets))

    def watched(self, ctx: FrameContext, pose: bool = False) -> Detections:
        """The rule's classes above its ``min_score``, inside its zone (all of the frame without one)."""
        return self.in_zone(ctx.people(self.classes, self.cfg.min_score, pose))

    def warn_once(self, key: str, msg: str, *args: object) -> None:
        if key not in self._warned:
            self._warned.add(key)
            log.warning("rule %s: " + msg, self.cfg.id, *args)


def relabel(dets: Detections, labels: list[str]) -> Detections:
    """A copy of ``dets`` whose objects carry other labels (e.g. ``no_helmet``)."""
    return Detections(dets.boxes, dets.scores, dets.class_ids, labels, dets.tracks, dets.keypoints)


def track_keys(dets: Detections) -> list[int]:
    """Track id per detection; -1 where untracked (or no tracker)."""
    if dets.tracks is None:
        return [-1] * len(dets)
    return [int(t) for t in dets.tracks]
