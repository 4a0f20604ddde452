"""missing_ppe rules (provider: model) on detections built here."""

from __future__ import annotations

import pytest

from tests.support.rules import T0, det, make, run


def test_missing_ppe_model_provider() -> None:
    labels = {"person", "helmet", "vest"}
    rule = make(
        {"id": "r", "type": "missing_ppe", "ppe": ["helmet", "vest"], "confirm_frames": 1},
        zones=[],
        labels=labels,
    )
    worker = ("person", (0.4, 0.2, 0.5, 0.8), 1)
    helmet = ("helmet", (0.42, 0.19, 0.48, 0.25), -1)
    vest = ("vest", (0.41, 0.35, 0.49, 0.55), -1)
    got = run(rule, [det(worker, helmet, vest)] * 3 + [det(worker, vest)] * 3)
    assert [p for _, p, _ in got] == ["new"] and got[0][0] == pytest.approx(0.6)
    r = make(
        {"id": "q", "type": "missing_ppe", "ppe": ["vest"], "confirm_frames": 1}, zones=[], labels=labels
    )
    res = [r.step(T0, det(worker, helmet))]
    assert res[0] is not None and res[0].objects[0].label == "no_vest"


def test_missing_ppe_model_with_a_head_class() -> None:
    """A PPE model that gives helmet and head (bare head) boxes and no person class."""
    labels = {"helmet", "head", "vest"}
    rule = make(
        {"id": "r", "type": "missing_ppe", "ppe": ["helmet"], "confirm_frames": 1}, zones=[], labels=labels
    )
    hatted = [("head", (0.40, 0.20, 0.44, 0.25), -1), ("helmet", (0.395, 0.18, 0.445, 0.23), -1)]
    bare = ("head", (0.60, 0.20, 0.64, 0.25), -1)
    assert run(rule, [det(*hatted)] * 3) == []
    r = rule.step(T0 + 1000, det(*hatted, bare))
    assert r is not None and [(o.label, o.box[0]) for o in r.objects] == [("no_helmet", 0.6)]
    # a vest needs the person it is worn by: refused without a person class
    from common.configfile import ConfigError

    with pytest.raises(ConfigError, match=r"classes \['person'\]"):
        make({"id": "v", "type": "missing_ppe", "ppe": ["vest"]}, zones=[], labels=labels)
