"""Camera readers: one thread per camera, PyAV, reconnect with backoff, latest frame wins.

A reader never queues frames: the analyzer takes the newest one and whatever it did not
take is counted as skipped. A stalled stream (no frame within the read timeout, or packets
but no decodable frame for ``stall_timeout_s``) is torn down and reopened. Files loop and are
paced to real time, so a file stands in for a camera.

Every demuxed packet also goes to the camera's :class:`~edge.video.ringbuffer.RingBuffer` when it has
one (compressed, no extra decoding). A reader made with ``decode=False`` only demuxes: that is the
main-stream reader of a camera whose detection reads a sub-stream. The main-stream reader also
hands every packet to the camera's live :class:`~edge.live.taps.PacketTap` (live video sessions
pass them through to browsers without decoding).
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np

from edge.comms.metrics import STAGE_MS_BUCKETS, Histogram
from edge.config.stream import StreamOptions
from edge.live.taps import PacketTap
from edge.video.ringbuffer import RingBuffer, StreamInfo
from protocol import CameraState

log = logging.getLogger("parkguard.edge.stream")
# skip non-reference frames only when the stream sends at least this many times the analysis
# rate: a stream of three non-reference frames to one kept still feeds the analysis in full
NONREF_SKIP_FACTOR = 4


@dataclass
class FramePacket:
    camera: str
    seq: int  # frames decoded since start, across reconnects
    ts_ms: int  # wall-clock capture time, epoch ms
    frame: av.VideoFrame

    def to_bgr(self) -> np.ndarray:
        return self.frame.to_ndarray(format="bgr24")


class PacketClock:
    """Packet times on the wall clock (epoch ms): anchored at the first packet, and again when a
    live stream's clock jumps (the sender restarted)."""

    def __init__(self, time_base: float, live: bool) -> None:
        self.tb = time_base
        self.live = live
        self.anchor: tuple[int, int] | None = None  # (wall ms, pts)

    def times(self, packet: av.Packet, now: int) -> tuple[int, int]:
        """(presentation, decoding) time of ``packet``; ``now`` for a packet without times."""
        pts = packet.pts if packet.pts is not None else packet.dts
        if pts is None or not self.tb:
            return now, now
        if self.anchor is None or (
            self.live and abs(self.anchor[0] + (pts - self.anchor[1]) * self.tb * 1000 - now) > 3000
        ):
            self.anchor = (now, pts)
        wall, base = self.anchor
        raw_dts = packet.dts if packet.dts is not None else pts
        return wall + round((pts - base) * self.tb * 1000), wall + round((raw_dts - base) * self.tb * 1000)


def is_file_source(url: str) -> bool:
    return "://" not in url or url.startswith("file://")


def open_options(url: str, opts: StreamOptions) -> dict[str, str]:
    if url.lower().startswith(("rtsp://", "rtsps://")):
        return {
            "rtsp_transport": opts.rtsp_transport,
            "analyzeduration": "500000",
            "probesize": "262144",
            "fflags": "nobuffer",
            "max_delay": "500000",
        }
    return {}


class CameraStream:
    def __init__(
        self,
        camera_id: str,
        url: str,
        opts: StreamOptions,
        realtime: bool = True,
        ring: RingBuffer | None = None,
        decode: bool = True,
        analysis_fps: float | None = None,
        tap: PacketTap | None = None,
    ) -> None:
        self.camera_id = camera_id
        self.tap = tap
        # frames/s the analysis takes from this reader; when the stream sends at least
        # NONREF_SKIP_FACTOR times as many, the decoder skips the frames no other frame refers
        # to (B-frames, temporal layers)
        self.analysis_fps = analysis_fps
        self.skipping_nonref = False
        self._rate_changed = False  # set_analysis_fps: the reader re-decides at the next key frame
        self.url = url
        self.opts = opts
        self.realtime = realtime
        self.ring = ring
        self.decode = decode
        self.packets_in = 0
        self.is_file = is_file_source(url)
        self.state = CameraState.STARTING
        self.error: str | None = None
        self.frames_in = 0
        self.decode_errors = 0  # packets the decoder refused + frames it decoded with errors: dropped
        self.decode_hist = Histogram(STAGE_MS_BUCKETS)  # ms per packet decoded (reader thread)
        self._decode_error_logged = -1e9
        self.reconnects = 0
        self.last_frame_ms: int | None = None
        self._latest: FramePacket | None = None
        self._taken_seq = 0
        self.skipped = 0
        self._lock = threading.Lock()
        self._new_frame = threading.Condition(self._lock)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._container: av.container.InputContainer | None = None
        self._t0: tuple[float, float] | None = None  # (monotonic s, media s) of a file's first frame

    # -- consumer side -------------------------------------------------------------------
    def take(self) -> FramePacket | None:
        """The newest frame not taken yet, or None."""
        with self._lock:
            pkt = self._latest
            if pkt is None or pkt.seq <= self._taken_seq:
                return None
            self.skipped += max(0, pkt.seq - self._taken_seq - 1)
            self._taken_seq = pkt.seq
            return pkt

    def wait_frame(self, timeout: float) -> bool:
        with self._new_frame:
            return self._new_frame.wait_for(
                lambda: self._latest is not None and self._latest.seq > self._taken_seq, timeout
            )

    # -- lifecycle -----------------------------------------------------------------------
    def start(self) -> None:
        name = f"cam-{self.camera_id}" + ("" if self.decode else "-main")
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout)

    def is_alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _set_state(self, state: CameraState, error: str | None = None) -> None:
        if state is not self.state:
            # coming online, and going offline because the node stops it, are no trouble
            level = logging.INFO if state is CameraState.ONLINE or self._stop.is_set() else logging.WARNING
            log.log(
                level,
                "camera %s: %s → %s%s",
                self.camera_id,
                self.state.value,
                state.value,
                f" ({error})" if error else "",
            )
        self.state = state
        self.error = error

    def _run(self) -> None:
        backoff = self.opts.backoff_initial_s
        while not self._stop.is_set():
            packets_before = self.packets_in
            try:
                for pkt in self._read_once():
                    with self._new_frame:
                        self._latest = pkt
                        self._new_frame.notify_all()
                if self.is_file and self.packets_in > packets_before:
                    continue  # loop the file
                if not self._stop.is_set():
                    self._set_state(CameraState.OFFLINE, "stream ended")
            except Exception as exc:
                if self._stop.is_set():
                    break
                msg = f"{type(exc).__name__}: {exc}"
                stalled = self.state is CameraState.ONLINE and (
                    "timed out" in msg.lower() or "Timeout" in msg
                )
                self._set_state(CameraState.STALLED if stalled else CameraState.OFFLINE, msg[:300])
            if self.packets_in > packets_before:
                backoff = self.opts.backoff_initial_s
            if self._stop.wait(backoff):
                break
            backoff = min(backoff * 2, self.opts.backoff_max_s)
            self.reconnects += 1
        self._set_state(CameraState.OFFLINE, "stopped")

    def _read_once(self) -> Iterator[FramePacket]:
        if self.is_file and not Path(self.url.removeprefix("file://")).exists():
            raise FileNotFoundError(f"no such file: {self.url}")
        container = av.open(
            self.url.removeprefix("file://"),
            options=open_options(self.url, self.opts),
            timeout=(self.opts.open_timeout_s, self.opts.read_timeout_s),
        )
        self._container = container
        try:
            stream = container.streams.video[0]
            if self.decode:
                self.configure_decoder(stream)
                self.skipping_nonref = self._skip_nonref(stream)
            if self.ring is not None:
                self.ring.set_stream(StreamInfo(stream))
            if self.tap is not None:
                self.tap.set_stream(stream)
            clock = PacketClock(float(stream.time_base) if stream.time_base else 0.0, live=not self.is_file)
            self._t0 = None
            last_frame_mono = time.monotonic()
            for packet in container.demux(stream):
                if self._stop.is_set():
                    return
                if packet.size == 0:
                    continue  # the demuxer's flush packet
                self.packets_in += 1
                if (self.ring is not None or self.tap is not None or not self.decode) and not self._keep(
                    packet, clock
                ):
                    return
                if not self.decode:
                    self._frame_came(int(time.time() * 1000))
                    continue
                if self._rate_changed and packet.is_keyframe:
                    self._rate_changed = False
                    self.skipping_nonref = self._skip_nonref(stream)
                frames = self._decode(packet)
                if frames:
                    last_frame_mono = time.monotonic()
                elif time.monotonic() - last_frame_mono > self.opts.stall_timeout_s:
                    raise TimeoutError(f"packets but no decodable frame for {self.opts.stall_timeout_s:g} s")
                for frame in frames:
                    if not self._pace(frame):
                        return
                    now = int(time.time() * 1000)
                    self.frames_in += 1
                    self._frame_came(now)
                    yield FramePacket(self.camera_id, self.frames_in, now, frame)
        finally:
            self._container = None
            with contextlib.suppress(Exception):
                container.close()

    def _keep(self, packet: av.Packet, clock: PacketClock) -> bool:
        """Into the ring (with wall-clock times); a demux-only reader of a file is paced to real
        time by its packets. False when stopped meanwhile."""
        now = int(time.time() * 1000)
        ts, dts = clock.times(packet, now)
        if not self.decode and self.is_file and self.realtime:
            delay = (ts - now) / 1000
            if delay > 0 and self._stop.wait(delay):
                return False
        if self.ring is not None or (self.tap is not None and self.tap.listeners):
            data = bytes(packet)
            if self.ring is not None:
                self.ring.add(data, ts, dts, packet.is_keyframe)
            if self.tap is not None:
                self.tap.add(data, ts, packet.is_keyframe)
        return True

    def _pace(self, frame: av.VideoFrame) -> bool:
        """A file plays in real time, frame by frame; False when stopped meanwhile."""
        if not (self.is_file and self.realtime and frame.time is not None):
            return True
        if self._t0 is None:
            self._t0 = (time.monotonic(), frame.time)
        delay = self._t0[0] + (frame.time - self._t0[1]) - time.monotonic()
        return not (delay > 0 and self._stop.wait(delay))

    def _frame_came(self, now_ms: int) -> None:
        self.last_frame_ms = now_ms
        if self.state is not CameraState.ONLINE:
            self._set_state(CameraState.ONLINE)

    @staticmethod
    def configure_decoder(stream: av.video.stream.VideoStream) -> None:
        """Decoder threading of every reader: slice threads only. Frame threading would hold
        frames back (one per thread: latency on a live camera) and report errors frames late."""
        stream.thread_type = "SLICE"

    def set_analysis_fps(self, fps: float) -> None:
        """A new analysis rate (a config change): the reader thread applies it to its decoder at
        the next key frame, where no frame refers to what came before."""
        if fps != self.analysis_fps:
            self.analysis_fps = fps
            self._rate_changed = True

    def _skip_nonref(self, stream: av.video.stream.VideoStream) -> bool:
        """Let the decoder drop non-reference frames when the analysis takes at most a quarter of
        the stream's frame rate: they cost decoding and nothing refers to them. Streams without such
        frames (most IP cameras send I and P frames only) are decoded whole all the same. The ring
        buffer keeps every packet: clips are not affected."""
        rate = stream.average_rate or stream.guessed_rate
        if not self.analysis_fps or not rate or self.analysis_fps * NONREF_SKIP_FACTOR > float(rate):
            stream.codec_context.skip_frame = "DEFAULT"
            return False
        stream.codec_context.skip_frame = "NONREF"
        if not self.skipping_nonref:  # once, not at every loop of a file or reconnect
            log.info(
                "camera %s: the decoder skips non-reference frames where the stream has them "
                "(stream %.3g fps, analysis %.3g fps)",
                self.camera_id,
                float(rate),
                self.analysis_fps,
            )
        return True

    def _decode(self, packet: av.Packet) -> list[av.VideoFrame]:
        """The packet's good frames. A packet the decoder refuses, and a frame it had to patch up
        (FFmpeg's error concealment: ``is_corrupt``), are dropped and counted in ``decode_errors``;
        the stream goes on with the next packet."""
        t0 = time.perf_counter()
        try:
            frames = packet.decode()
        except av.error.FFmpegError as exc:
            self._decode_error(f"{type(exc).__name__}: {exc}")
            return []
        finally:
            self.decode_hist.observe((time.perf_counter() - t0) * 1000)
        good = [f for f in frames if not f.is_corrupt]
        for _ in range(len(frames) - len(good)):
            self._decode_error("corrupt frame (decoded with errors, concealed by the decoder)")
        return good

    def _decode_error(self, what: str) -> None:
        self.decode_errors += 1
        now = time.monotonic()
        if now - self._decode_error_logged >= 60:  # one line a minute per camera, not one per frame
            self._decode_error_logged = now
            log.warning(
                "camera %s: frame dropped: %s (%d decode error(s) so far)",
                self.camera_id,
                what,
                self.decode_errors,
            )

    def check_stall(self, now_ms: int) -> None:
        """Called by the node's watchdog: mark a camera that sends nothing as stalled."""
        if (
            self.state is CameraState.ONLINE
            and self.last_frame_ms is not None
            and now_ms - self.last_frame_ms > self.opts.stall_timeout_s * 1000
        ):
            self._set_state(CameraState.STALLED, f"no frame for {(now_ms - self.last_frame_ms) / 1000:.1f} s")


def iter_file_frames(path: str, every_s: float) -> Iterator[tuple[int, float, av.VideoFrame]]:
    """Frames of a recorded clip sampled every ``every_s`` seconds of media time, as fast as decoding goes.

    Yields (frame index, media time in seconds, frame).
    """
    with av.open(path) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        next_t = 0.0
        index = -1
        for packet in container.demux(stream):
            try:
                frames = packet.decode()
            except av.error.FFmpegError:
                continue
            for frame in frames:
                index += 1
                if frame.is_corrupt:  # decoded with errors (concealed): not analyzed
                    continue
                t = float(frame.time) if frame.time is not None else index / float(stream.average_rate or 25)
                if t + 1e-6 < next_t:
                    continue
                while next_t <= t + 1e-6:
                    next_t += every_s
                yield index, t, frame
