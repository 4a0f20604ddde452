"""post_unattended (离岗): fewer than ``min_count`` people at a post for longer than ``duration_s``."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from edge.rules.base import FrameContext, Rule, RuleConfigBase, Verdict
from protocol import Id, RuleType


class PostUnattendedConfig(RuleConfigBase):
    type: Literal[RuleType.POST_UNATTENDED]
    zone: Id = Field(description="the post")
    min_count: int = Field(default=1, ge=1, le=10_000, description="people the post needs")
    duration_s: float = Field(gt=0.0, le=86400, description="time short of people that raises it")


class PostUnattendedRule(Rule[PostUnattendedConfig]):
    """The objects shown are the people still at the post (none when it is empty)."""

    config_model = PostUnattendedConfig

    def setup(self) -> None:
        self.duration_ms = int(self.cfg.duration_s * 1000)
        self._short_since: int | None = None

    def reset(self) -> None:
        self._short_since = None

    def evaluate(self, ctx: FrameContext) -> Verdict:
        present = self.watched(ctx)
        if len(present) >= self.cfg.min_count:
            self._short_since = None
            return Verdict(False, present)
        if self._short_since is None:
            self._short_since = ctx.ts_ms
        return Verdict(ctx.ts_ms - self._short_since >= self.duration_ms, present)
