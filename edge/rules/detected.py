"""smoking (吸烟), fire_smoke (烟火): what a loaded model detects directly.

Built only when a loaded model provides the classes (``build_rules`` refuses the config
otherwise, naming them): none of the bundled models does.
"""

from __future__ import annotations

from edge.rules.base import FrameContext, Rule, Verdict


class DetectedClassRule(Rule):
    def evaluate(self, ctx: FrameContext) -> Verdict:
        shown = self.watched(ctx)
        return Verdict(len(shown) >= (self.cfg.min_count or 1), shown)


class SmokingRule(DetectedClassRule):
    pass


class FireSmokeRule(DetectedClassRule):
    pass
