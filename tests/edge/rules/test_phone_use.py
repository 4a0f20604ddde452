"""phone_use rules on detections and keypoints built here."""

from __future__ import annotations

import numpy as np

from tests.support.rules import det, make, person_at, run


def test_phone_use_needs_the_phone_at_hand_or_head() -> None:
    rule = make({"id": "r", "type": "phone_use", "confirm_frames": 2}, zones=[])
    person = person_at(0.5, 0.8, 1, h=0.5, w=0.2)
    kp = np.zeros((1, 17, 3), np.float32)
    kp[0, 10] = (0.58, 0.45, 0.9)  # right wrist
    kp[0, 0] = (0.5, 0.35, 0.9)  # nose
    near = det(person, ("phone", (0.57, 0.43, 0.6, 0.47), -1))
    far = det(person, ("phone", (0.9, 0.1, 0.93, 0.14), -1))
    for d in (near, far):
        d.keypoints = np.concatenate([kp, np.zeros((1, 17, 3), np.float32)])
    assert [p for _, p, _ in run(rule, [near] * 5)] == ["new"]
    rule = make({"id": "r2", "type": "phone_use", "confirm_frames": 2}, zones=[])
    assert run(rule, [far] * 5) == []
    # no pose matched (keypoints all zero): not judged
    blind = det(person, ("phone", (0.57, 0.43, 0.6, 0.47), -1))
    blind.keypoints = np.zeros((2, 17, 3), np.float32)
    assert run(make({"id": "r3", "type": "phone_use", "confirm_frames": 1}, zones=[]), [blind] * 5) == []
