"""The rule registry: every wire type (protocol.RuleType) has its rule class."""

from __future__ import annotations

from edge.rules.registry import RULE_TYPES
from protocol import RuleType


def test_every_type_has_a_class() -> None:
    assert set(RULE_TYPES) == set(RuleType)
