"""man_down / fall (人员倒地): a person who fell and lies still.

Per person (track), frame by frame:
- *lying*: the torso (hip centre → shoulder centre, from the pose matched to the person's box) is
  more than ``fall.torso_angle_deg`` from vertical; without a usable pose, the box is wider than
  ``fall.aspect_ratio`` × its height (pixels);
- *a fall*: the person was seen upright at most ``fall.window_s`` before lying, and between the two
  the hips (when the pose shows them both times; else the top of the box) dropped by at least
  ``fall.min_drop`` of the standing box height, or the box's width/height grew by
  ``fall.aspect_growth`` (someone falling towards the camera drops little in the image);
- *still*: while lying, the feet (box anchor) stay within ``fall.still_tolerance`` lying-box
  heights of where they were when lying started (moving on restarts the clock).
The condition holds once a person has been lying still for ``duration_s`` after a fall (or after
being found lying, with ``fall.require_fall: false``). Untracked people share one state.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from edge.detect.geometry import anchors
from edge.detect.pose import torso_angle_deg
from edge.rules.base import L_HIP, R_HIP, FrameContext, Rule, RuleConfigBase, Verdict, track_keys
from protocol import RuleType

FORGET_MS = 30_000
KP_SCORE = 0.3


class FallConfig(BaseModel):
    """man_down: what counts as lying, as a fall and as still (see docs/rules.md)."""

    model_config = ConfigDict(extra="forbid")

    torso_angle_deg: float = Field(
        default=60.0, ge=20.0, le=89.0, description="torso (hips → shoulders) this far from vertical = lying"
    )
    aspect_ratio: float = Field(
        default=1.0,
        ge=0.3,
        le=5.0,
        description="without a usable pose: box width/height (pixels) above this = lying",
    )
    window_s: float = Field(
        default=3.0, gt=0.0, le=60.0, description="the person was upright at most this long before going down"
    )
    min_drop: float = Field(
        default=0.3,
        ge=0.0,
        le=1.0,
        description="in the fall the hips (or the box top) drop by this share of the standing height",
    )
    aspect_growth: float = Field(
        default=2.0,
        ge=1.0,
        le=20.0,
        description="or, in the fall, box width/height grows by this factor (falling towards the camera)",
    )
    require_fall: bool = Field(
        default=True, description="false: a person found lying (never seen upright) counts too"
    )
    still_tolerance: float = Field(
        default=0.5, gt=0.0, le=10.0, description="feet may move this many lying-box heights while down"
    )


class ManDownConfig(RuleConfigBase):
    type: Literal[RuleType.MAN_DOWN]
    duration_s: float = Field(default=3.0, gt=0.0, le=86400, description="time down and still")
    fall: FallConfig = Field(default_factory=FallConfig, description="what counts as lying, a fall, still")


@dataclass
class _Person:
    seen_ms: int
    upright_ms: int | None = None
    upright_top: float = 0.0  # pixels: top of the standing box
    upright_hip: float | None = None  # pixels: hip centre height when standing
    upright_h: float = 0.0  # pixels: standing box height
    upright_aspect: float = 0.0  # standing box width / height (pixels)
    down_since: int | None = None
    down_pos: np.ndarray | None = None
    fell: bool = False


def hip_y(kp: np.ndarray, height: float) -> float | None:
    ys = [kp[i, 1] for i in (L_HIP, R_HIP) if kp[i, 2] >= KP_SCORE]
    return float(np.mean(ys)) * height if ys else None


class ManDownRule(Rule[ManDownConfig]):
    config_model = ManDownConfig
    uses_tracks = True
    needs_pose = True

    def setup(self) -> None:
        self.fall = self.cfg.fall
        self.duration_ms = int(self.cfg.duration_s * 1000)
        self.window_ms = int(self.fall.window_s * 1000)
        self.people: dict[int, _Person] = {}

    def reset(self) -> None:
        self.people.clear()

    def is_lying(self, box: np.ndarray, kp: np.ndarray | None, size: tuple[int, int] | None) -> bool:
        angle = None if kp is None else torso_angle_deg(kp, size, KP_SCORE)
        if angle is not None:
            return angle >= self.fall.torso_angle_deg
        w, h = size or (1, 1)
        bw, bh = (box[2] - box[0]) * w, (box[3] - box[1]) * h
        return bool(bw > self.fall.aspect_ratio * max(bh, 1e-9))

    def evaluate(self, ctx: FrameContext) -> Verdict:
        now = ctx.ts_ms
        people = self.watched(ctx, pose=True)
        scale = ctx.scale
        feet = anchors(people.boxes, self.cfg.anchor).astype(np.float64) * scale if len(people) else None
        lying = [
            self.is_lying(
                people.boxes[i], None if people.keypoints is None else people.keypoints[i], ctx.size
            )
            for i in range(len(people))
        ]
        # untracked people share one state: the first lying one (else the first one) speaks for them
        groups: dict[int, int] = {}
        for i, key in enumerate(track_keys(people)):
            if key not in groups or (key < 0 and lying[i] and not lying[groups[key]]):
                groups[key] = i
        down = np.zeros(len(people), bool)
        for key, i in groups.items():
            st = self.people.get(key)
            if st is None:
                st = self.people[key] = _Person(now)
            st.seen_ms = now
            box = people.boxes[i]
            top, height = float(box[1]) * scale[1], float(box[3] - box[1]) * scale[1]
            aspect = float(box[2] - box[0]) * scale[0] / max(height, 1e-9)
            kp = None if people.keypoints is None else people.keypoints[i]
            hip = None if kp is None else hip_y(kp, scale[1])
            assert feet is not None
            if not lying[i]:
                st.upright_ms, st.upright_top, st.upright_hip, st.upright_h = now, top, hip, height
                st.upright_aspect = aspect
                st.down_since, st.down_pos, st.fell = None, None, False
                continue
            if st.down_since is None:
                st.down_since, st.down_pos = now, feet[i]
                st.fell = self._fell(st, now, top, hip, aspect)
            elif float(np.hypot(*(feet[i] - st.down_pos))) > self.fall.still_tolerance * max(height, 1.0):
                st.down_since, st.down_pos = now, feet[i]  # moving on: not lying still (yet)
            if now - st.down_since >= self.duration_ms and (st.fell or not self.fall.require_fall):
                down[i] = True
        for key in [k for k, st in self.people.items() if now - st.seen_ms > FORGET_MS]:
            del self.people[key]
        shown = people.select(down)
        return Verdict(len(shown) > 0, shown)

    def _fell(self, st: _Person, now: int, top: float, hip: float | None, aspect: float) -> bool:
        if st.upright_ms is None or now - st.upright_ms > self.window_ms or st.upright_h <= 0:
            return False
        if hip is not None and st.upright_hip is not None:
            drop = hip - st.upright_hip
        else:
            drop = top - st.upright_top
        grew = st.upright_aspect > 0 and aspect >= self.fall.aspect_growth * st.upright_aspect
        return drop >= self.fall.min_drop * st.upright_h or grew
