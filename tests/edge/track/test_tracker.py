"""Tracking (supervision ByteTrack) on the real sample clip with the real detector."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest

from edge.config import TrackerConfig, load_edge_config
from edge.detect.detections import Detections
from edge.detect.detector import load_detector
from edge.track.tracker import Tracker
from edge.video.stream import iter_file_frames

REPO = Path(__file__).resolve().parents[3]
FPS = 5.0


@pytest.fixture(scope="module")
def tracked() -> tuple[Tracker, list[tuple[int, Detections]]]:
    cfg = load_edge_config(REPO / "configs" / "demo-edge.yaml")
    det = load_detector(cfg.models)
    tracker = Tracker(TrackerConfig(), FPS)
    out = []
    for _, t, frame in iter_file_frames(str(REPO / "samples" / "vtest-walkway.mp4"), 1 / FPS):
        if t > 40.0:
            break
        ts = round(t * 1000)
        out.append((ts, tracker.update(det.detect(frame.to_ndarray(format="bgr24")), ts)))
    return tracker, out


@pytest.mark.footage  # the real detector over the sample clip
def test_people_keep_their_id_and_ids_are_not_reused(tracked: tuple[Tracker, list]) -> None:
    _tracker, frames = tracked
    seen: dict[int, list[int]] = defaultdict(list)  # id → timestamps
    persons = tracked_persons = 0
    for ts, dets in frames:
        assert dets.tracks is not None and dets.tracks.dtype == np.int64 and len(dets.tracks) == len(dets)
        ids = [int(t) for t in dets.tracks if t >= 0]
        assert len(ids) == len(set(ids)), "one id twice in one frame"
        for i, tid in enumerate(dets.tracks):
            if dets.labels[i] == "person" and dets.scores[i] >= 0.4:
                persons += 1
                tracked_persons += tid >= 0
            if tid >= 0:
                seen[int(tid)].append(ts)
    assert tracked_persons / persons > 0.9, (tracked_persons, persons)
    # people walk through the scene for many seconds: several tracks last 40+ analyzed frames (8 s)
    long_tracks = [tid for tid, ts in seen.items() if len(ts) >= 40]
    assert len(long_tracks) >= 3, sorted(len(v) for v in seen.values())
    # an id is never handed to someone else later: no gap longer than ByteTrack keeps a lost track
    lost_ms = TrackerConfig().lost_track_s * 1000 + 1000 / FPS * 2
    for tid, stamps in seen.items():
        gaps = np.diff(stamps)
        assert gaps.size == 0 or gaps.max() <= lost_ms, (tid, gaps.max())
    # ids are handed out in order, each once
    assert sorted(seen) == sorted(set(seen))
    assert min(seen) >= 1


@pytest.mark.footage  # the real detector over the sample clip
def test_track_history_gives_speed_and_direction(tracked: tuple[Tracker, list]) -> None:
    tracker, frames = tracked
    # the longest-lived person in the last frame: it walks, so speed > 0 and a direction exists
    ts_last, dets = frames[-1]
    live = [int(t) for t, lbl in zip(dets.tracks, dets.labels, strict=True) if t >= 0 and lbl == "person"]
    assert live
    states = [tracker.track_state(t) for t in live]
    assert all(s is not None for s in states)
    for state in states:
        assert state.first_seen_ms <= state.last_seen_ms == ts_last
        assert 0 <= state.speed() < 1.0  # nobody crosses the frame in a second here
    # someone is walking: speed well above detection jitter, heading that matches the displacement
    walking = [s for s in states if s.speed() > 0.02 and len(s.points) >= 5]
    assert walking, [round(s.speed(), 4) for s in states]
    for state in walking:
        t1, x1, y1 = state.points[-1]
        _, x0, y0 = next(p for p in state.points if p[0] >= t1 - 2000)  # the speed's 2 s window
        heading = state.direction()
        assert heading is not None and 0 <= heading < 360
        dx, dy = np.cos(np.radians(heading)), np.sin(np.radians(heading))
        assert dx * (x1 - x0) + dy * (y1 - y0) > 0  # it points where the person went
    assert tracker.track_state(10**9) is None


def test_speed_and_direction_of_a_steady_box() -> None:
    """A box moving right by 0.1 frame widths per second at 5 fps: speed 0.1/s, heading 0°."""
    tracker = Tracker(TrackerConfig(), FPS)
    tid = None
    for k in range(20):
        ts = k * 200
        x = 0.2 + 0.1 * ts / 1000
        dets = Detections(
            np.array([[x, 0.3, x + 0.1, 0.6]], np.float32),
            np.array([0.9], np.float32),
            np.array([0], np.int32),
            ["person"],
        )
        tracker.update(dets, ts)
        assert dets.tracks is not None and dets.tracks[0] >= 1
        tid = tid or int(dets.tracks[0])
        assert int(dets.tracks[0]) == tid
    state = tracker.track_state(tid)
    assert state is not None and state.first_seen_ms == 0 and state.last_seen_ms == 3800
    assert state.speed() == pytest.approx(0.1, rel=0.05)
    assert state.direction() == pytest.approx(0.0, abs=2.0)
    # nothing seen for longer than lost_track_s: the track is forgotten
    for k in range(20, 40):
        tracker.update(Detections.empty(), k * 200)
    assert tracker.track_state(tid) is None


@pytest.mark.footage  # the real detector over the sample clip
def test_analyze_writes_track_ids(tmp_path: Path) -> None:
    from edge.cli import main

    dets_path = tmp_path / "dets.jsonl"
    rc = main(
        [
            "analyze",
            "--config",
            str(REPO / "configs" / "demo-edge.yaml"),
            "--camera",
            "cam-yard-01",
            "--source",
            str(REPO / "samples" / "vtest-walkway.mp4"),
            "--out",
            str(tmp_path / "events.jsonl"),
            "--detections",
            str(dets_path),
            "--fps",
            "2",
            "--no-evidence",
        ]
    )
    assert rc == 0
    import json

    lines = [json.loads(x) for x in dets_path.read_text().splitlines()]
    assert len(lines) == 159  # 0 … 79 s at 2 fps
    objects = [o for line in lines for o in line["objects"]]
    people = [o for o in objects if o["label"] == "person" and o["score"] >= 0.4]
    # at 2 fps people move far between frames; the buffered matching keeps most of them tracked
    assert people and sum(o["track"] is not None for o in people) / len(people) > 0.75
    assert all(o["track"] is None or o["track"] >= 1 for o in objects)
    # a track spans many frames (ByteTrack ran at the analysis rate of 2 fps)
    spans: dict[int, int] = defaultdict(int)
    for o in objects:
        if o["track"] is not None:
            spans[o["track"]] += 1
    assert max(spans.values()) >= 15
