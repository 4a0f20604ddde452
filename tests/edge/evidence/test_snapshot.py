"""The annotated snapshot shows what the rule watches: the zone, or the tripwire of a line rule."""

from __future__ import annotations

import numpy as np

from edge.config import ZoneConfig
from edge.evidence.snapshot import YELLOW, annotate
from edge.rules.intrusion import IntrusionConfig
from edge.rules.line_crossing import LineCrossingConfig
from protocol import DetectedObject

TS = 1_764_400_000_000


def yellowish(img: np.ndarray) -> np.ndarray:
    return np.all(np.abs(img.astype(int) - YELLOW) < 60, axis=2)


def test_tripwire_of_a_line_rule_is_drawn() -> None:
    frame = np.full((200, 400, 3), 40, np.uint8)
    rule = LineCrossingConfig.model_validate(
        {"id": "wire", "type": "line_crossing", "line": [[0.1, 0.5], [0.9, 0.5]]}
    )
    img = annotate(frame, [], None, rule, TS, "Asia/Shanghai")
    row = yellowish(img)[100]
    assert row[60:340].all()  # along the line
    assert not yellowish(img)[150].any()  # nowhere else below the banner
    assert not row[:30].any() and not row[370:].any()  # only between its two ends


def test_zone_and_objects_are_drawn_and_the_frame_is_not_changed() -> None:
    frame = np.full((200, 400, 3), 40, np.uint8)
    zone = ZoneConfig(id="z", points=[(0.5, 0.5), (0.9, 0.5), (0.9, 0.9), (0.5, 0.9)])
    rule = IntrusionConfig.model_validate({"id": "in", "type": "intrusion", "zone": "z"})
    person = DetectedObject(label="person", score=0.9, box=(0.1, 0.3, 0.2, 0.8), track=7)
    img = annotate(frame, [person], zone, rule, TS, "Asia/Shanghai")
    assert (frame == 40).all()
    assert yellowish(img)[100, 200:360].any()  # the zone's top edge
    assert (img[60:160, 40] != 40).any()  # the person's box, left edge
    assert (img[:24] != 40).any()  # the banner
