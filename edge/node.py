"""The long-running edge node: every camera's reader, one inference loop, MQTT out."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field

from edge import __version__
from edge.config import CameraConfig, EdgeConfig
from edge.detector import Detector
from edge.evidence import EvidenceStore
from edge.manifest import load_manifest
from edge.outbox import Outbox
from edge.pipeline import CameraPipeline
from edge.publisher import SEVERITY_RANK, Publisher
from edge.stream import CameraStream
from protocol import AlertEvent, CameraHealth, Heartbeat, TopicKind, now_ms

log = logging.getLogger("parkguard.edge.node")


@dataclass
class CameraRuntime:
    cfg: CameraConfig
    stream: CameraStream
    pipeline: CameraPipeline
    period_s: float
    next_due: float = 0.0
    analysed: int = 0
    infer_ms_total: float = 0.0
    ages_ms: list[int] = field(default_factory=list)
    # figures since the last heartbeat
    hb_analysed: int = 0
    hb_frames_in: int = 0
    hb_infer_ms: float = 0.0


def load_detector(cfg: EdgeConfig) -> Detector:
    models = load_manifest(cfg.models.manifest)
    if cfg.models.detector not in models:
        from edge.config import ConfigError

        raise ConfigError(
            f"models.detector: {cfg.models.detector!r} is not in {cfg.models.manifest} "
            f"(have: {', '.join(models)})"
        )
    m = cfg.models
    return Detector(models[m.detector], m.threads, m.providers, m.score_threshold, m.nms_iou)


class EdgeNode:
    def __init__(self, cfg: EdgeConfig, detector: Detector | None = None) -> None:
        self.cfg = cfg
        self.detector = detector or load_detector(cfg)
        evidence = EvidenceStore(cfg.evidence_dir)
        self.cameras: list[CameraRuntime] = []
        for cam in cfg.cameras:
            if not cam.enabled:
                continue
            pipeline = CameraPipeline(cfg, cam, self.detector.labels, evidence)
            stream = CameraStream(cam.id, cam.url, cfg.stream)
            self.cameras.append(
                CameraRuntime(cam, stream, pipeline, 1.0 / (cam.analysis_fps or cfg.analysis_fps))
            )
        self.outbox = Outbox(cfg.state_dir / "outbox.sqlite", cfg.outbox_max_rows)
        self.publisher = Publisher(
            cfg.mqtt,
            cfg.site,
            cfg.node,
            f"parkguard-edge/{__version__}",
            [c.cfg.id for c in self.cameras],
            self.outbox,
        )
        self._stop = threading.Event()
        self.started = time.monotonic()
        self._hb_t = self.started
        self.events_published = 0

    def stop(self) -> None:
        self._stop.set()

    def run(self) -> None:
        self.detector.warmup()
        self.publisher.start()
        for cam in self.cameras:
            cam.stream.start()
        log.info(
            "edge node %s/%s running: %d camera(s), model %s",
            self.cfg.site,
            self.cfg.node,
            len(self.cameras),
            self.detector.model.entry.name,
        )
        next_hb = time.monotonic() + min(2.0, self.cfg.heartbeat_s)
        try:
            while not self._stop.is_set():
                worked = self._analyse_due()
                now = time.monotonic()
                if now >= next_hb:
                    self._heartbeat()
                    next_hb = now + self.cfg.heartbeat_s
                if not worked:
                    due = min((c.next_due for c in self.cameras), default=now + 0.05)
                    self._stop.wait(min(max(due - now, 0.005), 0.05))
        finally:
            for cam in self.cameras:
                cam.stream.stop(timeout=2)
            # a clean stop ends what is open, so no event stays "in progress" for ever
            for cam in self.cameras:
                self._emit(cam.pipeline.finish(now_ms()))
            self.publisher.stop()
            log.info("edge node stopped; %d event message(s) published", self.events_published)

    def _analyse_due(self) -> bool:
        worked = False
        now = time.monotonic()
        for cam in sorted(self.cameras, key=lambda c: c.next_due):
            if now < cam.next_due:
                continue
            pkt = cam.stream.take()
            if pkt is None:
                continue
            frame = pkt.to_bgr()
            dets = self.detector.detect(frame)
            cam.infer_ms_total += self.detector.last_infer_ms
            cam.hb_infer_ms += self.detector.last_infer_ms
            self._emit(cam.pipeline.process(frame, pkt.ts_ms, dets))
            cam.analysed += 1
            cam.hb_analysed += 1
            cam.ages_ms.append(now_ms() - pkt.ts_ms)
            if len(cam.ages_ms) > 1000:
                del cam.ages_ms[:500]
            cam.next_due = max(cam.next_due + cam.period_s, now)
            worked = True
            now = time.monotonic()
        return worked

    def _emit(self, events: list[AlertEvent]) -> None:
        for event in events:
            self.publisher.send(TopicKind.EVENT, event, rank=SEVERITY_RANK[event.severity])
            self.events_published += 1
            log.info(
                "event %s %s seq=%d camera=%s rule=%s count=%d",
                event.phase.value,
                event.event_id,
                event.seq,
                event.camera,
                event.rule_id,
                event.count,
            )

    def health(self) -> list[CameraHealth]:
        out = []
        mono = time.monotonic()
        elapsed = max(1e-3, mono - self._hb_t)
        self._hb_t = mono
        now = now_ms()
        for cam in self.cameras:
            cam.stream.check_stall(now)
            frames_in = cam.stream.frames_in
            out.append(
                CameraHealth(
                    camera=cam.cfg.id,
                    state=cam.stream.state,
                    fps_in=round((frames_in - cam.hb_frames_in) / elapsed, 2),
                    fps_out=round(cam.hb_analysed / elapsed, 2),
                    infer_ms=round(cam.hb_infer_ms / cam.hb_analysed, 2) if cam.hb_analysed else 0.0,
                    dropped_frames=cam.stream.skipped + cam.stream.decode_errors,
                    reconnects=cam.stream.reconnects,
                    last_frame_ms=cam.stream.last_frame_ms,
                    error=cam.stream.error,
                )
            )
            cam.hb_frames_in, cam.hb_analysed, cam.hb_infer_ms = frames_in, 0, 0.0
        return out

    def _heartbeat(self) -> None:
        hb = Heartbeat(
            site=self.cfg.site,
            node=self.cfg.node,
            ts_ms=now_ms(),
            uptime_s=round(time.monotonic() - self.started, 1),
            cameras=self.health(),
            outbox_depth=self.outbox.depth,
            outbox_dropped=self.outbox.dropped,
        )
        self.publisher.send_now(TopicKind.HEARTBEAT, hb)
