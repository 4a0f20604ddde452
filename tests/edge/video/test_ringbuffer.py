"""Ring buffer: the reader keeps the compressed packets; a window decodes and remuxes to MP4."""

from __future__ import annotations

import time
from pathlib import Path

import av
import numpy as np
import pytest

from edge.config import StreamOptions
from edge.video.ringbuffer import RingBuffer
from edge.video.stream import CameraStream

REPO = Path(__file__).resolve().parents[3]
CLIP = REPO / "samples" / "vtest-walkway.mp4"
GOP_MS = 2000  # the sample has a key frame every 20 frames at 10 fps


@pytest.fixture(scope="module")
def filled() -> tuple[RingBuffer, CameraStream, list[tuple[int, np.ndarray]]]:
    """A file camera run in real time for ~7 s with a 4 s ring; a few frames the reader decoded."""
    ring = RingBuffer(seconds=4.0, max_bytes=8 * 1024 * 1024)
    cam = CameraStream("cam-ring", str(CLIP), StreamOptions(), ring=ring)
    cam.start()
    taken = []
    try:
        t_end = time.monotonic() + 7.0
        while time.monotonic() < t_end:
            if cam.wait_frame(1.0) and (pkt := cam.take()) is not None and time.monotonic() > t_end - 3.5:
                taken.append((pkt.ts_ms, pkt.to_bgr()))
                time.sleep(0.3)
    finally:
        cam.stop()
    return ring, cam, taken


@pytest.mark.footage  # a ring buffer filled from the sample footage
def test_ring_is_bounded_in_seconds(filled: tuple) -> None:
    ring, _cam, _ = filled
    span = ring.span()
    assert span is not None
    first, last = span
    # holds the last 4 s, from a key frame: at most one GOP more
    assert 4000 - 200 <= last - first <= 4000 + GOP_MS + 200, last - first
    assert ring.dropped_gops >= 1  # 7 s went through a 4 s ring
    assert 0 < ring.nbytes < 2 * 1024 * 1024  # ~0.5 Mbit/s × 6 s


@pytest.mark.footage  # a ring buffer filled from the sample footage
def test_frames_decodes_the_window_asked_for(filled: tuple) -> None:
    ring, _, taken = filled
    first, last = ring.span()
    start, end = last - 2500, last - 1500
    frames = list(ring.frames(start, end))
    stamps = [ts for ts, _ in frames]
    assert 9 <= len(frames) <= 11, stamps  # 10 fps × 1 s
    assert all(start <= ts <= end for ts in stamps) and stamps == sorted(stamps)
    assert frames[0][1].shape == (576, 768, 3) and frames[0][1].dtype == np.uint8
    # the ring's frames are the reader's frames: match one the reader handed out, by time and pixels
    ts_taken, img_taken = next((t, img) for t, img in taken if first + 500 < t < last - 500)
    ring_ts, ring_img = min(ring.frames(ts_taken - 300, ts_taken + 300), key=lambda f: abs(f[0] - ts_taken))
    assert abs(ring_ts - ts_taken) <= 150
    assert float(np.mean(np.abs(ring_img.astype(np.int16) - img_taken.astype(np.int16)))) < 1.0
    assert list(ring.frames(last + 10_000, last + 20_000)) == []
    with pytest.raises(ValueError):
        list(ring.frames(end, start))


@pytest.mark.footage  # a ring buffer filled from the sample footage
def test_clip_mp4_remuxes_with_the_right_duration(filled: tuple, tmp_path: Path) -> None:
    ring, _, _ = filled
    _first, last = ring.span()
    start, end = last - 3000, last - 500
    path = ring.clip_mp4(start, end, tmp_path / "clips" / "a.mp4")
    with av.open(str(path)) as c:
        v = c.streams.video[0]
        assert v.codec_context.name == "h264" and (v.width, v.height) == (768, 576)
        frames = list(c.decode(video=0))
    dur_ms = (frames[-1].time - frames[0].time) * 1000 + 100
    # from the key frame before start (≤ 1 GOP early) to end
    assert 2500 - 200 <= dur_ms <= 2500 + GOP_MS + 200, dur_ms
    assert len(frames) == pytest.approx(dur_ms / 100, abs=2)
    assert frames[0].key_frame
    with pytest.raises(LookupError):
        ring.clip_mp4(last + 60_000, last + 70_000, tmp_path / "none.mp4")


def test_ring_byte_budget_drops_old_gops() -> None:
    """A budget smaller than the window: whole old GOPs go; a GOP bigger than it is not kept."""
    ring = RingBuffer(seconds=60, max_bytes=300_000)
    from edge.video.ringbuffer import StreamInfo

    with av.open(str(CLIP)) as c:
        s = c.streams.video[0]
        ring.set_stream(StreamInfo(s))
        for pkt in c.demux(s):
            if pkt.size and pkt.pts is not None:
                ms = round(float(pkt.pts * pkt.time_base) * 1000)
                ring.add(bytes(pkt), 1_000_000 + ms, 1_000_000 + ms, pkt.is_keyframe)
            if pkt.pts is not None and pkt.pts * pkt.time_base > 20:
                break
    assert 0 < ring.nbytes <= 300_000
    first, last = ring.span()
    assert last - first < 20_000 and ring.dropped_gops > 0
    assert next(iter(ring.frames(first, first)))[0] == first  # the oldest kept packet is a key frame
