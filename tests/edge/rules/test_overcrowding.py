"""overcrowding rules on detections built here."""

from __future__ import annotations

from tests.support.rules import det, make, person_at, run


def test_overcrowding_holds_above_max_count() -> None:
    rule = make({"id": "r", "type": "overcrowding", "max_count": 3, "confirm_frames": 2, "end_after_s": 1})
    crowd = [person_at(0.3 + 0.1 * i, 0.5) for i in range(5)]
    frames = [det(*crowd[:3])] * 5 + [det(*crowd[:4])] * 5 + [det(*crowd[:3])] * 10
    got = run(rule, frames)
    assert [(p, c) for _, p, c in got] == [("new", 4), ("end", 4)]
    # three people exactly is not "more than three"
    assert run(make({"id": "q", "type": "overcrowding", "max_count": 3}), [det(*crowd[:3])] * 20) == []


def test_overcrowding_zone_limits_the_count() -> None:
    rule = make({"id": "r", "type": "overcrowding", "zone": "z", "max_count": 1, "confirm_frames": 1})
    assert run(rule, [det(person_at(0.5, 0.5), person_at(0.1, 0.1), person_at(0.9, 0.9))] * 5) == []
