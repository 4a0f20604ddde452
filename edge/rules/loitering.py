"""loitering / dwell (徘徊/逗留): one track inside the zone for longer than ``duration_s``.

Needs track ids (edge/track/tracker.py). A track out of the zone, or lost, for longer than ``gap_s``
starts its dwell time afresh; a short gap (an occlusion, a missed detection) does not.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from pydantic import Field

from edge.rules.base import FrameContext, Rule, RuleConfigBase, Verdict
from protocol import RuleType


class LoiteringConfig(RuleConfigBase):
    type: Literal[RuleType.LOITERING]
    duration_s: float = Field(gt=0.0, le=86400, description="dwell time in the zone that raises it")
    gap_s: float = Field(
        default=2.0, ge=0.0, le=600, description="absence from the zone that restarts a track's dwell time"
    )


@dataclass
class _Dwell:
    entered_ms: int
    last_in_ms: int


class LoiteringRule(Rule[LoiteringConfig]):
    config_model = LoiteringConfig
    uses_tracks = True
    needs_tracks = True

    def setup(self) -> None:
        self.duration_ms = int(self.cfg.duration_s * 1000)
        self.gap_ms = int(self.cfg.gap_s * 1000)
        self.dwell: dict[int, _Dwell] = {}

    def reset(self) -> None:
        self.dwell.clear()

    def evaluate(self, ctx: FrameContext) -> Verdict:
        inside = self.watched(ctx)
        if inside.tracks is None:
            self.warn_once("tracks", "loitering needs track ids; the tracker is off or gave none")
            return Verdict(False, inside.select(np.zeros(len(inside), bool)))
        now = ctx.ts_ms
        long_enough = np.zeros(len(inside), bool)
        for i, tid in enumerate(int(t) for t in inside.tracks):
            if tid < 0:
                continue
            d = self.dwell.get(tid)
            if d is None or now - d.last_in_ms > self.gap_ms:
                d = self.dwell[tid] = _Dwell(now, now)
            d.last_in_ms = now
            long_enough[i] = now - d.entered_ms >= self.duration_ms
        for tid in [t for t, d in self.dwell.items() if now - d.last_in_ms > self.gap_ms]:
            del self.dwell[tid]
        shown = inside.select(long_enough)
        return Verdict(len(shown) > 0, shown)

    def dwell_s(self, track_id: int, now_ms: int) -> float:
        d = self.dwell.get(track_id)
        return 0.0 if d is None else (now_ms - d.entered_ms) / 1000
