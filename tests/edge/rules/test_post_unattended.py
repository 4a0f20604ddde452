"""post_unattended rules on detections built here."""

from __future__ import annotations

import pytest

from tests.support.rules import det, make, person_at, run


def test_post_unattended_needs_the_post_short_for_duration() -> None:
    rule = make(
        {
            "id": "r",
            "type": "post_unattended",
            "zone": "z",
            "min_count": 2,
            "duration_s": 3,
            "confirm_frames": 1,
        }
    )
    two = det(person_at(0.4, 0.5, 1), person_at(0.6, 0.5, 2))
    one = det(person_at(0.4, 0.5, 1))
    # 2 s short (not enough), staffed again, then short for good
    frames = [two] * 5 + [one] * 10 + [two] * 5 + [one] * 25 + [two] * 25
    got = run(rule, frames)
    assert [p for _, p, _ in got] == ["new", "end"]
    assert got[0][0] == pytest.approx((20 + 15) / 5)  # short from frame 20, 3 s later
    assert got[0][2] == 1  # one person still at the post


def test_post_unattended_empty_post() -> None:
    rule = make({"id": "r", "type": "post_unattended", "zone": "z", "duration_s": 2, "confirm_frames": 1})
    got = run(rule, [det(person_at(0.5, 0.5))] * 3 + [det()] * 15)
    assert got and got[0][1] == "new" and got[0][2] == 0 and got[0][0] == pytest.approx(0.6 + 2.0)
