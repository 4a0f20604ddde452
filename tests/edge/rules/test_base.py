"""What every rule type shares: confirmation by time, the schedule gate, one event per situation."""

from __future__ import annotations

import pytest

from protocol import EventPhase
from tests.support.rules import T0, det, make, person_at, run


def test_confirm_s_instead_of_frames() -> None:
    rule = make({"id": "r", "type": "intrusion", "zone": "z", "confirm_s": 1.5})
    got = run(rule, [det(person_at(0.5, 0.5))] * 20, fps=10)
    assert got[0][1] == "new" and got[0][0] == pytest.approx(1.5)


def test_schedule_closes_and_forgets() -> None:
    rule = make(
        {
            "id": "r",
            "type": "loitering",
            "duration_s": 2,
            "confirm_frames": 1,
            "schedule": {"times": ["09:00-09:01"]},
        },
        zones=[],
    )
    # 09:00:50 → 09:01:10 local: armed for 10 s, then off
    got = run(rule, [det(person_at(0.5, 0.5, 1))] * 100, t0=T0 + 50_000)
    assert [p for _, p, _ in got] == ["new", "update", "end"]
    assert got[-1][0] == pytest.approx(10.0)
    assert rule.dwell == {}


def test_event_is_one_situation_no_storm() -> None:
    rule = make(
        {"id": "r", "type": "overcrowding", "max_count": 0, "confirm_frames": 1, "update_interval_s": 5}
    )
    got = run(rule, [det(person_at(0.5, 0.5))] * 150)  # 30 s
    phases = [p for _, p, _ in got]
    assert phases[0] == "new" and phases.count("new") == 1 and len(phases) <= 8
    assert all(isinstance(p, str) for p in phases) and EventPhase.NEW.value == "new"
