"""What every rule type shares: its config's common fields, the per-frame context, the schedule
gate, the zone test and the lifecycle.

A rule type is one module in edge/rules/: a config model (``RuleConfigBase`` and the type's own
fields, ``type: Literal[RuleType.…]``) and a rule class that says, frame by frame, whether its
condition holds and which objects show it (:meth:`Rule.evaluate`); the schedule arms it and
:class:`edge.rules.lifecycle.Lifecycle` turns the stream of verdicts into one event per situation
(confirmation, ``new → update → end``, cooldown). edge/rules/registry.py lists the types.

Nothing here (or in a rule module) imports ``edge.config`` at run time: the camera config takes
its rules from the registry, so the dependency goes one way (config → rules).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Generic, Literal, TypeVar, get_args

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from edge.detect.detections import Detections
from edge.detect.geometry import Point, anchors, points_in_polygon
from edge.rules.lifecycle import Lifecycle, Transition
from edge.rules.schedule import Schedule, ScheduleClock
from edge.rules.warning import RuleWarning
from protocol import Id, RuleType, Severity

if TYPE_CHECKING:
    from edge.config.camera import ZoneConfig
    from edge.config.models import ModelsConfig

log = logging.getLogger("parkguard.edge.rules")

# COCO-17 keypoint indices (MoveNet's order)
NOSE, L_EAR, R_EAR = 0, 3, 4
L_SHOULDER, R_SHOULDER = 5, 6
L_WRIST, R_WRIST = 9, 10
L_HIP, R_HIP = 11, 12

DEFAULT_CONFIRM_FRAMES = 3


class RuleConfigBase(BaseModel):
    """The fields every rule type has (docs/rules.md). A type's config adds its own fields and
    ``type: Literal[RuleType.…]``; a key the type does not have is refused (``unknown key``)."""

    model_config = ConfigDict(extra="forbid")

    id: Id
    type: RuleType
    name: str = ""
    zone: Id | None = Field(default=None, description="zone id; none = whole frame (where allowed)")
    classes: list[str] = Field(
        default_factory=lambda: ["person"], min_length=1, description="semantic labels watched"
    )
    severity: Severity = Severity.GENERAL
    schedule: Schedule = Field(default_factory=Schedule)
    min_score: float = Field(default=0.4, ge=0.0, le=1.0)
    anchor: Literal["bottom_center", "center"] = "bottom_center"
    confirm_s: float | None = Field(
        default=None,
        gt=0.0,
        le=3600,
        description="seconds the condition must hold (instead of confirm_frames)",
    )
    confirm_frames: int = Field(
        default=DEFAULT_CONFIRM_FRAMES,
        ge=1,
        le=1000,
        description="consecutive analyzed frames to confirm (1 with confirm_s)",
    )
    end_after_s: float = Field(default=3.0, ge=0.0, le=3600, description="absence that ends the event")
    cooldown_s: float = Field(default=30.0, ge=0.0, le=86400, description="quiet time after an end")
    update_interval_s: float = Field(default=5.0, ge=0.5, le=3600)
    warning: RuleWarning | None = Field(
        default=None, description="on-site voice / light warning when an event starts (现场提醒)"
    )

    @field_validator("confirm_frames")
    @classmethod
    def _one_confirmation(cls, frames: int, info: Any) -> int:
        if info.data.get("confirm_s") is not None and frames != 1:
            raise ValueError("give confirm_frames or confirm_s, not both")
        return frames

    @model_validator(mode="after")
    def _confirm_by_time(self) -> RuleConfigBase:
        if self.confirm_s is not None:
            self.confirm_frames = 1
        return self

    @classmethod
    def rule_type(cls) -> RuleType:
        """The type this config is for (its ``type`` literal)."""
        (kind,) = get_args(cls.model_fields["type"].annotation)
        return RuleType(kind)

    def needed_labels(self) -> dict[str, list[str]]:
        """Field name → the labels that field needs from the loaded models."""
        return {"classes": list(self.classes)}

    def tripwire(self) -> list[Point] | None:
        """The line the rule watches, drawn on its snapshots (line_crossing); None for the others."""
        return None


class PresenceConfig(RuleConfigBase):
    """A rule that holds while enough of its classes are present (intrusion, smoking, fire_smoke)."""

    min_count: int = Field(
        default=1, ge=1, le=10_000, description="objects needed (in the zone, or in the whole frame)"
    )


@dataclass
class Verdict:
    """One frame's answer of a rule: does its condition hold, and which objects show it."""

    holds: bool
    shown: Detections
    count: int | None = None  # default: len(shown)


PoseFn = Callable[[np.ndarray], Detections]


@dataclass
class FrameContext:
    """Everything a rule may look at for one analyzed frame. Pose runs lazily, once per frame,
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


C = TypeVar("C", bound=RuleConfigBase)
P = TypeVar("P", bound=PresenceConfig)


def provided_text(available: set[str]) -> str:
    return ", ".join(sorted(available)) or "nothing"


class Rule(Generic[C]):
    """Base: schedule gate + lifecycle. Subclasses set ``config_model`` (their config class, the
    ``C`` they are generic in) and implement :meth:`evaluate`."""

    config_model: ClassVar[type[RuleConfigBase]]
    needs_pose = False  # the pipeline runs the pose model for this camera
    needs_tracks: ClassVar[bool] = False  # refused when tracking is off
    # reads track ids when there are any (a camera none of whose rules does runs no tracker)
    uses_tracks: ClassVar[bool] = False
    self_confirms: ClassVar[bool] = False  # the rule debounces itself; the lifecycle confirms at once
    model_only: ClassVar[bool] = False  # its classes come only from a model added for it (none bundled)

    def __init__(
        self, cfg: C, zone: ZoneConfig | None, timezone: str, available: set[str] | None = None
    ) -> None:
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
        self.available = set(available or ())  # labels the loaded models provide
        self.setup()

    def setup(self) -> None:
        """Type-specific state and settings (called at the end of ``__init__``)."""

    def refusal(self) -> tuple[str, str] | None:
        """(field, reason) when the loaded models (``available``) cannot run this rule, else None."""
        for fld, labels in self.cfg.needed_labels().items():
            missing = sorted(set(labels) - self.available)
            if not missing:
                continue
            provided = provided_text(self.available)
            if self.model_only:
                return fld, (
                    f"{self.cfg.type.value} rules need a loaded model with the classes {missing}; none "
                    f"provides them (provided: {provided}). No such model is bundled: add one to the "
                    "manifest and make it the detector"
                )
            return fld, f"{missing} not provided by any loaded model (provided: {provided})"
        return None

    def evaluate(self, ctx: FrameContext) -> Verdict:
        raise NotImplementedError

    def attach(self, models: ModelsConfig) -> None:
        """Load what the rule runs itself besides the detector (e.g. the PPE classifier), shared
        per process; a :class:`~common.configfile.ConfigError` says why it cannot."""

    def reset(self) -> None:
        """Forget per-track memory (the schedule closed: a new armed period starts afresh)."""

    def step(self, ts_ms: int, ctx: FrameContext | Detections) -> Transition | None:
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
        return transition

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


class PresenceRule(Rule[P]):
    """Holds while at least ``min_count`` of the watched classes are in the zone (or the frame)."""

    def evaluate(self, ctx: FrameContext) -> Verdict:
        shown = self.watched(ctx)
        return Verdict(len(shown) >= self.cfg.min_count, shown)


def relabel(dets: Detections, labels: list[str]) -> Detections:
    """A copy of ``dets`` whose objects carry other labels (e.g. ``no_helmet``)."""
    return Detections(dets.boxes, dets.scores, dets.class_ids, labels, dets.tracks, dets.keypoints)


def track_keys(dets: Detections) -> list[int]:
    """Track id per detection; -1 where untracked (or no tracker)."""
    if dets.tracks is None:
        return [-1] * len(dets)
    return [int(t) for t in dets.tracks]
