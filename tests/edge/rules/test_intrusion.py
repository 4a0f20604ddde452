"""intrusion rules on detections built here."""

from __future__ import annotations

import pytest

from tests.support.rules import det, make, person_at, run


def test_intrusion_counts_only_inside_the_zone() -> None:
    rule = make({"id": "r", "type": "intrusion", "zone": "z", "confirm_frames": 2, "end_after_s": 1})
    outside, inside = person_at(0.1, 0.5), person_at(0.5, 0.5)
    got = run(rule, [det(outside)] * 5 + [det(outside, inside)] * 5 + [det(outside)] * 10)
    assert [(p, c) for _, p, c in got] == [("new", 1), ("end", 1)]
    assert got[0][0] == pytest.approx(1.2)  # 2nd frame inside confirms
