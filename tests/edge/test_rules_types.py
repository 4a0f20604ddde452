"""Rule types on sequences of detections built here (unit tests of the rule logic; the real model
and footage run in test_rules_pose.py and test_rules_analyze.py)."""

from __future__ import annotations

import numpy as np
import pytest

from edge.config import CameraConfig
from edge.detect.detections import Detections
from edge.rules.base import FrameContext, Rule
from edge.rules.line_crossing import LineCrossingConfig
from edge.rules.registry import RULE_TYPES, build_rules
from protocol import EventPhase, RuleType

T0 = 1_795_827_600_000  # 2026-11-28T09:00:00+08:00, a Saturday
ZONE = {"id": "z", "points": [[0.2, 0.2], [0.8, 0.2], [0.8, 0.8], [0.2, 0.8]]}


def det(*objs: tuple) -> Detections:
    """objs: (label, (x1, y1, x2, y2)[, track[, score]])."""
    if not objs:
        d = Detections.empty()
        d.tracks = np.zeros(0, np.int64)
        return d
    boxes = np.array([o[1] for o in objs], np.float32)
    tracks = np.array([o[2] if len(o) > 2 else -1 for o in objs], np.int64)
    scores = np.array([o[3] if len(o) > 3 else 0.9 for o in objs], np.float32)
    return Detections(boxes, scores, np.zeros(len(objs), np.int32), [o[0] for o in objs], tracks)


def person_at(x: float, y: float, track: int = -1, h: float = 0.2, w: float = 0.08) -> tuple:
    """A person whose feet (bottom centre) are at (x, y)."""
    return ("person", (x - w / 2, y - h, x + w / 2, y), track)


def make(rule: dict, zones: list[dict] | None = None, labels: set[str] | None = None) -> Rule:
    cam = CameraConfig.model_validate(
        {"id": "cam", "url": "rtsp://cam/1", "zones": [ZONE] if zones is None else zones, "rules": [rule]}
    )
    return build_rules(cam, "Asia/Shanghai", labels or {"person", "vehicle", "phone"})[0]


def run(rule: Rule, frames: list[Detections], fps: float = 5.0, t0: int = T0) -> list[tuple[float, str, int]]:
    """Step through frames; (seconds, phase, count) per transition."""
    out = []
    for i, d in enumerate(frames):
        ts = t0 + round(i * 1000 / fps)
        r = rule.step(ts, FrameContext(ts, d, size=(800, 600)))
        if r is not None:
            out.append(((ts - t0) / 1000, r.phase.value, r.count))
    return out


def test_every_type_has_a_class() -> None:
    assert set(RULE_TYPES) == set(RuleType)


def test_intrusion_counts_only_inside_the_zone() -> None:
    rule = make({"id": "r", "type": "intrusion", "zone": "z", "confirm_frames": 2, "end_after_s": 1})
    outside, inside = person_at(0.1, 0.5), person_at(0.5, 0.5)
    got = run(rule, [det(outside)] * 5 + [det(outside, inside)] * 5 + [det(outside)] * 10)
    assert [(p, c) for _, p, c in got] == [("new", 1), ("end", 1)]
    assert got[0][0] == pytest.approx(1.2)  # 2nd frame inside confirms


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


def test_missing_ppe_model_provider() -> None:
    labels = {"person", "helmet", "vest"}
    rule = make(
        {"id": "r", "type": "missing_ppe", "ppe": ["helmet", "vest"], "confirm_frames": 1},
        zones=[],
        labels=labels,
    )
    worker = ("person", (0.4, 0.2, 0.5, 0.8), 1)
    helmet = ("helmet", (0.42, 0.19, 0.48, 0.25), -1)
    vest = ("vest", (0.41, 0.35, 0.49, 0.55), -1)
    got = run(rule, [det(worker, helmet, vest)] * 3 + [det(worker, vest)] * 3)
    assert [p for _, p, _ in got] == ["new"] and got[0][0] == pytest.approx(0.6)
    r = make(
        {"id": "q", "type": "missing_ppe", "ppe": ["vest"], "confirm_frames": 1}, zones=[], labels=labels
    )
    res = [r.step(T0, det(worker, helmet))]
    assert res[0] is not None and res[0].objects[0].label == "no_vest"


def test_smoking_and_fire_smoke_run_with_a_model_that_has_the_classes() -> None:
    rule = make(
        {"id": "r", "type": "fire_smoke", "confirm_frames": 2}, zones=[], labels={"person", "fire", "smoke"}
    )
    got = run(rule, [det(("smoke", (0.1, 0.1, 0.3, 0.3), -1))] * 3)
    assert [p for _, p, _ in got] == ["new"]
    rule = make({"id": "r", "type": "smoking", "confirm_frames": 1}, zones=[], labels={"person", "smoking"})
    assert run(rule, [det(person_at(0.5, 0.5))] * 3) == []


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


def test_missing_ppe_model_with_a_head_class() -> None:
    """A PPE model that gives helmet and head (bare head) boxes and no person class."""
    labels = {"helmet", "head", "vest"}
    rule = make(
        {"id": "r", "type": "missing_ppe", "ppe": ["helmet"], "confirm_frames": 1}, zones=[], labels=labels
    )
    hatted = [("head", (0.40, 0.20, 0.44, 0.25), -1), ("helmet", (0.395, 0.18, 0.445, 0.23), -1)]
    bare = ("head", (0.60, 0.20, 0.64, 0.25), -1)
    assert run(rule, [det(*hatted)] * 3) == []
    r = rule.step(T0 + 1000, det(*hatted, bare))
    assert r is not None and [(o.label, o.box[0]) for o in r.objects] == [("no_helmet", 0.6)]
    # a vest needs the person it is worn by: refused without a person class
    from common.configfile import ConfigError

    with pytest.raises(ConfigError, match=r"classes \['person'\]"):
        make({"id": "v", "type": "missing_ppe", "ppe": ["vest"]}, zones=[], labels=labels)
