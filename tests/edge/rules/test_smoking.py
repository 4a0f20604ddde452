"""smoking rules on detections built here (no bundled model gives smoking)."""

from __future__ import annotations

from tests.support.rules import det, make, person_at, run


def test_smoking_runs_with_a_model_that_has_the_class_and_ignores_people() -> None:
    rule = make({"id": "r", "type": "smoking", "confirm_frames": 1}, zones=[], labels={"person", "smoking"})
    assert run(rule, [det(person_at(0.5, 0.5))] * 3) == []
