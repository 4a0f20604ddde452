"""The detection reader's decoder skips non-reference frames when the analysis takes at most a
quarter of the stream's frame rate: measured on a real H.264 clip with B-frames (libx264 makes them
non-reference without a B-pyramid), read by the real reader; the ring buffer still gets every
packet."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest

from edge.config.stream import StreamOptions
from edge.video.ringbuffer import RingBuffer
from edge.video.stream import CameraStream

FPS = 25


@pytest.fixture(scope="module")
def b_frame_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("nonref") / "bframes.mp4"
    subprocess.run(
        [
            *("ffmpeg", "-v", "error", "-f", "lavfi", "-i", f"testsrc2=size=320x240:rate={FPS}:duration=4"),
            *("-c:v", "libx264", "-preset", "ultrafast", "-bf", "2", "-x264-params", "b-pyramid=none"),
            *("-g", "25", "-pix_fmt", "yuv420p", str(out)),
        ],
        check=True,
        timeout=60,
    )
    return out


def read(clip: Path, analysis_fps: float, ring: RingBuffer | None = None) -> CameraStream:
    """Run the reader over the clip (looping, as fast as it decodes) for about a second."""
    reader = CameraStream(
        "cam-b", str(clip), StreamOptions(), realtime=False, ring=ring, analysis_fps=analysis_fps
    )
    reader.start()
    try:
        deadline = time.monotonic() + 30
        while reader.packets_in < 3 * 4 * FPS and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        reader.stop()
    assert reader.packets_in >= 2 * 4 * FPS, "the reader did not get through the clip twice"
    return reader


def test_slow_analysis_skips_the_non_reference_frames(b_frame_clip: Path) -> None:
    ring = RingBuffer(60, 64 * 1024 * 1024)
    slow = read(b_frame_clip, analysis_fps=5, ring=ring)
    assert slow.skipping_nonref
    # I B B P B B P …: two frames in three are non-reference B-frames, so about a third is decoded
    assert 0.25 < slow.frames_in / slow.packets_in < 0.5, (slow.frames_in, slow.packets_in)
    assert slow.decode_errors == 0
    assert ring.packets_in == slow.packets_in  # the ring keeps every packet, skipped frames included


def test_analysis_at_the_stream_rate_decodes_every_frame(b_frame_clip: Path) -> None:
    full = read(b_frame_clip, analysis_fps=FPS)
    assert not full.skipping_nonref
    assert full.frames_in / full.packets_in > 0.95, (full.frames_in, full.packets_in)


def test_a_new_rate_takes_effect_at_the_next_key_frame(b_frame_clip: Path) -> None:
    reader = CameraStream("cam-b", str(b_frame_clip), StreamOptions(), realtime=False, analysis_fps=FPS)
    reader.start()
    try:
        deadline = time.monotonic() + 30
        while reader.packets_in < 2 * FPS and time.monotonic() < deadline:
            time.sleep(0.02)
        assert not reader.skipping_nonref
        reader.set_analysis_fps(2)
        while not reader.skipping_nonref and time.monotonic() < deadline:
            time.sleep(0.02)
        assert reader.skipping_nonref
        p0, f0 = reader.packets_in, reader.frames_in
        while reader.packets_in < p0 + 4 * FPS and time.monotonic() < deadline:
            time.sleep(0.02)
        assert (reader.frames_in - f0) / (reader.packets_in - p0) < 0.5
    finally:
        reader.stop()
