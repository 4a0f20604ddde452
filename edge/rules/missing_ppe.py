"""missing_ppe (未戴安全帽 / 未穿反光衣): a person without a hard hat and/or a hi-vis vest.

Two providers:
- ``model``: a loaded detector provides the labels ``helmet`` and/or ``vest`` (manifest
  ``label_map``); a person misses a helmet when no helmet box's centre lies in the top quarter of
  their box, a vest when no vest box's centre lies in its middle (25–75 % of its height). With a
  ``head`` label (bare heads: models trained on SHWD-like data, see models/train_ppe.py), each
  head no helmet box covers is a missing helmet instead, and no person class is needed for it.
  No such model is bundled: ``build_rules`` refuses the config, naming the missing classes.
- ``baseline``: edge/rules/ppe.py's colour/shape check on the head and torso located by pose, with the
  rule's per-camera ``baseline`` calibration. Its objects are labelled ``no_helmet/baseline`` …
  and the rule's name carries ``[PPE baseline 基线]``.
People the check cannot judge (too small, keypoints unseen) are not reported.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from pydantic import Field, field_validator, model_validator

from edge.detect.detections import Detections
from edge.rules.base import FrameContext, Rule, RuleConfigBase, Verdict, provided_text, relabel
from edge.rules.ppe import PpeBaselineConfig, check_person
from protocol import RuleType

BASELINE_TAG = "[PPE baseline 基线]"
PPE_LABELS = {"helmet": "helmet", "vest": "vest"}  # ppe item → the label a PPE model must provide


class MissingPpeConfig(RuleConfigBase):
    type: Literal[RuleType.MISSING_PPE]
    ppe: list[Literal["helmet", "vest"]] = Field(description="what must be worn")
    provider: Literal["model", "baseline"] = Field(
        default="model", description="a PPE model, or the colour/pose baseline"
    )
    baseline: PpeBaselineConfig | None = Field(
        default=None,
        validate_default=True,
        description="provider baseline: per-camera calibration (default: PpeBaselineConfig())",
    )

    @field_validator("ppe")
    @classmethod
    def _ppe(cls, ppe: list[str]) -> list[str]:
        if not ppe:
            raise ValueError("name at least one of helmet, vest")
        if len(set(ppe)) != len(ppe):
            raise ValueError(f"{ppe}: an item is named twice")
        return ppe

    @field_validator("baseline")
    @classmethod
    def _baseline(cls, b: PpeBaselineConfig | None, info: Any) -> PpeBaselineConfig | None:
        if info.data.get("provider") == "baseline":
            return b or PpeBaselineConfig()
        if b is not None and "provider" in info.data:
            raise ValueError("calibration for provider: baseline; this rule's provider is 'model'")
        return b

    @model_validator(mode="after")
    def _label_baseline(self) -> MissingPpeConfig:
        # the PPE baseline is a heuristic: say so wherever the rule's name shows (events, UI)
        if self.provider == "baseline" and BASELINE_TAG not in self.name:
            self.name = f"{self.name} {BASELINE_TAG}".strip()
        return self

    def needed_labels(self) -> dict[str, list[str]]:
        # provider model: checked by MissingPpeRule.refusal (a head class can stand in for person + helmet)
        return {} if self.provider == "model" else super().needed_labels()


def _centre_in(boxes: np.ndarray, person: np.ndarray, top: float, bottom: float) -> bool:
    if len(boxes) == 0:
        return False
    cx = (boxes[:, 0] + boxes[:, 2]) / 2
    cy = (boxes[:, 1] + boxes[:, 3]) / 2
    ph = person[3] - person[1]
    pw = person[2] - person[0]
    ok = (cx >= person[0] - 0.1 * pw) & (cx <= person[2] + 0.1 * pw)
    ok &= (cy >= person[1] + top * ph - 0.1 * ph) & (cy <= person[1] + bottom * ph)
    return bool(ok.any())


def _covered(head: np.ndarray, helmets: np.ndarray) -> bool:
    """A helmet box overlaps the head box by at least 30 % of the head's area."""
    if len(helmets) == 0:
        return False
    lt = np.maximum(head[:2], helmets[:, :2])
    rb = np.minimum(head[2:], helmets[:, 2:])
    inter = np.prod(np.clip(rb - lt, 0, None), axis=1)
    area = max(float((head[2] - head[0]) * (head[3] - head[1])), 1e-12)
    return bool((inter / area >= 0.3).any())


class MissingPpeRule(Rule[MissingPpeConfig]):
    config_model = MissingPpeConfig

    def setup(self) -> None:
        self.items = list(self.cfg.ppe)
        self.cal = self.cfg.baseline  # set by the config for provider: baseline
        self.needs_pose = self.cal is not None

    def refusal(self) -> tuple[str, str] | None:
        if self.cfg.provider != "model":
            return super().refusal()
        missing = self.model_labels_missing()
        if not missing:
            return None
        persons = ", ".join(self.cfg.classes)
        return "ppe", (
            f"provider 'model' needs a loaded model with the classes {missing} (helmet: helmet and "
            f"{persons}, or head; vest: vest and {persons}); none provides them (provided: "
            f"{provided_text(self.available)}). No PPE model is bundled: add one to the manifest "
            "(label_map its classes to helmet / head / vest) or use provider: baseline"
        )

    def model_labels_missing(self) -> list[str]:
        """Labels a PPE model must add for ``provider: model``: per item, the item's label and the
        rule's person classes; for helmet, a ``head`` class (bare heads) does instead."""
        missing: set[str] = set()
        for item in self.items:
            if item == "helmet" and "head" in self.available:
                continue
            missing |= ({PPE_LABELS[item]} | self.classes) - self.available
        return sorted(missing)

    def evaluate(self, ctx: FrameContext) -> Verdict:
        if self.cal is None:
            return self._model(ctx, self.watched(ctx))
        people = self.watched(ctx, pose=True)
        if ctx.frame is None or people.keypoints is None:
            return Verdict(False, people.select(np.zeros(len(people), bool)))
        missing: list[list[str]] = []
        for i in range(len(people)):
            v = check_person(ctx.frame, people.boxes[i], people.keypoints[i], self.cal)
            worn = {"helmet": v.helmet, "vest": v.vest}
            missing.append([item for item in self.items if worn[item] is False])  # None: not judged
        flagged = np.array([bool(m) for m in missing], bool)
        labels = ["+".join(f"no_{m}" for m in ms) + "/baseline" for ms in missing if ms]
        return Verdict(bool(flagged.any()), relabel(people.select(flagged), labels))

    def _model(self, ctx: FrameContext, people: Detections) -> Verdict:
        helmets = ctx.people({"helmet"}, self.cfg.min_score).boxes
        vests = ctx.people({"vest"}, self.cfg.min_score).boxes
        # a model with a head class (bare heads, e.g. SHWD's "person"): each head that no helmet
        # box covers is a missing helmet; then the person boxes are checked for the vest only
        by_heads = "helmet" in self.items and "head" in self.available
        missing: list[list[str]] = []
        for box in people.boxes:
            gone = []
            if "helmet" in self.items and not by_heads and not _centre_in(helmets, box, 0.0, 0.25):
                gone.append("helmet")
            if "vest" in self.items and not _centre_in(vests, box, 0.25, 0.75):
                gone.append("vest")
            missing.append(gone)
        flagged = np.array([bool(m) for m in missing], bool)
        parts = [relabel(people.select(flagged), ["+".join(f"no_{m}" for m in ms) for ms in missing if ms])]
        if by_heads:
            heads = self.in_zone(ctx.people({"head"}, self.cfg.min_score))
            bare = np.array([not _covered(h, helmets) for h in heads.boxes], bool)
            parts.append(relabel(heads.select(bare), ["no_helmet"] * int(bare.sum())))
        shown = Detections.concat(parts)
        return Verdict(len(shown) > 0, shown)
