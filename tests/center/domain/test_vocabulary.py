"""The center's vocabulary: every state and kind has its Chinese name, in one place."""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Any

import pytest

from center.domain.vocabulary import (
    ALERT_STATUS_LABELS,
    HAZARD_LEVEL_LABELS,
    HAZARD_STATUS_LABELS,
    INDUSTRY_LABELS,
    ROLE_LABELS,
    RULE_TYPE_LABELS,
    SERVICE_LABELS,
    SEVERITY_LABELS,
    AlertStatus,
    HazardLevel,
    HazardStatus,
    Industry,
    Role,
    ServiceKind,
    label,
)
from protocol import RuleType, Severity

HAN = re.compile(r"[\u4e00-\u9fff]")


@pytest.mark.parametrize(
    ("labels", "enum"),
    [
        (RULE_TYPE_LABELS, RuleType),
        (SEVERITY_LABELS, Severity),
        (ALERT_STATUS_LABELS, AlertStatus),
        (HAZARD_STATUS_LABELS, HazardStatus),
        (HAZARD_LEVEL_LABELS, HazardLevel),
        (INDUSTRY_LABELS, Industry),
        (SERVICE_LABELS, ServiceKind),
        (ROLE_LABELS, Role),
    ],
)
def test_every_value_has_a_chinese_name(labels: dict[Any, str], enum: type[StrEnum]) -> None:
    assert set(labels) == set(enum)
    for value in enum:
        assert HAN.search(labels[value]), f"{enum.__name__}.{value.name}: {labels[value]!r} is not Chinese"


def test_names_are_found_by_plain_strings_and_unknown_values_show_as_themselves() -> None:
    assert label(RULE_TYPE_LABELS, "man_down") == "人员倒地"
    assert label(SEVERITY_LABELS, "significant") == "较大"
    assert label(RULE_TYPE_LABELS, "teleport") == "teleport"
