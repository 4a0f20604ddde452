"""missing_ppe (未戴安全帽 / 未穿反光衣): a person without a hard hat and/or a hi-vis vest.

Three providers:
- ``classifier`` (the bundled PPE model, ``ppe-classifier``): each watched person's head and torso
  are located (MoveNet keypoints, or the person box's proportions) and judged by the PPE crop
  classifier (edge/detect/ppe.py), per person (track id; IoU to the last frame's people without
  a tracker), with a vote over the last ``vote_frames`` analyzed frames: a person misses an item
  when at least ``min_votes`` of them said "not worn" with probability ≥ ``min_confidence`` — one
  blurred or odd frame raises nothing. People too small, cut by the frame's edge or whose
  keypoints are unseen are "cannot judge": counted (:attr:`MissingPpeRule.counts`, the node's
  ``parkguard_edge_ppe_judgements_total``), never an alert. Each frame's judgements (``helmet``,
  ``no_helmet``, ``vest``, ``no_vest`` with the head or torso box and the probability) are in
  :attr:`MissingPpeRule.judgements` (``parkguard-edge analyze --detections`` writes them).
- ``model``: a loaded detector provides the labels ``helmet`` and/or ``vest`` (manifest
  ``label_map``); a person misses a helmet when no helmet box's centre lies in the top quarter of
  their box, a vest when no vest box's centre lies in its middle (25–75 % of its height). With a
  ``head`` label (bare heads: models trained on SHWD-like data, see models/train_ppe.py), each
  head no helmet box covers is a missing helmet instead, and no person class is needed for it.
  No such model is bundled: ``build_rules`` refuses the config, naming the missing classes.
- ``baseline`` (the fallback where no PPE model is configured; a heuristic, logged as such at
  start): edge/rules/ppe.py's colour/shape check on the head and torso located by pose, with the
  rule's per-camera ``baseline`` calibration. Its objects are labelled ``no_helmet/baseline`` …
  and the rule's name carries ``[PPE baseline 基线]``.
People the check cannot judge (too small, keypoints unseen) are not reported.
"""

from __future__ import annotations

import logging
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from edge.detect.detections import Detections
from edge.detect.geometry import iou_matrix
from edge.rules.base import FrameContext, Rule, RuleConfigBase, Verdict, provided_text, relabel, track_keys
from edge.rules.ppe import PpeBaselineConfig, check_person
from protocol import RuleType

if TYPE_CHECKING:
    from edge.config.models import ModelsConfig
    from edge.detect.ppe import PpeClassifier, Region

log = logging.getLogger("parkguard.edge.rules")

BASELINE_TAG = "[PPE baseline 基线]"
PPE_LABELS = {"helmet": "helmet", "vest": "vest"}  # ppe item → the label a PPE model must provide


class PpeClassifierConfig(BaseModel):
    """missing_ppe ``provider: classifier``: the PPE crop model and how its answers are voted."""

    model_config = ConfigDict(extra="forbid")

    model: str = Field(default="ppe-classifier", description="manifest name (family ppe_classifier)")
    locate: Literal["pose", "box"] = Field(
        default="pose", description="head and torso from MoveNet keypoints (else the box), or the box only"
    )
    vote_frames: int = Field(default=5, ge=1, le=100, description="analyzed frames a judgement looks back on")
    min_votes: int = Field(default=3, ge=1, le=100, description="'not worn' answers that make it missing")
    min_confidence: float = Field(
        default=0.6, ge=0.5, le=1.0, description="a frame's answer counts only with this probability"
    )
    min_head_px: int = Field(default=12, ge=4, le=1000, description="smaller heads are not judged")
    min_torso_px: int = Field(default=20, ge=4, le=2000, description="smaller torsos are not judged")
    max_outside: float = Field(
        default=0.25, ge=0.0, le=0.9, description="share of a region outside the frame that stops judging it"
    )

    @model_validator(mode="after")
    def _votes(self) -> PpeClassifierConfig:
        if self.min_votes > self.vote_frames:
            raise ValueError(f"min_votes {self.min_votes} is more than vote_frames {self.vote_frames}")
        return self


class MissingPpeConfig(RuleConfigBase):
    type: Literal[RuleType.MISSING_PPE]
    ppe: list[Literal["helmet", "vest"]] = Field(description="what must be worn")
    provider: Literal["model", "classifier", "baseline"] = Field(
        default="model",
        description="a PPE detector's labels, the PPE crop classifier (bundled), or the colour/pose baseline",
    )
    classifier: PpeClassifierConfig | None = Field(
        default=None,
        validate_default=True,
        description="provider classifier: model and vote (default: PpeClassifierConfig())",
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

    @field_validator("classifier")
    @classmethod
    def _classifier(cls, c: PpeClassifierConfig | None, info: Any) -> PpeClassifierConfig | None:
        if info.data.get("provider") == "classifier":
            return c or PpeClassifierConfig()
        if c is not None and "provider" in info.data:
            raise ValueError(
                f"settings for provider: classifier; this rule's provider is {info.data['provider']!r}"
            )
        return c

    @model_validator(mode="after")
    def _label_baseline(self) -> MissingPpeConfig:
        # the PPE baseline is a heuristic: say so wherever the rule's name shows (events, UI)
        if self.provider == "baseline" and BASELINE_TAG not in self.name:
            self.name = f"{self.name} {BASELINE_TAG}".strip()
        return self

    def needed_labels(self) -> dict[str, list[str]]:
        # provider model: checked by MissingPpeRule.refusal (a head class can stand in for person + helmet)
        return {} if self.provider == "model" else super().needed_labels()


@dataclass
class _Person:
    """One watched person's recent answers per item: (worn, probability) or None (not judged)."""

    box: np.ndarray
    votes: dict[str, deque[tuple[bool, float] | None]]
    unseen: int = 0
    missing: dict[str, float] = field(default_factory=dict)  # item → mean probability of its "not worn"


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
    uses_tracks = True  # the classifier votes per tracked person

    def setup(self) -> None:
        self.items = list(self.cfg.ppe)
        self.cal = self.cfg.baseline  # set by the config for provider: baseline
        self.clf_cfg = self.cfg.classifier  # set by the config for provider: classifier
        self.needs_pose = self.cal is not None or (self.clf_cfg is not None and self.clf_cfg.locate == "pose")
        self.classifier: PpeClassifier | None = None  # attach() loads it (shared by every camera)
        self.judgements = Detections.empty()  # this frame's answers (classifier), for analyze
        # (item, result) → person-frames: helmet/no_helmet/vest/no_vest, or cannot_judge:<reason>
        self.counts: Counter[tuple[str, str]] = Counter()
        self._people: dict[int, _Person] = {}
        self._next_key = -2
        self._last_frame: np.ndarray | None = None
        self._last_verdict = Verdict(False, Detections.empty())
        if self.cal is not None:
            log.warning(
                "rule %s: missing_ppe on the colour baseline %s (no PPE model configured): a heuristic "
                "that cannot tell a yellow shirt from a vest; use provider: classifier",
                self.cfg.id,
                BASELINE_TAG,
            )

    def attach(self, models: ModelsConfig) -> None:
        """Load the PPE classifier (provider classifier): once per process, shared by the cameras."""
        if self.clf_cfg is not None and self.classifier is None:
            from edge.detect.ppe import ppe_classifier

            self.classifier = ppe_classifier(models, self.clf_cfg.model)

    def reset(self) -> None:
        self._people.clear()
        self._last_frame = None
        self.judgements = Detections.empty()

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
        if self.clf_cfg is not None:
            return self._classify(ctx)
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

    # -- provider classifier ---------------------------------------------------------------
    def _classify(self, ctx: FrameContext) -> Verdict:
        assert self.clf_cfg is not None
        if ctx.frame is None:
            return Verdict(False, Detections.empty())
        if ctx.frame is self._last_frame:  # the same still frame again: no new vote
            return self._last_verdict
        if self.classifier is None:
            self.warn_once("no-classifier", "PPE classifier not loaded (attach() not called): nobody judged")
            return Verdict(False, Detections.empty())
        from edge.detect.ppe import check_region, regions_from_box, regions_from_pose

        s = self.clf_cfg
        people = self.watched(ctx, pose=self.needs_pose)
        h, w = ctx.frame.shape[:2]
        size = (w, h)
        margin = self.classifier.margin
        regions: list[tuple[int, Region]] = []  # (person index, region)
        per_person: list[dict[str, Region]] = []
        for i in range(len(people)):
            kp = people.keypoints[i] if people.keypoints is not None else None
            if kp is not None and float(kp[:, 2].max()) > 0:
                found = regions_from_pose(kp, people.boxes[i], size, margin)
            elif kp is not None:  # pose ran and saw nobody here: no keypoint to locate by
                found = {k: _occluded(r) for k, r in regions_from_box(people.boxes[i], size, margin).items()}
            else:
                found = regions_from_box(people.boxes[i], size, margin)
            for item in self.items:
                min_px = s.min_head_px if item == "helmet" else s.min_torso_px
                found[item] = check_region(found[item], size, min_px, s.max_outside)
                if found[item].reason is None:
                    regions.append((i, found[item]))
            per_person.append(found)
        try:
            probs = self.classifier.classify(ctx.frame, [r for _, r in regions])
        except Exception as exc:  # ONNX Runtime's own errors: nobody judged this frame, no alert
            self.warn_once("classifier-error", "PPE classifier failed (%s): people not judged", exc)
            probs = []
            for _, r in regions:
                r.reason = "model_error"
        answers: dict[tuple[int, str], tuple[bool, float]] = {}
        for (i, r), p in zip(regions, probs, strict=False):
            answers[(i, r.item)] = (p >= 0.5, p if p >= 0.5 else 1.0 - p)
        keys = self._associate(people)
        j_boxes, j_scores, j_labels, j_tracks = [], [], [], []
        flagged: list[int] = []
        names: list[str] = []
        scores: list[float] = []
        for i, key in enumerate(keys):
            person = self._people[key]
            for item in self.items:
                ans = answers.get((i, item))
                region = per_person[i][item]
                if ans is None:
                    self.counts[(item, f"cannot_judge:{region.reason or 'model_error'}")] += 1
                    person.votes[item].append(None)
                    continue
                worn, prob = ans
                label = item if worn else f"no_{item}"
                self.counts[(item, label)] += 1
                person.votes[item].append(ans)
                j_boxes.append(region.box(size))
                j_scores.append(prob)
                j_labels.append(label)
                j_tracks.append(int(people.tracks[i]) if people.tracks is not None else -1)
            person.missing = {}
            for item in self.items:
                no = [
                    p
                    for v in person.votes[item]
                    if v is not None and not v[0] and (p := v[1]) >= s.min_confidence
                ]
                if len(no) >= s.min_votes:
                    person.missing[item] = float(np.mean(no))
            if person.missing:
                flagged.append(i)
                names.append("+".join(f"no_{m}" for m in self.items if m in person.missing))
                scores.append(float(np.mean(list(person.missing.values()))))
        self.judgements = Detections(
            np.array(j_boxes, np.float32).reshape(-1, 4),
            np.array(j_scores, np.float32),
            np.full(len(j_scores), -1, np.int32),
            j_labels,
            np.array(j_tracks, np.int64) if people.tracks is not None else None,
        )
        mask = np.zeros(len(people), bool)
        mask[flagged] = True
        shown = relabel(people.select(mask), names)
        shown.scores = np.array(scores, np.float32)
        shown.keypoints = None
        self._last_frame = ctx.frame
        self._last_verdict = Verdict(bool(flagged), shown)
        return self._last_verdict

    def _associate(self, people: Detections) -> list[int]:
        """A state key per person: its track id, else the IoU-best person of the last frames."""
        assert self.clf_cfg is not None
        n = self.clf_cfg.vote_frames
        tracks = track_keys(people)
        keys: list[int | None] = [t if t >= 0 else None for t in tracks]
        free = [k for k in self._people if k < -1 and k not in keys]
        untracked = [i for i, k in enumerate(keys) if k is None]
        if untracked and free:
            prev = np.array([self._people[k].box for k in free], np.float64)
            iou = iou_matrix(people.boxes[untracked].astype(np.float64), prev)
            used: set[int] = set()
            for flat in np.argsort(-iou, axis=None):
                a, b = divmod(int(flat), iou.shape[1])
                if iou[a, b] < 0.3:
                    break
                if keys[untracked[a]] is not None or b in used:
                    continue
                keys[untracked[a]] = free[b]
                used.add(b)
        out: list[int] = []
        for i, k in enumerate(keys):
            if k is None:
                k = self._next_key
                self._next_key -= 1
            if k not in self._people:
                self._people[k] = _Person(people.boxes[i].copy(), {it: deque(maxlen=n) for it in self.items})
            self._people[k].box = people.boxes[i].copy()
            self._people[k].unseen = 0
            out.append(k)
        seen = set(out)
        for k in list(self._people):
            if k not in seen:
                self._people[k].unseen += 1
                if self._people[k].unseen > 2 * n:
                    del self._people[k]
        return out


def _occluded(r: Region) -> Region:
    r.reason = "occluded"
    return r
