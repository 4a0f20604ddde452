"""intrusion (闯入): at least ``min_count`` of the watched classes inside a restricted zone."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from edge.rules.base import PresenceConfig, PresenceRule
from protocol import Id, RuleType


class IntrusionConfig(PresenceConfig):
    type: Literal[RuleType.INTRUSION]
    zone: Id = Field(description="the restricted zone")


class IntrusionRule(PresenceRule[IntrusionConfig]):
    config_model = IntrusionConfig
