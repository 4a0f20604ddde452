"""overcrowding (超员): more than ``max_count`` people in the zone (or in the whole frame without one)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from edge.rules.base import FrameContext, Rule, RuleConfigBase, Verdict
from protocol import RuleType


class OvercrowdingConfig(RuleConfigBase):
    type: Literal[RuleType.OVERCROWDING]
    max_count: int = Field(ge=0, le=10_000, description="most people allowed")


class OvercrowdingRule(Rule[OvercrowdingConfig]):
    config_model = OvercrowdingConfig

    def evaluate(self, ctx: FrameContext) -> Verdict:
        shown = self.watched(ctx)
        return Verdict(len(shown) > self.cfg.max_count, shown)
