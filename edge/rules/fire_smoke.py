"""fire_smoke (烟火): a loaded model detects fire or smoke directly (classes ``fire``, ``smoke``).

Built only when a loaded model provides the classes (``build_rules`` refuses the config
otherwise, naming them): none of the bundled models does.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from edge.rules.base import PresenceConfig, PresenceRule
from protocol import RuleType


class FireSmokeConfig(PresenceConfig):
    type: Literal[RuleType.FIRE_SMOKE]
    classes: list[str] = Field(
        default_factory=lambda: ["fire", "smoke"], min_length=1, description="labels that are fire or smoke"
    )


class FireSmokeRule(PresenceRule[FireSmokeConfig]):
    config_model = FireSmokeConfig
    model_only = True
