"""Motion gating on real footage: a still scene (one real frame repeated) and the moving sample."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import av
import pytest

from edge.config import MotionConfig, load_edge_config
from edge.detect.detector import load_detector
from edge.pipeline import CameraAnalyzer, CameraPipeline
from edge.video.motion import MotionGate
from edge.video.stream import iter_file_frames

REPO = Path(__file__).resolve().parents[3]
CLIP = REPO / "samples" / "vtest-walkway.mp4"


def make_still_clip(path: Path, seconds: float = 12.0, source_frame: int = 60) -> Path:
    """An H.264 clip of one real frame of the sample, repeated (a camera on an empty, still scene)."""
    with av.open(str(CLIP)) as c:
        frame = next(f for i, f in enumerate(c.decode(video=0)) if i == source_frame)
        img = frame.to_ndarray(format="bgr24")
    with av.open(str(path), "w") as out:
        st = out.add_stream("libx264", rate=10)
        st.width, st.height, st.pix_fmt = img.shape[1], img.shape[0], "yuv420p"
        st.options = {"g": "20"}
        for i in range(int(seconds * 10)):
            f = av.VideoFrame.from_ndarray(img, format="bgr24")
            f.pts = i
            out.mux(st.encode(f))
        out.mux(st.encode())
    return path


@pytest.fixture(scope="module")
def still_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_still_clip(tmp_path_factory.mktemp("motion") / "still.mp4")


def frames_at(path: Path, fps: float) -> Iterator[tuple[int, av.VideoFrame]]:
    for _, t, frame in iter_file_frames(str(path), 1 / fps):
        yield round(t * 1000), frame


def test_still_scene_is_skipped_but_runs_every_max_skip_s(still_clip: Path) -> None:
    gate = MotionGate(MotionConfig(max_skip_s=2.0))
    ran = [ts for ts, frame in frames_at(still_clip, 5.0) if gate.check(frame, ts)]
    assert gate.checked == 60
    # the first frame, then once every 2 s: 0, 2, 4, 6, 8, 10 s
    assert ran == [0, 2000, 4000, 6000, 8000, 10000], ran
    assert gate.skipped == 54


def test_moving_sample_is_never_skipped() -> None:
    gate = MotionGate(MotionConfig())
    for ts, frame in frames_at(CLIP, 5.0):
        assert gate.check(frame, ts), f"skipped a moving frame at {ts} ms ({gate.last_fraction:.5f} changed)"
    assert gate.checked == 398 and gate.skipped == 0


def test_motion_in_a_still_scene_is_seen(still_clip: Path) -> None:
    """A still scene, then a real frame with people elsewhere: the gate lets it through."""
    gate = MotionGate(MotionConfig(max_skip_s=60))
    still = [f for _, f in frames_at(still_clip, 5.0)][:5]
    assert gate.check(still[0], 0)
    assert not any(gate.check(f, 200 * (i + 1)) for i, f in enumerate(still[1:]))
    with av.open(str(CLIP)) as c:
        other = next(f for i, f in enumerate(c.decode(video=0)) if i == 400)  # 30 s later: people moved
    assert gate.check(other, 2000)


@pytest.mark.footage  # the detector over a clip of the sample footage, twice: seconds
def test_skipped_frames_carry_the_detections_forward(still_clip: Path) -> None:
    """Rules on a gated still scene give the same events as without gating, for far less inference."""
    cfg = load_edge_config(REPO / "configs" / "demo-edge.yaml")
    det = load_detector(cfg.models)
    cam = cfg.cameras[0]
    results = {}
    for gated in (False, True):
        cfg.motion = MotionConfig(enabled=gated)
        analyzer = CameraAnalyzer(cfg, cam, CameraPipeline(cfg, cam, det.labels, None))
        events, inferences = [], 0
        for ts, frame in frames_at(still_clip, 5.0):
            if analyzer.wants_inference(frame, ts):
                inferences += 1
                bgr = frame.to_ndarray(format="bgr24")
                events += analyzer.process(ts, bgr, det.detect(bgr))
            else:
                events += analyzer.process(ts, None, None)
            assert analyzer.last_dets is not None
        events += analyzer.pipeline.finish(ts)
        results[gated] = ([(e.phase, e.seq, e.count, e.started_ms) for e in events], inferences)
    assert results[False][1] == 60 and results[True][1] == 6
    assert results[True][0] == results[False][0]
    assert results[True][0], "frame 60 has people in the junction zone: an event opens"
