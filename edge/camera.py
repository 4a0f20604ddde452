"""The cameras of a running node: each one's readers, ring buffer, analyzer and the figures it
reports, and the loop's step that analyzes every camera that is due.

A detection reader (the sub-stream when ``detect_url`` is set, else the main stream) and a ring
buffer of the main stream's packets (kept by the main-stream reader: the same reader when there
is no sub-stream). The node's loop analyzes the camera's newest frame when it falls due and
counts what happened; :meth:`CameraRuntime.health` turns the counts into a heartbeat's figures.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from edge.comms.metrics import AGE_MS_BUCKETS, INFER_MS_BUCKETS, STAGE_MS_BUCKETS, STAGES, Histogram
from edge.config.camera import CameraConfig
from edge.config.node import EdgeConfig
from edge.detect.detections import Detections
from edge.detect.detector import ObjectDetector
from edge.live.taps import DetectionTap, PacketTap
from edge.pipeline import CameraAnalyzer, CameraPipeline
from edge.reconfig import ReconfigPlan
from edge.video.ringbuffer import RingBuffer
from edge.video.stream import CameraStream, FramePacket
from protocol import AlertEvent, CameraHealth, CameraState, now_ms

log = logging.getLogger("parkguard.edge.node")

Emit = Callable[[list[AlertEvent]], None]
AGES_KEPT = 1000  # frame ages (capture → rule result) kept for tools and tests


def open_readers(
    cfg: EdgeConfig, cam: CameraConfig, tap: PacketTap | None = None
) -> tuple[CameraStream, CameraStream | None, RingBuffer | None]:
    """(detection reader, main-stream reader when detection reads a sub-stream, ring buffer).
    The main stream's reader feeds ``tap`` (live video)."""
    ring = RingBuffer(cfg.ring.seconds, int(cfg.ring.max_mb * 1024 * 1024)) if cfg.ring.enabled else None
    fps = cam.analysis_fps or cfg.analysis_fps
    if cam.detect_url:
        stream = CameraStream(cam.id, cam.detect_url, cfg.stream, analysis_fps=fps)
        main = None
        if ring is not None or tap is not None:
            main = CameraStream(cam.id, cam.url, cfg.stream, ring=ring, decode=False, tap=tap)
        return stream, main, ring
    return CameraStream(cam.id, cam.url, cfg.stream, ring=ring, analysis_fps=fps, tap=tap), None, ring


@dataclass
class CameraRuntime:
    cfg: CameraConfig
    stream: CameraStream  # detection stream: the camera's state is its state
    main: CameraStream | None  # main-stream reader when detection reads a sub-stream
    ring: RingBuffer | None
    analyzer: CameraAnalyzer
    period_s: float
    next_due: float = 0.0
    analyzed: int = 0
    infer_ms_total: float = 0.0
    ages_ms: list[int] = field(default_factory=list)
    infer_hist: Histogram = field(default_factory=lambda: Histogram(INFER_MS_BUCKETS))
    age_hist: Histogram = field(default_factory=lambda: Histogram(AGE_MS_BUCKETS))
    # ms per analyzed frame by stage (decode: the reader's own histogram, per packet)
    stage_hist: dict[str, Histogram] = field(
        default_factory=lambda: {s: Histogram(STAGE_MS_BUCKETS) for s in STAGES if s != "decode"}
    )
    reported_state: CameraState = CameraState.STARTING
    # figures since the last heartbeat
    hb_analyzed: int = 0
    hb_frames_in: int = 0
    hb_infer_ms: float = 0.0
    analysis_errors: int = 0  # frames whose analysis raised: dropped
    analysis_error_logged: float = -1e9
    # live video: the main stream's packets and the analyzed detections (None: live is off)
    packet_tap: PacketTap | None = None
    detection_tap: DetectionTap = field(default_factory=DetectionTap)

    @classmethod
    def open(
        cls, cfg: EdgeConfig, cam: CameraConfig, pipeline: CameraPipeline, track_labels: set[str] | None
    ) -> CameraRuntime:
        analyzer = CameraAnalyzer(cfg, cam, pipeline, track_labels)
        tap = PacketTap() if cfg.live.enabled and cfg.live.max_viewers > 0 else None
        stream, main, ring = open_readers(cfg, cam, tap)
        return cls(cam, stream, main, ring, analyzer, 1.0 / analyzer.fps, packet_tap=tap)

    @property
    def live_reader(self) -> CameraStream:
        """The reader whose packets live sessions get: the main stream's."""
        return self.main if self.main is not None else self.stream

    @property
    def pipeline(self) -> CameraPipeline:
        return self.analyzer.pipeline

    def readers(self) -> list[CameraStream]:
        return [self.stream] + ([self.main] if self.main is not None else [])

    def take_due(self, now: float) -> FramePacket | None:
        """The newest frame not taken yet, when the camera is due at ``now`` (monotonic s)."""
        if now < self.next_due:
            return None
        pkt = self.stream.take()
        if pkt is not None:
            self.next_due = max(self.next_due + self.period_s, now)
        return pkt

    def state_changed(self, at_ms: int) -> bool:
        """The reader's state (stalls checked first) differs from the one last reported."""
        self.stream.check_stall(at_ms)
        return self.stream.state is not self.reported_state

    def reconfigure(
        self,
        plan: ReconfigPlan,
        cfg: EdgeConfig,
        cam: CameraConfig,
        pipeline: CameraPipeline | None,
        track_labels: set[str] | None,
    ) -> tuple[list[AlertEvent], list[CameraStream]]:
        """Take this camera's part of ``plan`` (``pipeline``: its rebuilt one); returns the events
        that ended and, when its readers were replaced, the old ones (started: :meth:`readers`)."""
        ended: list[AlertEvent] = []
        stopped: list[CameraStream] = []
        if pipeline is not None:
            ended = pipeline.take_over(self.pipeline, now_ms(), plan.keep_open)
            self.analyzer.pipeline = pipeline
            self.analyzer.sync_tracker(cfg, track_labels)
            log.info("config: camera %s zones/rules rebuilt", cam.id)
        if cam.id in plan.restart:
            stopped = self.readers()
            self.stream, self.main, self.ring = open_readers(cfg, cam, self.packet_tap)
            self.reported_state = CameraState.STARTING
            log.info("config: camera %s stream restarted", cam.id)
        if cam.id in plan.retune:  # a new analyzer (rate, motion gate, tracker), the same pipeline
            self.analyzer = CameraAnalyzer(cfg, cam, self.pipeline, track_labels)
            self.period_s = 1.0 / self.analyzer.fps
            self.stream.set_analysis_fps(self.analyzer.fps)
        self.analyzer.cam = self.cfg = cam
        return ended, stopped

    def finish_frame(
        self,
        ts_ms: int,
        bgr: np.ndarray | None,
        dets: Detections | None,
        stages: dict[str, float],
        emit: Emit,
    ) -> None:
        """A frame's detections (None: skipped by the motion gate) through tracker and rules; the
        events go to ``emit``; the time of each stage (``stages``: what came before, e.g.
        convert and the detector's) and the frame age (capture → events sent) are counted."""
        if dets is not None:
            infer_ms = stages.get("inference", 0.0)
            self.infer_ms_total += infer_ms
            self.hb_infer_ms += infer_ms
            self.infer_hist.observe(infer_ms)
            self.analyzed += 1
            self.hb_analyzed += 1
        emit(self.analyzer.process(ts_ms, bgr, dets))
        if dets is not None and self.analyzer.last_dets is not None:
            self.detection_tap.add(ts_ms, self.analyzer.last_dets)
        if dets is not None:
            for name, ms in (stages | self.analyzer.last_stage_ms).items():
                hist = self.stage_hist.get(name)
                if hist is not None:
                    hist.observe(ms)
        age_ms = now_ms() - ts_ms
        self.age_hist.observe(age_ms)
        self.ages_ms.append(age_ms)
        if len(self.ages_ms) > AGES_KEPT:
            del self.ages_ms[: AGES_KEPT // 2]

    def analysis_failed(self) -> None:
        """A frame whose analysis raised (a bug, or input nobody foresaw): dropped and counted
        (``analysis_errors``, in the heartbeat's dropped_frames and /metrics); the loop and the
        other cameras go on. The traceback is logged once a minute per camera."""
        self.analysis_errors += 1
        mono = time.monotonic()
        if mono - self.analysis_error_logged >= 60:
            self.analysis_error_logged = mono
            log.exception(
                "camera %s: frame dropped, analysis failed (%d so far)", self.cfg.id, self.analysis_errors
            )

    def health(self, elapsed_s: float, at_ms: int) -> CameraHealth:
        """This camera's heartbeat figures since the last call (which they are reset to)."""
        s = self.stream
        s.check_stall(at_ms)
        frames_in = s.frames_in
        self.reported_state = s.state
        out = CameraHealth(
            camera=self.cfg.id,
            state=s.state,
            fps_in=round(max(0, frames_in - self.hb_frames_in) / elapsed_s, 2),
            fps_out=round(self.hb_analyzed / elapsed_s, 2),
            infer_ms=round(self.hb_infer_ms / self.hb_analyzed, 2) if self.hb_analyzed else 0.0,
            dropped_frames=s.skipped + s.decode_errors + self.analysis_errors,
            decode_errors=s.decode_errors,
            reconnects=s.reconnects,
            last_frame_ms=s.last_frame_ms,
            error=s.error,
        )
        self.hb_frames_in, self.hb_analyzed, self.hb_infer_ms = frames_in, 0, 0.0
        return out


def analyze_due(cameras: list[CameraRuntime], detector: ObjectDetector, emit: Emit) -> bool:
    """Analyze the newest frame of every camera that is due; False when none had a frame.

    A model with a batch axis gets one call for all of them; a fixed batch-1 model (NanoDet
    as bundled) runs camera by camera, each finished before the next starts, so no camera's
    result waits for the others' inference.
    """
    now = time.monotonic()
    worked = False
    batch: list[tuple[CameraRuntime, int, np.ndarray | None, float]] = []
    for cam in sorted(cameras, key=lambda c: c.next_due):
        pkt = cam.take_due(now)
        if pkt is None:
            continue
        worked = True
        try:
            t0 = time.perf_counter()
            bgr = pkt.to_bgr() if cam.analyzer.wants_inference(pkt.frame, pkt.ts_ms) else None
            convert_ms = (time.perf_counter() - t0) * 1000
            if detector.dynamic_batch:
                batch.append((cam, pkt.ts_ms, bgr, convert_ms))
                continue
            dets = detector.detect(bgr) if bgr is not None else None
            cam.finish_frame(pkt.ts_ms, bgr, dets, {"convert": convert_ms, **detector.last_stage_ms}, emit)
            now = time.monotonic()
        except Exception:
            cam.analysis_failed()
    if batch:
        _analyze_batch(batch, detector, emit)
    return worked


def _analyze_batch(
    batch: list[tuple[CameraRuntime, int, np.ndarray | None, float]], detector: ObjectDetector, emit: Emit
) -> None:
    """A model with a batch axis: one call for every camera that was due."""
    frames = [bgr for _, _, bgr, _ in batch if bgr is not None]
    try:
        results = iter(detector.detect_batch(frames) if frames else [])
    except Exception:
        for cam, _, _, _ in batch:
            cam.analysis_failed()
        return
    for cam, ts_ms, bgr, convert_ms in batch:
        try:
            dets = next(results) if bgr is not None else None
            cam.finish_frame(ts_ms, bgr, dets, {"convert": convert_ms, **detector.last_stage_ms}, emit)
        except Exception:
            cam.analysis_failed()
