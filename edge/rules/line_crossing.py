"""line_crossing / wrong direction (越线/逆行): a track crosses a tripwire, optionally one way only.

The line is directed, from point 1 (A end) to point 2 (B end). Looking along it from point 1
towards point 2 on the image as displayed (y grows downwards), side A is on the left and side B
on the right; ``a_to_b`` is a crossing from the left side to the right side.

Each track's anchor (``anchor``, bottom centre by default) is followed. A crossing counts when
the anchor's step from its last position on the old side to the new side passes between the two
end points, and only once the track has stayed on the new side for ``confirm_frames``
observations (and ``confirm_s`` seconds, when given): a box jittering on the line is not a
crossing. The frame that confirms a crossing raises the event at once (the rule debounces
itself); more crossings while the event runs are part of it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from pydantic import Field, field_validator

from edge.detect.geometry import Point, anchors, check_normalised
from edge.rules.base import FrameContext, Rule, RuleConfigBase, Verdict
from protocol import RuleType

SIDE_A, SIDE_B = -1, 1
FORGET_MS = 10_000  # a track unseen this long is forgotten


def side_of(line: np.ndarray, points: np.ndarray) -> np.ndarray:
    """-1 (side A, left of point 1 → point 2 on the displayed image), +1 (side B), 0 on the line."""
    (ax, ay), (bx, by) = line
    cross = (bx - ax) * (points[:, 1] - ay) - (by - ay) * (points[:, 0] - ax)
    # y grows downwards on an image: a negative cross product is on the viewer's left
    return np.sign(cross).astype(np.int64)


def segments_cross(p0: np.ndarray, p1: np.ndarray, a: np.ndarray, b: np.ndarray) -> bool:
    """Do the segments p0–p1 and a–b intersect (touching counts)?"""

    def orient(p: np.ndarray, q: np.ndarray, r: np.ndarray) -> float:
        return float((q[0] - p[0]) * (r[1] - p[1]) - (q[1] - p[1]) * (r[0] - p[0]))

    d1, d2 = orient(a, b, p0), orient(a, b, p1)
    d3, d4 = orient(p0, p1, a), orient(p0, p1, b)
    return (d1 * d2 <= 0) and (d3 * d4 <= 0)


class LineCrossingConfig(RuleConfigBase):
    type: Literal[RuleType.LINE_CROSSING]
    line: list[Point] = Field(description="tripwire [[x1, y1], [x2, y2]], 0–1")
    direction: Literal["any", "a_to_b", "b_to_a"] = Field(
        default="any",
        description="a_to_b = from the left of the line (seen from point 1 to 2) to its right",
    )

    @field_validator("zone", mode="before")
    @classmethod
    def _no_zone(cls, zone: Any) -> Any:
        if zone is not None:
            raise ValueError("line_crossing rules use their line, not a zone")
        return zone

    @field_validator("line")
    @classmethod
    def _line(cls, line: list[Point]) -> list[Point]:
        if len(line) != 2:
            raise ValueError(f"a line is two points [[x1, y1], [x2, y2]], got {len(line)}")
        check_normalised(line, "line")
        (x1, y1), (x2, y2) = line
        if abs(x2 - x1) + abs(y2 - y1) < 0.01:
            raise ValueError("the two points are (almost) the same: no line")
        return line

    def tripwire(self) -> list[Point] | None:
        return self.line


@dataclass
class _Side:
    side: int  # confirmed side
    last_pos: np.ndarray  # last anchor seen on the confirmed side
    seen_ms: int
    cand: int = 0  # side the track seems to have moved to (0 = none)
    cand_n: int = 0
    cand_since: int = 0
    cand_valid: bool = False  # the move onto it passed between the line's end points


class LineCrossingRule(Rule[LineCrossingConfig]):
    config_model = LineCrossingConfig
    uses_tracks = True
    needs_tracks = True
    self_confirms = True

    def setup(self) -> None:
        self.line = np.asarray(self.cfg.line, np.float64)
        self.direction = self.cfg.direction
        self.need_frames = self.cfg.confirm_frames
        self.need_ms = int((self.cfg.confirm_s or 0.0) * 1000)
        self.tracks: dict[int, _Side] = {}
        self.crossings = 0  # counted crossings in the wanted direction, since start

    def reset(self) -> None:
        self.tracks.clear()

    def wanted(self, old: int, new: int) -> bool:
        if self.direction == "a_to_b":
            return old == SIDE_A and new == SIDE_B
        if self.direction == "b_to_a":
            return old == SIDE_B and new == SIDE_A
        return True

    def evaluate(self, ctx: FrameContext) -> Verdict:
        dets = ctx.people(self.classes, self.cfg.min_score)
        if dets.tracks is None:
            self.warn_once("tracks", "line_crossing needs track ids; the tracker is off or gave none")
            return Verdict(False, dets.select(np.zeros(len(dets), bool)))
        now = ctx.ts_ms
        pts = anchors(dets.boxes, self.cfg.anchor).astype(np.float64)
        sides = side_of(self.line, pts)
        crossed = np.zeros(len(dets), bool)
        for i, tid in enumerate(int(t) for t in dets.tracks):
            if tid < 0 or sides[i] == 0:
                continue
            s, p = int(sides[i]), pts[i]
            st = self.tracks.get(tid)
            if st is None:
                self.tracks[tid] = _Side(s, p, now)
                continue
            st.seen_ms = now
            if s == st.side:
                st.last_pos, st.cand, st.cand_n = p, 0, 0
                continue
            if st.cand != s:
                st.cand, st.cand_n, st.cand_since = s, 0, now
                st.cand_valid = segments_cross(st.last_pos, p, self.line[0], self.line[1])
            st.cand_n += 1
            if st.cand_n >= self.need_frames and now - st.cand_since >= self.need_ms:
                if st.cand_valid and self.wanted(st.side, s):
                    crossed[i] = True
                    self.crossings += 1
                st.side, st.last_pos, st.cand, st.cand_n = s, p, 0, 0
        for tid in [t for t, st in self.tracks.items() if now - st.seen_ms > FORGET_MS]:
            del self.tracks[tid]
        shown = dets.select(crossed)
        return Verdict(len(shown) > 0, shown)
