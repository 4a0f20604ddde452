"""Head counts in a zone: post_unattended (离岗) and overcrowding (超员)."""

from __future__ import annotations

from edge.rules.base import FrameContext, Rule, Verdict


class PostUnattendedRule(Rule):
    """Fewer than ``min_count`` people in the post zone for more than ``duration_s``.

    The objects shown are the people still at the post (none when it is empty)."""

    def setup(self) -> None:
        self.need = self.cfg.min_count or 1
        self.duration_ms = int((self.cfg.duration_s or 0.0) * 1000)
        self._short_since: int | None = None

    def reset(self) -> None:
        self._short_since = None

    def evaluate(self, ctx: FrameContext) -> Verdict:
        present = self.watched(ctx)
        if len(present) >= self.need:
            self._short_since = None
            return Verdict(False, present)
        if self._short_since is None:
            self._short_since = ctx.ts_ms
        return Verdict(ctx.ts_ms - self._short_since >= self.duration_ms, present)


class OvercrowdingRule(Rule):
    """More than ``max_count`` people in the zone (or in the whole frame without one)."""

    def evaluate(self, ctx: FrameContext) -> Verdict:
        shown = self.watched(ctx)
        return Verdict(len(shown) > (self.cfg.max_count or 0), shown)
