"""The ring across what breaks a camera's timeline: a slow clip worker (pins), a file loop or a
reconnect (a gap), a clock stepped back (a new timeline). Real H.264 packets of the sample."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import av
import pytest

from edge.config import EvidenceConfig, StreamOptions
from edge.evidence.clips import ClipJob, ClipWorker
from edge.evidence.store import EvidenceStore
from edge.video.ringbuffer import RingBuffer, StreamInfo
from edge.video.stream import CameraStream

REPO = Path(__file__).resolve().parents[3]
CLIP = REPO / "samples" / "vtest-walkway.mp4"
T0 = 1_800_000_000_000


def feed(ring: RingBuffer, start_ms: int, seconds: float, source: Path = CLIP) -> int:
    """The first ``seconds`` of ``source`` into ``ring``, stamped from ``start_ms``; the last stamp."""
    last = start_ms
    with av.open(str(source)) as c:
        vs = c.streams.video[0]
        ring.set_stream(StreamInfo(vs))
        for pkt in c.demux(vs):
            if pkt.pts is None or pkt.size == 0:
                continue
            rel = round(float(pkt.pts * pkt.time_base) * 1000)
            if rel > seconds * 1000:
                break
            dts = round(float((pkt.dts if pkt.dts is not None else pkt.pts) * pkt.time_base) * 1000)
            ring.add(bytes(pkt), start_ms + rel, start_ms + dts, pkt.is_keyframe)
            last = start_ms + rel
    return last


def frames_in(path: Path) -> int:
    with av.open(str(path)) as c:
        return sum(1 for _ in c.decode(video=0))


def test_a_pinned_window_outlives_the_rings_seconds(tmp_path: Path) -> None:
    ring = RingBuffer(seconds=4.0, max_bytes=16 * 1024 * 1024)
    feed(ring, T0, 3.0)
    token = ring.pin(T0 + 1000)
    feed(ring, T0 + 4000, 10.0)  # 14 s of stream through a 4 s ring
    assert ring.span()[0] <= T0 + 1000
    assert frames_in(ring.clip_mp4(T0 + 1000, T0 + 2900, tmp_path / "a.mp4")) >= 19
    ring.unpin(token)
    feed(ring, T0 + 14_500, 3.0)  # unpinned: the next GOPs evict the old ones again
    first, last = ring.span()
    assert first > T0 + 4000 and last - first <= 4000 + 2000 + 100


def test_pins_are_bounded_by_twice_the_byte_budget() -> None:
    ring = RingBuffer(seconds=2.0, max_bytes=200_000)
    ring.pin(T0)
    feed(ring, T0, 30.0)
    assert 0 < ring.nbytes <= 400_000
    assert ring.pin_overflows > 0


def test_a_slow_worker_still_finds_its_window(tmp_path: Path) -> None:
    """The clip falls due while the worker is busy elsewhere (faces to blur, a loaded machine) and
    the stream goes on past the ring's seconds: the pinned window is still there."""
    ring = RingBuffer(seconds=4.0, max_bytes=16 * 1024 * 1024)
    store = EvidenceStore(tmp_path, settings=EvidenceConfig(blur_faces=False))
    worker = ClipWorker(store, lambda cam: ring, None)
    feed(ring, T0, 2.0)
    worker.schedule(ClipJob("cam-1", "ev-1", T0 + 500, T0 + 3500))
    feed(ring, T0 + 2100, 12.0)  # ~12 s more before the worker gets to it
    assert worker.run_once() == 1
    [(eid, item)] = worker.take("cam-1")
    assert eid == "ev-1" and item is not None and worker.failed == 0 and worker.partial == 0
    assert ring.pins == 0  # released once built


def test_a_clip_across_a_stream_gap_says_what_is_missing(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A reconnect: 3 s of nothing between two runs of the stream. The clip keeps both sides and the
    log says which seconds are missing."""
    ring = RingBuffer(seconds=30.0, max_bytes=16 * 1024 * 1024)
    end_first = feed(ring, T0, 4.0)
    feed(ring, end_first + 3000, 4.0)
    assert ring.gaps(T0 + 1000, end_first + 5000) == [(end_first, end_first + 3000)]
    store = EvidenceStore(tmp_path, settings=EvidenceConfig(blur_faces=False))
    worker = ClipWorker(store, lambda cam: ring, None)
    worker.schedule(ClipJob("cam-1", "ev-1", T0 + 1000, end_first + 5000))
    with caplog.at_level(logging.INFO, logger="parkguard.edge.evidence"):
        worker.stop(drain_s=5)
    [(_, item)] = worker.take("cam-1")
    assert item is not None and worker.partial == 1
    assert "covers 5.0 of 8.0 s asked; missing 3.0 s from +3000 ms" in caplog.text


def test_a_clock_stepped_back_starts_a_new_timeline(tmp_path: Path) -> None:
    ring = RingBuffer(seconds=10.0, max_bytes=16 * 1024 * 1024)
    feed(ring, T0, 6.0)
    feed(ring, T0 - 60_000, 4.0)  # NTP stepped the clock back a minute
    assert ring.discontinuities == 1
    first, last = ring.span()
    assert first == T0 - 60_000 and last < T0 - 55_000
    with pytest.raises(LookupError):  # nothing of the old timeline is cut into a clip
        ring.clip_mp4(T0 + 1000, T0 + 3000, tmp_path / "old.mp4")
    assert frames_in(ring.clip_mp4(T0 - 59_000, T0 - 57_000, tmp_path / "new.mp4")) >= 19


@pytest.mark.footage  # plays a cut of the sample in real time, twice
def test_a_clip_across_a_file_loop_covers_the_event(tmp_path: Path) -> None:
    """A 3 s file played as a camera loops; the window around the restart is held without a gap
    and its clip has every frame (10 fps)."""
    short = tmp_path / "short.mp4"
    with av.open(str(CLIP)) as src, av.open(str(short), "w", format="mp4") as dst:
        vs = src.streams.video[0]
        out = dst.add_stream_from_template(vs)
        for pkt in src.demux(vs):
            if pkt.size == 0 or pkt.pts is None:
                continue
            if pkt.pts * pkt.time_base >= 3.0:
                break
            pkt.stream = out
            dst.mux(pkt)
    ring = RingBuffer(seconds=20.0, max_bytes=16 * 1024 * 1024)
    cam = CameraStream("cam-loop", str(short), StreamOptions(), ring=ring)
    cam.start()
    try:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and (ring.span() is None or ring.span()[1] - ring.span()[0] < 7000):
            time.sleep(0.2)
    finally:
        cam.stop()
    first, last = ring.span()
    assert last - first >= 7000, "the file did not loop twice"
    start, end = first + 1500, first + 5500  # over the first restart, 3 s in
    assert ring.gaps(start, end) == []
    n = frames_in(ring.clip_mp4(start, end, tmp_path / "loop.mp4"))
    assert 39 <= n <= 61, n  # 4 s at 10 fps, from the key frame before the start


def test_a_clip_across_an_rtsp_server_restart_keeps_both_sides(
    tmp_path: Path, rtsp_server: Callable[..., Any], sample_clip: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The camera's RTSP server goes away for ~2 s and comes back with its stream from the start
    (new timestamps): the ring holds both sides, the clip over the outage is made from them and
    the log says how long the hole is."""
    server = rtsp_server({"cam": sample_clip})
    ring = RingBuffer(seconds=60.0, max_bytes=32 * 1024 * 1024)
    cam = CameraStream("cam-rtsp", server.url("cam"), StreamOptions(backoff_initial_s=0.2), ring=ring)
    cam.start()
    try:
        assert _wait(lambda: ring.span() is not None and ring.span()[1] - ring.span()[0] > 4000, 20)
        server.stop()
        t_down = time.time() * 1000
        time.sleep(2.0)
        server.start()
        assert _wait(lambda: ring.span()[1] > time.time() * 1000 - 500 and cam.reconnects > 0, 20)
        assert _wait(lambda: ring.span()[1] > t_down + 7000, 20)
    finally:
        cam.stop()
    start, end = round(t_down - 3000), round(t_down + 7000)
    [(hole_from, hole_to)] = ring.gaps(start, end)
    assert 1500 <= hole_to - hole_from <= 6000, (hole_from - t_down, hole_to - t_down)
    store = EvidenceStore(tmp_path, settings=EvidenceConfig(blur_faces=False))
    worker = ClipWorker(store, lambda c: ring, None)
    worker.schedule(ClipJob("cam-rtsp", "ev-1", start, end))
    with caplog.at_level(logging.INFO, logger="parkguard.edge.evidence"):
        assert worker.run_once() == 1
    [(_, item)] = worker.take("cam-rtsp")
    assert item is not None and worker.partial == 1 and "missing" in caplog.text
    n = frames_in(store.path_for(item.sha256, "mp4"))
    held_s = (end - start - (hole_to - hole_from)) / 1000
    assert n >= 10 * held_s - 25, (n, held_s)  # both sides, at the stream's 10 fps


def _wait(cond: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.1)
    return cond()


def test_stopping_cancels_a_clip_being_built(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """The node stops while a long clip is re-encoded with its faces blurred: the drain time
    over, the build stops at its next frame and the worker thread ends (no thread left inside
    FFmpeg or ONNX Runtime)."""
    from edge.evidence.blur import make_blurrer

    ring = RingBuffer(seconds=120.0, max_bytes=64 * 1024 * 1024)
    feed(ring, T0, 60.0)
    store = EvidenceStore(tmp_path, settings=EvidenceConfig(clip_max_s=60))
    blurrer = make_blurrer(REPO / "models" / "manifest.yaml", "blazeface", 0.5, True, 40)
    worker = ClipWorker(store, lambda cam: ring, blurrer)
    worker.schedule(ClipJob("cam-1", "ev-1", T0, T0 + 59_000))  # ~590 frames to decode, blur, encode
    worker.start()
    time.sleep(0.5)
    t0 = time.monotonic()
    with caplog.at_level(logging.INFO, logger="parkguard.edge.evidence"):
        worker.stop(drain_s=1.0)
    assert time.monotonic() - t0 < 4.0
    assert worker._thread is None and "the node is stopping" in caplog.text
    [(eid, item)] = worker.take("cam-1")
    assert eid == "ev-1" and item is None
