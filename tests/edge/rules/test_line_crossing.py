"""line_crossing rules on tracks built here."""

from __future__ import annotations

import pytest

from edge.detect.detections import Detections
from edge.rules.base import Rule
from edge.rules.line_crossing import LineCrossingConfig
from tests.support.rules import det, make, person_at, run


def line_rule(direction: str, confirm: int = 2) -> Rule:
    # vertical tripwire down the middle, from the top (A end) to the bottom (B end): looking from
    # point 1 to point 2 on the image, the left side (A) is the right half of the image
    return make(
        {
            "id": "r",
            "type": "line_crossing",
            "line": [[0.5, 0.1], [0.5, 0.9]],
            "direction": direction,
            "confirm_frames": confirm,
            "end_after_s": 1,
            "cooldown_s": 0,
        },
        zones=[],
    )


def walk(track: int, x0: float, x1: float, n: int, y: float = 0.5, stay: int = 10) -> list[Detections]:
    """n frames from x0 to x1, then ``stay`` frames standing at x1."""
    xs = [x0 + (x1 - x0) * i / (n - 1) for i in range(n)] + [x1] * stay
    return [det(person_at(x, y, track)) for x in xs]


def test_line_crossing_directions() -> None:
    leftwards = walk(1, 0.8, 0.2, 10)  # A (right half) → B (left half)
    rightwards = walk(2, 0.2, 0.8, 10)
    assert [p for _, p, _ in run(line_rule("a_to_b"), leftwards)] == ["new", "end"]
    assert run(line_rule("a_to_b"), rightwards) == []
    assert [p for _, p, _ in run(line_rule("b_to_a"), rightwards)] == ["new", "end"]
    assert [p for _, p, _ in run(line_rule("any"), rightwards)] == ["new", "end"]
    # the frame that confirms: on the new side for confirm_frames observations
    got = run(line_rule("any", confirm=3), rightwards)
    assert got[0][0] == pytest.approx(7 / 5)  # feet at x > 0.5 from frame 5; the 3rd there is frame 7


def test_line_crossing_ignores_jitter_and_passing_beside() -> None:
    # a box jittering across the line, never staying on one side for 2 observations
    jitter = [det(person_at(0.5 + (0.01 if i % 2 else -0.01), 0.5, 3)) for i in range(20)]
    assert run(line_rule("any"), jitter) == []
    # walking across the line's extension below its B end (y = 0.95 > 0.9): no crossing
    assert run(line_rule("any"), walk(4, 0.2, 0.8, 10, y=0.95)) == []


def test_line_crossing_rejects_zone() -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="use their line, not a zone"):
        LineCrossingConfig.model_validate(
            {"id": "r", "type": "line_crossing", "zone": "z", "line": [[0, 0], [1, 1]]}
        )
