"""One camera on a running node: its readers, ring buffer and analyzer, and the figures it reports.

A detection reader (the sub-stream when ``detect_url`` is set, else the main stream) and a ring
buffer of the main stream's packets (kept by the main-stream reader: the same reader when there
is no sub-stream). The node's loop analyzes the camera's newest frame when it falls due and
counts what happened; :meth:`CameraRuntime.health` turns the counts into a heartbeat's figures.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

from edge.comms.metrics import AGE_MS_BUCKETS, INFER_MS_BUCKETS, Histogram
from edge.config.camera import CameraConfig
from edge.config.node import EdgeConfig
from edge.pipeline import CameraAnalyzer, CameraPipeline
from edge.video.ringbuffer import RingBuffer
from edge.video.stream import CameraStream
from protocol import CameraHealth, CameraState

log = logging.getLogger("parkguard.edge.node")

AGES_KEPT = 1000  # frame ages (capture → rule result) kept for tools and tests


def open_readers(
    cfg: EdgeConfig, cam: CameraConfig
) -> tuple[CameraStream, CameraStream | None, RingBuffer | None]:
    """(detection reader, main-stream reader when detection reads a sub-stream, ring buffer)."""
    ring = RingBuffer(cfg.ring.seconds, int(cfg.ring.max_mb * 1024 * 1024)) if cfg.ring.enabled else None
    if cam.detect_url:
        stream = CameraStream(cam.id, cam.detect_url, cfg.stream)
        main = CameraStream(cam.id, cam.url, cfg.stream, ring=ring, decode=False) if ring else None
        return stream, main, ring
    return CameraStream(cam.id, cam.url, cfg.stream, ring=ring), None, ring


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
    reported_state: CameraState = CameraState.STARTING
    # figures since the last heartbeat
    hb_analyzed: int = 0
    hb_frames_in: int = 0
    hb_infer_ms: float = 0.0
    analysis_errors: int = 0  # frames whose analysis raised: dropped
    analysis_error_logged: float = -1e9

    @classmethod
    def open(
        cls, cfg: EdgeConfig, cam: CameraConfig, pipeline: CameraPipeline, track_labels: set[str] | None
    ) -> CameraRuntime:
        analyzer = CameraAnalyzer(cfg, cam, pipeline, track_labels)
        stream, main, ring = open_readers(cfg, cam)
        return cls(cam, stream, main, ring, analyzer, 1.0 / analyzer.fps)

    @property
    def pipeline(self) -> CameraPipeline:
        return self.analyzer.pipeline

    def readers(self) -> list[CameraStream]:
        return [self.stream] + ([self.main] if self.main is not None else [])

    def reopen(self, cfg: EdgeConfig, cam: CameraConfig) -> list[CameraStream]:
        """New readers (and ring) for ``cam``; returns the old readers, for the caller to stop."""
        old = self.readers()
        self.stream, self.main, self.ring = open_readers(cfg, cam)
        self.reported_state = CameraState.STARTING
        return old

    def retune(self, cfg: EdgeConfig, cam: CameraConfig, track_labels: set[str] | None) -> None:
        """A new analyzer (rate, motion gate, tracker) around the same pipeline."""
        self.analyzer = CameraAnalyzer(cfg, cam, self.pipeline, track_labels)
        self.period_s = 1.0 / self.analyzer.fps

    def record_inference(self, per_frame_ms: float) -> None:
        self.infer_ms_total += per_frame_ms
        self.hb_infer_ms += per_frame_ms
        self.infer_hist.observe(per_frame_ms)
        self.analyzed += 1
        self.hb_analyzed += 1

    def record_age(self, age_ms: int) -> None:
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

    def health(self, elapsed_s: float, now_ms: int) -> CameraHealth:
        """This camera's heartbeat figures since the last call (which they are reset to)."""
        s = self.stream
        s.check_stall(now_ms)
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
