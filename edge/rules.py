"""Rules: each type says, frame by frame, whether its condition holds; the lifecycle does the rest."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edge.config import CameraConfig, ConfigError, RuleConfig, ZoneConfig
from edge.detections import Detections
from edge.geometry import anchors, points_in_polygon
from edge.lifecycle import Lifecycle, Transition
from edge.schedule import ScheduleClock
from protocol import RuleType


@dataclass
class RuleResult:
    rule: RuleConfig
    transition: Transition


class Rule:
    """Base: schedule gate + lifecycle. Subclasses implement ``evaluate``."""

    def __init__(self, cfg: RuleConfig, zone: ZoneConfig | None, timezone: str) -> None:
        self.cfg = cfg
        self.zone = zone
        self.clock = ScheduleClock(cfg.schedule, timezone)
        self.lifecycle = Lifecycle(cfg.confirm_frames, cfg.end_after_s, cfg.cooldown_s, cfg.update_interval_s)
        self.polygon = np.asarray(zone.points, dtype=np.float32) if zone else None
        self.classes = set(cfg.classes)

    def evaluate(self, dets: Detections) -> tuple[bool, Detections]:
        raise NotImplementedError

    def step(self, ts_ms: int, dets: Detections) -> RuleResult | None:
        if not self.clock.armed(ts_ms):
            transition = self.lifecycle.close(ts_ms)  # a rule outside its schedule costs nothing
        else:
            holds, shown = self.evaluate(dets)
            transition = self.lifecycle.step(ts_ms, holds, shown.to_objects(), len(shown))
        return RuleResult(self.cfg, transition) if transition else None

    def in_zone(self, dets: Detections) -> Detections:
        if self.polygon is None or len(dets) == 0:
            return dets
        return dets.select(points_in_polygon(anchors(dets.boxes, self.cfg.anchor), self.polygon))


class IntrusionRule(Rule):
    """A person (or vehicle) inside a restricted zone: at least ``min_count`` of the watched classes."""

    def evaluate(self, dets: Detections) -> tuple[bool, Detections]:
        shown = self.in_zone(dets.with_labels(self.classes, self.cfg.min_score))
        return len(shown) >= self.cfg.min_count, shown


RULE_TYPES: dict[RuleType, type[Rule]] = {RuleType.INTRUSION: IntrusionRule}


def build_rules(camera: CameraConfig, timezone: str, available_labels: set[str]) -> list[Rule]:
    """Instantiate a camera's rules; refuse types not built and classes no loaded model gives."""
    zones = {z.id: z for z in camera.zones}
    rules: list[Rule] = []
    for i, rc in enumerate(camera.rules):
        where = f"cameras[{camera.id}].rules[{i}]"
        cls = RULE_TYPES.get(rc.type)
        if cls is None:
            raise ConfigError(
                f"{where}.type: rule type {rc.type.value!r} is not available in this version "
                f"(available: {', '.join(t.value for t in RULE_TYPES)})"
            )
        missing = sorted(set(rc.classes) - available_labels)
        if missing:
            raise ConfigError(
                f"{where}.classes: {missing} not provided by any loaded model "
                f"(provided: {', '.join(sorted(available_labels))})"
            )
        if rc.type is RuleType.INTRUSION and rc.zone is None:
            raise ConfigError(f"{where}.zone: an intrusion rule needs a zone")
        rules.append(cls(rc, zones.get(rc.zone) if rc.zone else None, timezone))
    return rules
