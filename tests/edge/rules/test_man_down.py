"""man_down rules on detections and keypoints built here."""

from __future__ import annotations

import numpy as np
import pytest

from edge.detect.detections import Detections
from tests.support.rules import det, make, run


def lying_kp(cx: float, cy: float) -> np.ndarray:
    kp = np.zeros((17, 3), np.float32)
    kp[5], kp[6] = (cx + 0.1, cy, 0.9), (cx + 0.1, cy + 0.01, 0.9)  # shoulders to the right
    kp[11], kp[12] = (cx - 0.05, cy, 0.9), (cx - 0.05, cy + 0.01, 0.9)  # hips to the left
    return kp


def standing_kp(cx: float, top: float, h: float) -> np.ndarray:
    kp = np.zeros((17, 3), np.float32)
    kp[5], kp[6] = (cx - 0.02, top + 0.2 * h, 0.9), (cx + 0.02, top + 0.2 * h, 0.9)
    kp[11], kp[12] = (cx - 0.02, top + 0.5 * h, 0.9), (cx + 0.02, top + 0.5 * h, 0.9)
    return kp


def man_down_frames(standing_s: float, lying_s: float, fps: float = 5.0) -> list[Detections]:
    frames = []
    for _ in range(round(standing_s * fps)):
        d = det(("person", (0.45, 0.3, 0.55, 0.7), 5))
        d.keypoints = standing_kp(0.5, 0.3, 0.4)[None]
        frames.append(d)
    for _ in range(round(lying_s * fps)):
        d = det(("person", (0.35, 0.62, 0.65, 0.72), 5))  # wide box on the ground
        d.keypoints = lying_kp(0.5, 0.67)[None]
        frames.append(d)
    return frames


def test_man_down_after_a_fall_and_lying_still() -> None:
    rule = make({"id": "r", "type": "man_down", "duration_s": 2, "confirm_frames": 1}, zones=[])
    got = run(rule, man_down_frames(2, 4))
    assert got and got[0][1] == "new" and got[0][0] == pytest.approx(2 + 2)
    # lying for less than duration_s: nothing
    assert run(make({"id": "r", "type": "man_down", "duration_s": 3}, zones=[]), man_down_frames(2, 2)) == []


def test_man_down_needs_a_fall_unless_told_otherwise() -> None:
    found_lying = man_down_frames(0, 5)
    assert run(make({"id": "r", "type": "man_down", "duration_s": 1}, zones=[]), found_lying) == []
    lenient = make(
        {
            "id": "r",
            "type": "man_down",
            "duration_s": 1,
            "fall": {"require_fall": False},
            "confirm_frames": 1,
        },
        zones=[],
    )
    assert run(lenient, found_lying)[0][1] == "new"


def test_man_down_box_shape_without_pose() -> None:
    rule = make({"id": "r", "type": "man_down", "duration_s": 1, "confirm_frames": 1}, zones=[])
    frames = man_down_frames(2, 3)
    for d in frames:
        d.keypoints = np.zeros((1, 17, 3), np.float32)  # no pose matched: the box's shape decides
    got = run(rule, frames)
    assert got and got[0][0] == pytest.approx(3.0)


def test_man_down_crawling_is_not_still() -> None:
    rule = make({"id": "r", "type": "man_down", "duration_s": 2, "confirm_frames": 1}, zones=[])
    frames = man_down_frames(2, 0)
    for i in range(20):  # lying but moving 0.3 of the frame width in 4 s: never still for 2 s
        x = 0.1 + 0.03 * i
        d = det(("person", (x, 0.62, x + 0.3, 0.72), 5))
        d.keypoints = lying_kp(x + 0.15, 0.67)[None]
        frames.append(d)
    assert run(rule, frames) == []


def test_man_down_fall_towards_the_camera_by_box_shape() -> None:
    """Hips at the same image height standing and lying (a fall towards the camera): the fall is
    told by the box's shape (width/height grew from 0.33 to 4 in pixels)."""
    frames = []
    for _ in range(10):
        d = det(("person", (0.45, 0.3, 0.55, 0.7), 5))
        d.keypoints = standing_kp(0.5, 0.3, 0.4)[None]  # hips at y 0.5
        frames.append(d)
    for _ in range(15):
        d = det(("person", (0.35, 0.45, 0.65, 0.55), 5))
        d.keypoints = lying_kp(0.5, 0.5)[None]  # hips still at y 0.5
        frames.append(d)
    rule = {"id": "r", "type": "man_down", "duration_s": 1, "confirm_frames": 1}
    assert [p for _, p, _ in run(make(rule, zones=[]), frames)][:1] == ["new"]
    strict = {**rule, "fall": {"aspect_growth": 20}}
    assert run(make(strict, zones=[]), frames) == []
