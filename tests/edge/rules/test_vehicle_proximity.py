"""vehicle_proximity rules on tracks built here."""

from __future__ import annotations

import pytest

from tests.support.rules import det, make, person_at, run


def vehicle(x1: float, x2: float, track: int, y1: float = 0.4, y2: float = 0.7) -> tuple:
    return ("vehicle", (x1, y1, x2, y2), track)


def test_vehicle_proximity_needs_a_moving_vehicle() -> None:
    rule = make(
        {"id": "r", "type": "vehicle_proximity", "distance": 0.5, "confirm_frames": 2, "end_after_s": 1},
        zones=[],
    )
    person = person_at(0.60, 0.70, 1)  # 0.2 high = 120 px: half a height = 60 px = 0.075 of the width
    parked = [det(person, vehicle(0.2, 0.55, 9))] * 15  # 0.05 (40 px) away but still
    assert run(rule, parked) == []
    rule = make({"id": "r", "type": "vehicle_proximity", "distance": 0.5, "confirm_frames": 2}, zones=[])
    moving = [det(person, vehicle(0.0 + 0.01 * i, 0.35 + 0.01 * i, 9)) for i in range(21)]
    got = run(rule, moving)
    assert got and got[0][1] == "new"
    # gap from the vehicle's right edge to the feet: (0.25 - 0.01 i) × 800 px = 200 - 8 i; within
    # half the person's height (60 px) from frame 18; the 2nd such frame (confirm_frames) is 19
    assert got[0][0] == pytest.approx(19 / 5)


def test_vehicle_proximity_with_homography_in_metres() -> None:
    # ground plane: 20 m across the image, 15 m top to bottom (a plain scale is a homography too)
    h = [[20.0, 0, 0], [0, 15.0, 0], [0, 0, 1.0]]
    rule = make(
        {
            "id": "r",
            "type": "vehicle_proximity",
            "homography": h,
            "distance_m": 2.0,
            "min_speed": 0.9,
            "confirm_frames": 1,
        },
        zones=[],
    )
    person = person_at(0.5, 0.7, 1)
    # vehicle front edge moves 0.01 per frame = 0.2 m per frame = 1 m/s at 5 fps; bottom at y 0.7
    frames = [det(person, vehicle(0.0 + 0.01 * i, 0.2 + 0.01 * i, 9)) for i in range(30)]
    got = run(rule, frames)
    # gap on the ground: (0.3 - 0.01 i) × 20 m = 6 - 0.2 i metres, within 2 m from frame 20
    assert got and got[0][1] == "new" and got[0][0] == pytest.approx(20 / 5)
    slow = make(
        {"id": "r", "type": "vehicle_proximity", "homography": h, "distance_m": 2.0, "min_speed": 1.5},
        zones=[],
    )
    assert run(slow, frames) == []  # 1 m/s is not "moving" at min_speed 1.5


@pytest.mark.filterwarnings("error::RuntimeWarning")
def test_vehicle_proximity_point_on_the_horizon_is_not_close() -> None:
    # w = 1 - 2y: image row y = 0.5 maps to infinity on the ground (the horizon)
    h = [[1.0, 0, 0], [0, 1.0, 0], [0, -2.0, 1.0]]
    rule = make(
        {
            "id": "r",
            "type": "vehicle_proximity",
            "homography": h,
            "distance_m": 5.0,
            "min_speed": 0,
            "confirm_frames": 1,
        },
        zones=[],
    )
    frames = [
        det(person_at(0.5, 0.5, 1), vehicle(0.3 + 0.01 * i, 0.45 + 0.01 * i, 9, y2=0.5)) for i in range(10)
    ]
    assert run(rule, frames) == []
