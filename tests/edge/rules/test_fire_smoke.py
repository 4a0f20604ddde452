"""fire_smoke rules on detections built here (no bundled model gives fire or smoke)."""

from __future__ import annotations

from tests.support.rules import det, make, run


def test_fire_smoke_runs_with_a_model_that_has_the_classes() -> None:
    rule = make(
        {"id": "r", "type": "fire_smoke", "confirm_frames": 2}, zones=[], labels={"person", "fire", "smoke"}
    )
    got = run(rule, [det(("smoke", (0.1, 0.1, 0.3, 0.3), -1))] * 3)
    assert [p for _, p, _ in got] == ["new"]
