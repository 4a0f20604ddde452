"""intrusion (闯入): at least ``min_count`` of the watched classes inside a restricted zone."""

from __future__ import annotations

from edge.rules.base import FrameContext, Rule, Verdict


class IntrusionRule(Rule):
    def evaluate(self, ctx: FrameContext) -> Verdict:
        shown = self.watched(ctx)
        return Verdict(len(shown) >= (self.cfg.min_count or 1), shown)
