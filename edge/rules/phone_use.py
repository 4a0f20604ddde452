"""phone_use (违规使用手机): a phone at a person's hand or head, in a no-phone zone.

A phone (``phone_classes``, COCO "cell phone" → ``phone``) counts for a person (in the zone, or
anywhere without one) when its box comes within ``reach`` person heights of one of that person's
wrists, nose or ears (pose keypoints matched to the person's box). People without a matched pose
are not judged: a phone merely near a person's box is not enough.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import Field

from edge.detect.detections import Detections
from edge.rules.base import L_EAR, L_WRIST, NOSE, R_EAR, R_WRIST, FrameContext, Rule, RuleConfigBase, Verdict
from protocol import RuleType

HOLD_POINTS = (L_WRIST, R_WRIST, NOSE, L_EAR, R_EAR)
KP_SCORE = 0.25


class PhoneUseConfig(RuleConfigBase):
    type: Literal[RuleType.PHONE_USE]
    phone_classes: list[str] = Field(
        default_factory=lambda: ["phone"], min_length=1, description="labels that are phones"
    )
    reach: float = Field(
        default=0.15, gt=0.0, le=2.0, description="phone to wrist/nose/ear distance, in person heights"
    )

    def needed_labels(self) -> dict[str, list[str]]:
        return {**super().needed_labels(), "phone_classes": list(self.phone_classes)}


def box_point_distance(box: np.ndarray, pts: np.ndarray) -> np.ndarray:
    """Distance from each point (M, 2) to an axis-aligned box (x1, y1, x2, y2); 0 inside."""
    dx = np.maximum(np.maximum(box[0] - pts[:, 0], 0), pts[:, 0] - box[2])
    dy = np.maximum(np.maximum(box[1] - pts[:, 1], 0), pts[:, 1] - box[3])
    return np.hypot(dx, dy)


class PhoneUseRule(Rule[PhoneUseConfig]):
    config_model = PhoneUseConfig
    needs_pose = True

    def setup(self) -> None:
        self.phone_labels = set(self.cfg.phone_classes)

    def evaluate(self, ctx: FrameContext) -> Verdict:
        phones = ctx.people(self.phone_labels, self.cfg.min_score)
        if len(phones) == 0:
            return Verdict(False, phones)
        people = self.watched(ctx, pose=True)
        if len(people) == 0 or people.keypoints is None:
            return Verdict(False, people)
        scale = ctx.scale
        pboxes = phones.boxes.astype(np.float64) * np.tile(scale, 2)
        using = np.zeros(len(people), bool)
        held = np.zeros(len(phones), bool)
        for i in range(len(people)):
            kp = people.keypoints[i, HOLD_POINTS]
            kp = kp[kp[:, 2] >= KP_SCORE]
            if len(kp) == 0:
                continue
            pts = kp[:, :2].astype(np.float64) * scale
            height = float(people.boxes[i, 3] - people.boxes[i, 1]) * scale[1]
            for j in range(len(phones)):
                if box_point_distance(pboxes[j], pts).min() <= self.cfg.reach * height:
                    using[i] = held[j] = True
        shown = Detections.concat([people.select(using), phones.select(held)])
        return Verdict(bool(using.any()), shown, count=int(using.sum()))
