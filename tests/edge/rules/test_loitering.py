"""loitering rules on detections built here."""

from __future__ import annotations

import pytest

from tests.support.rules import T0, det, make, person_at, run


def test_loitering_one_track_longer_than_duration() -> None:
    rule = make(
        {"id": "r", "type": "loitering", "zone": "z", "duration_s": 4, "gap_s": 1, "confirm_frames": 1}
    )
    # track 1 stays 6 s; tracks 2, 3… pass through, each 2 s
    frames = []
    for i in range(30):
        objs = [person_at(0.5, 0.5, 1)]
        objs.append(person_at(0.3 + 0.04 * (i % 10), 0.6, 2 + i // 10))
        frames.append(det(*objs))
    got = run(rule, frames)
    assert got[0][1] == "new" and got[0][0] == pytest.approx(4.0)
    assert got[0][2] == 1
    assert rule.dwell_s(1, T0 + 5800) == pytest.approx(5.8)


def test_loitering_gap_restarts_dwell() -> None:
    rule = make(
        {"id": "r", "type": "loitering", "zone": "z", "duration_s": 3, "gap_s": 0.5, "confirm_frames": 1}
    )
    inside, outside = det(person_at(0.5, 0.5, 7)), det(person_at(0.95, 0.5, 7))
    # 2.4 s in, 1 s out (> gap), 2.4 s in: never 3 s in a row
    assert run(rule, [inside] * 12 + [outside] * 5 + [inside] * 12) == []
    rule2 = make(
        {"id": "r", "type": "loitering", "zone": "z", "duration_s": 3, "gap_s": 2, "confirm_frames": 1}
    )
    # a 1 s absence within gap_s: the dwell goes on
    assert [p for _, p, _ in run(rule2, [inside] * 12 + [outside] * 5 + [inside] * 12)][:1] == ["new"]


def test_loitering_needs_tracks() -> None:
    rule = make({"id": "r", "type": "loitering", "duration_s": 1, "confirm_frames": 1})
    untracked = det(person_at(0.5, 0.5))
    untracked.tracks = None
    assert run(rule, [untracked] * 20) == []
