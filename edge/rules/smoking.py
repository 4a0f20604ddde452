"""smoking (吸烟): a loaded model detects it directly (class ``smoking``).

Built only when a loaded model provides the classes (``build_rules`` refuses the config
otherwise, naming them): none of the bundled models does.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from edge.rules.base import PresenceConfig, PresenceRule
from protocol import RuleType


class SmokingConfig(PresenceConfig):
    type: Literal[RuleType.SMOKING]
    classes: list[str] = Field(
        default_factory=lambda: ["smoking"], min_length=1, description="labels that are smoking"
    )


class SmokingRule(PresenceRule[SmokingConfig]):
    config_model = SmokingConfig
    model_only = True
