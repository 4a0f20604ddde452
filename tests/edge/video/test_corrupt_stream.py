"""Corrupt H.264 in the middle of a stream: the bad frames are dropped and counted, the stream goes on.

The damaged clips are made here from the real sample: its first packets are remuxed (no
re-encode) into a new MP4, then bytes of some frames are overwritten in place with random
ones. Two kinds of damage, as a camera's lossy link gives them:

- *refused*: a whole frame's bytes (its NAL length prefixes too): FFmpeg's decoder rejects the
  packet (``InvalidDataError``);
- *concealed*: the second half of a frame's slice data: the decoder still gives a frame, patched
  up by error concealment and flagged ``is_corrupt``.

Both must be dropped (never analyzed), counted in ``decode_errors`` (heartbeat and
``/metrics``), and the frames after them must keep coming without a reconnect.
"""

from __future__ import annotations

import random
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import av

from edge.config import EdgeConfig
from edge.node import EdgeNode
from edge.video.stream import CameraStream
from protocol import Heartbeat
from tests.support.nodes import Collector, demo_detector, running, wait_until
from tests.support.ports import free_port

REPO = Path(__file__).resolve().parents[3]
MANIFEST = REPO / "models" / "manifest.yaml"
SAMPLE = REPO / "samples" / "vtest-walkway.mp4"


def damaged_clip(
    dst: Path, packets: int, speed: int, refused: range = range(0), concealed: range = range(0), seed: int = 3
) -> Path:
    """The sample's first ``packets`` packets at ``speed``× (pts scaled), then damaged in place."""
    with av.open(str(SAMPLE)) as src, av.open(str(dst), "w") as out:
        ins = src.streams.video[0]
        st = out.add_stream_from_template(ins)
        n = 0
        for pkt in src.demux(ins):
            if pkt.size == 0:
                continue
            if n == packets:
                break
            pkt.pts, pkt.dts = pkt.pts // speed, pkt.dts // speed
            pkt.stream = st
            out.mux(pkt)
            n += 1
    with av.open(str(dst)) as c:
        where = [(p.pos, p.size) for p in c.demux(video=0) if p.size]
    assert len(where) == packets
    data = bytearray(dst.read_bytes())
    rng = random.Random(seed)
    for i in refused:
        pos, size = where[i]
        data[pos : pos + size] = rng.randbytes(size)
    for i in concealed:
        pos, size = where[i]
        half = size // 2
        data[pos + half : pos + size] = rng.randbytes(size - half)
    dst.write_bytes(bytes(data))
    return dst


@dataclass
class Reference:
    good: int  # frames decoded cleanly
    refused: int  # packets the decoder rejected
    concealed: int  # frames decoded with errors

    @property
    def errors(self) -> int:
        return self.refused + self.concealed


def reference(path: Path) -> Reference:
    """What FFmpeg itself makes of the file, decoded the way a camera reader decodes it."""
    good = refused = concealed = 0
    with av.open(str(path)) as c:
        stream = c.streams.video[0]
        CameraStream.configure_decoder(stream)
        for pkt in c.demux(stream):
            if pkt.size == 0:
                continue
            try:
                frames = pkt.decode()
            except av.error.InvalidDataError:
                refused += 1
                continue
            for f in frames:
                concealed += f.is_corrupt
                good += not f.is_corrupt
    return Reference(good, refused, concealed)


def node_config(tmp: Path, broker_port: int, url: str, **extra: Any) -> EdgeConfig:
    data: dict[str, Any] = {
        "site": "yijia",
        "node": "edge-corrupt",
        "heartbeat_s": 1,
        "analysis_fps": 4,
        "evidence_dir": str(tmp / "ev"),
        "state_dir": str(tmp / "state"),
        "metrics_port": free_port(),
        "mqtt": {"host": "127.0.0.1", "port": broker_port},
        "models": {"manifest": str(MANIFEST), "threads": 1},
        "stream": {"open_timeout_s": 3, "read_timeout_s": 3, "backoff_initial_s": 0.5, "backoff_max_s": 1},
        "cameras": [{"id": "cam-bad", "url": url}],
    }
    data.update(extra)
    return EdgeConfig.model_validate(data)


def scrape(port: int) -> dict[str, float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
        text = resp.read().decode()
    return {
        name: float(value)
        for line in text.splitlines()
        if line and not line.startswith("#")
        for name, value in [line.rsplit(" ", 1)]
    }


def test_clean_sample_has_no_decode_error(tmp_path: Path) -> None:
    ref = reference(damaged_clip(tmp_path / "clean.mp4", 100, 1))
    assert ref == Reference(100, 0, 0)


def test_damaged_clip_gives_both_kinds_of_error(tmp_path: Path) -> None:
    ref = reference(
        damaged_clip(tmp_path / "bad.mp4", 100, 1, refused=range(22, 27), concealed=range(30, 44))
    )
    assert ref.refused == 5, ref
    assert ref.concealed >= 5 and ref.good + ref.concealed == 95, ref


def test_file_camera_drops_and_counts_corrupt_frames_and_goes_on(
    tmp_workdir: Path, mosquitto: Any, detector: Any
) -> None:
    # 100 frames at 10 fps, looped: refused frames 22–26, concealed damage in 30–43, clean after
    clip = damaged_clip(tmp_workdir / "bad.mp4", 100, 1, refused=range(22, 27), concealed=range(30, 44))
    ref = reference(clip)
    cfg = node_config(tmp_workdir, mosquitto.port, str(clip))
    sub = Collector(mosquitto.host, mosquitto.port, "parkguard/v1/yijia/edge-corrupt/heartbeat")
    node = EdgeNode(cfg, detector)
    try:
        with running(node):
            cam = node.camera("cam-bad")
            assert cam is not None
            s = cam.stream
            # the damaged stretch of the first loop: exactly the errors FFmpeg reports for the file
            assert wait_until(lambda: s.decode_errors >= ref.errors, 20), (s.decode_errors, ref)
            errors, frames, analyzed = s.decode_errors, s.frames_in, cam.analyzed
            assert errors == ref.errors, (errors, ref)
            assert frames < ref.good - 40, "the clean frames after the damage are still to come"
            # ... and the clean frames after it keep coming, in the same reader, without a reconnect
            assert wait_until(lambda: s.frames_in >= frames + 40, 10), (s.frames_in, frames)
            assert s.decode_errors == errors, "no error in the clean part of the clip"
            assert s.reconnects == 0 and s.state == "online", (s.reconnects, s.state, s.error)
            assert wait_until(lambda: cam.analyzed >= analyzed + 4, 5), "the camera is still analyzed"
            # shown in the heartbeat (of dropped_frames) and in /metrics
            assert wait_until(
                lambda: any(
                    c.camera == "cam-bad" and c.decode_errors == errors and c.dropped_frames >= errors
                    for m in sub.of_kind("heartbeat")
                    for c in Heartbeat.model_validate(m).cameras
                ),
                5,
            ), sub.of_kind("heartbeat")[-1:]
            metrics = scrape(node.metrics.port)
            key = 'parkguard_edge_camera_frames_dropped_total{camera="cam-bad",reason="decode_error"}'
            assert metrics[key] == s.decode_errors
            assert metrics['parkguard_edge_camera_frames_in_total{camera="cam-bad"}'] >= frames + 40
            # the next loop over the same damage counts it again
            assert wait_until(lambda: s.decode_errors >= 2 * ref.errors, 15)
            assert s.decode_errors == 2 * ref.errors or s.frames_in >= 2 * ref.good
    finally:
        sub.close()


def test_rtsp_camera_with_corrupt_frames_goes_on(
    tmp_workdir: Path, mosquitto: Any, rtsp_server: Callable[..., Any], detector: Any
) -> None:
    # concealed damage only: the RTSP server remuxes the file (ffmpeg -c copy), which needs valid NAL sizes
    clip = damaged_clip(tmp_workdir / "bad.mp4", 100, 1, concealed=range(30, 44))
    assert reference(clip).concealed > 0
    srv = rtsp_server({"bad": clip})
    node = EdgeNode(node_config(tmp_workdir, mosquitto.port, srv.url("bad")), detector)
    with running(node):
        cam = node.camera("cam-bad")
        assert cam is not None
        s = cam.stream
        # the clip loops every 10 s; the damaged stretch passes at least once in 25 s
        assert wait_until(lambda: s.decode_errors > 0, 25), (s.state, s.error, s.frames_in)
        frames = s.frames_in
        assert wait_until(lambda: s.frames_in >= frames + 30, 10), (s.frames_in, frames)
        assert s.reconnects == 0 and s.state == "online", (s.reconnects, s.state, s.error)
        print(f"rtsp: {s.decode_errors} corrupt frame(s) dropped, {s.frames_in} good frames")


def test_a_frame_whose_analysis_raises_is_dropped_and_counted(tmp_workdir: Path, mosquitto: Any) -> None:
    """Fault injection: the real detector, made to raise on every third frame (no input found so
    far makes analysis raise; this is the guard for the one nobody foresaw). The loop goes on."""
    det = demo_detector()
    real_detect, calls = det.detect, [0]

    def flaky_detect(frame: Any) -> Any:
        calls[0] += 1
        if calls[0] % 3 == 0:
            raise ValueError("injected failure")
        return real_detect(frame)

    det.detect = flaky_detect  # type: ignore[method-assign]
    cfg = node_config(tmp_workdir, mosquitto.port, str(SAMPLE), analysis_fps=5, motion={"enabled": False})
    node = EdgeNode(cfg, det)
    with running(node):
        cam = node.camera("cam-bad")
        assert cam is not None
        assert wait_until(lambda: cam.analysis_errors >= 3 and cam.analyzed >= 6, 15), (
            cam.analysis_errors,
            cam.analyzed,
        )
        errors = cam.analysis_errors
        assert abs(cam.analyzed - 2 * errors) <= 2, (cam.analyzed, errors)
        metrics = scrape(node.metrics.port)
        key = 'parkguard_edge_camera_frames_dropped_total{camera="cam-bad",reason="analysis_error"}'
        assert metrics[key] >= errors
        health = {h.camera: h for h in node.health()}["cam-bad"]
        assert health.dropped_frames >= cam.analysis_errors
