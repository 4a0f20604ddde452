"""Rules: each type says, frame by frame, whether its condition holds; the lifecycle does the rest.

One module per type; :func:`build_rules` instantiates a camera's rules and refuses what cannot
run (a class no loaded model provides, a type that needs tracks with tracking off). Field names
and meanings: docs/rules.md.
"""

from __future__ import annotations

from common.configfile import ConfigError
from edge.config import CameraConfig, RuleConfig
from edge.rules.base import FrameContext, Rule, RuleResult, Verdict
from edge.rules.counting import OvercrowdingRule, PostUnattendedRule
from edge.rules.detected import FireSmokeRule, SmokingRule
from edge.rules.intrusion import IntrusionRule
from edge.rules.line_crossing import LineCrossingRule
from edge.rules.loitering import LoiteringRule
from edge.rules.man_down import ManDownRule
from edge.rules.missing_ppe import MissingPpeRule
from edge.rules.phone_use import PhoneUseRule
from edge.rules.vehicle_proximity import VehicleProximityRule
from protocol import RuleType

RULE_TYPES: dict[RuleType, type[Rule]] = {
    RuleType.INTRUSION: IntrusionRule,
    RuleType.POST_UNATTENDED: PostUnattendedRule,
    RuleType.OVERCROWDING: OvercrowdingRule,
    RuleType.LOITERING: LoiteringRule,
    RuleType.MAN_DOWN: ManDownRule,
    RuleType.PHONE_USE: PhoneUseRule,
    RuleType.VEHICLE_PROXIMITY: VehicleProximityRule,
    RuleType.LINE_CROSSING: LineCrossingRule,
    RuleType.MISSING_PPE: MissingPpeRule,
    RuleType.SMOKING: SmokingRule,
    RuleType.FIRE_SMOKE: FireSmokeRule,
}

PPE_LABELS = {"helmet": "helmet", "vest": "vest"}  # ppe item → the label a PPE model must provide

__all__ = [
    "RULE_TYPES",
    "FrameContext",
    "IntrusionRule",
    "Rule",
    "RuleResult",
    "Verdict",
    "build_rules",
]


def _needed_labels(rc: RuleConfig) -> dict[str, list[str]]:
    """Field name → labels that field needs from the loaded models."""
    if rc.type is RuleType.MISSING_PPE and rc.provider == "model":
        return {}  # checked by _ppe_model_missing: a head class can stand in for person + helmet
    need = {"classes": list(rc.classes)}
    if rc.phone_classes:
        need["phone_classes"] = list(rc.phone_classes)
    if rc.vehicle_classes:
        need["vehicle_classes"] = list(rc.vehicle_classes)
    return need


def _ppe_model_missing(rc: RuleConfig, available: set[str]) -> list[str]:
    """Labels a PPE model must add for ``provider: model``: per item, the item's label and the
    rule's person classes; for helmet, a ``head`` class (bare heads) does instead."""
    missing: set[str] = set()
    persons = set(rc.classes)
    for item in rc.ppe or []:
        need = {PPE_LABELS[item]} | persons
        if item == "helmet" and "head" in available:
            continue
        missing |= need - available
    return sorted(missing)


def build_rules(
    camera: CameraConfig, timezone: str, available_labels: set[str], *, tracking: bool = True
) -> list[Rule]:
    """Instantiate a camera's rules; refuse classes no loaded model gives, and types that need
    track ids when tracking is off."""
    zones = {z.id: z for z in camera.zones}
    provided = ", ".join(sorted(available_labels)) or "nothing"
    rules: list[Rule] = []
    for i, rc in enumerate(camera.rules):
        where = f"cameras[{camera.id}].rules[{i}]"
        cls = RULE_TYPES.get(rc.type)
        if cls is None:
            raise ConfigError(
                f"{where}.type: rule type {rc.type.value!r} is not available in this version "
                f"(available: {', '.join(t.value for t in RULE_TYPES)})"
            )
        if rc.type is RuleType.MISSING_PPE and rc.provider == "model":
            missing = _ppe_model_missing(rc, available_labels)
            if missing:
                raise ConfigError(
                    f"{where}.ppe: provider 'model' needs a loaded model with the classes {missing} "
                    f"(helmet: helmet and {', '.join(rc.classes)}, or head; vest: vest and "
                    f"{', '.join(rc.classes)}); none provides them (provided: {provided}). No PPE model is "
                    "bundled: add one to the manifest (label_map its classes to helmet / head / vest) "
                    "or use provider: baseline"
                )
        for fld, labels in _needed_labels(rc).items():
            missing = sorted(set(labels) - available_labels)
            if not missing:
                continue
            if rc.type in (RuleType.SMOKING, RuleType.FIRE_SMOKE):
                raise ConfigError(
                    f"{where}.{fld}: {rc.type.value} rules need a loaded model with the classes "
                    f"{missing}; none provides them (provided: {provided}). No such model is bundled: "
                    "add one to the manifest and make it the detector"
                )
            raise ConfigError(
                f"{where}.{fld}: {missing} not provided by any loaded model (provided: {provided})"
            )
        if cls.needs_tracks and not tracking:
            raise ConfigError(f"{where}.type: {rc.type.value} rules need track ids: turn tracker.enabled on")
        rule = cls(rc, zones.get(rc.zone) if rc.zone else None, timezone)
        rule.available = set(available_labels)
        rules.append(rule)
    return rules
