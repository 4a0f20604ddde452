"""The long-running edge node: every camera's reader, one inference loop, MQTT out.

Per camera: a detection reader (the sub-stream when ``detect_url`` is set, else the main
stream), a ring buffer of the main stream's packets (kept by the main-stream reader: the same
reader when there is no sub-stream), motion gating, a tracker and the rule pipeline. One loop
analyses whatever is due across cameras (batched into one inference call where the model allows).
A camera state change sends a heartbeat at once. ``/metrics`` serves Prometheus figures.
:meth:`EdgeNode.apply_config` applies a new config without a restart.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field

import av
import numpy as np

from common.configfile import ConfigError
from edge import __version__
from edge.comms.metrics import AGE_MS_BUCKETS, INFER_MS_BUCKETS, Family, Histogram, MetricsServer
from edge.comms.outbox import Outbox
from edge.comms.publisher import Publisher
from edge.config.camera import CameraConfig
from edge.config.node import EdgeConfig
from edge.detect.detections import Detections
from edge.detect.detector import Detector, DetectorSet
from edge.detect.manifest import load_manifest
from edge.evidence.store import EvidenceStore, make_evidence
from edge.pipeline import CameraPipeline
from edge.track.tracker import Tracker
from edge.video.motion import MotionGate
from edge.video.ringbuffer import RingBuffer
from edge.video.stream import CameraStream
from protocol import AlertEvent, CameraHealth, CameraState, Heartbeat, TopicKind, now_ms

log = logging.getLogger("parkguard.edge.node")

# settings a running node cannot take without a restart
FIXED_SETTINGS = (
    "site",
    "node",
    "mqtt",
    "models",
    "state_dir",
    "outbox_max_rows",
    "metrics_port",
    "metrics_bind",
    "evidence",
    "center",
)


def load_detector(cfg: EdgeConfig) -> Detector | DetectorSet:
    """The node's object model (``models.detector``), with the extra ones run on the same frames
    (``models.extra_detectors``, e.g. a trained PPE model) when configured."""
    models = load_manifest(cfg.models.manifest)
    m = cfg.models
    names = [("models.detector", m.detector)] + [
        (f"models.extra_detectors[{i}]", name) for i, name in enumerate(m.extra_detectors)
    ]
    for where, name in names:
        if name not in models:
            raise ConfigError(f"{where}: {name!r} is not in {m.manifest} (have: {', '.join(models)})")
    if len({name for _, name in names}) != len(names):
        raise ConfigError("models.extra_detectors: a model is listed twice (or is the main detector)")
    members = [
        Detector(models[name], m.threads, m.providers, m.score_threshold, m.nms_iou) for _, name in names
    ]
    return members[0] if len(members) == 1 else DetectorSet(members)


def tracked_labels(detector: Detector | DetectorSet) -> set[str] | None:
    """What is tracked by default: the semantic labels the manifest maps classes to (person,
    vehicle, phone …), not every raw class name of the model; None (all) without a label map."""
    return detector.mapped_labels or None


def make_pipeline(
    cfg: EdgeConfig, cam: CameraConfig, labels: set[str], evidence: EvidenceStore | None
) -> CameraPipeline:
    """The one place a camera's rule pipeline is built (the node, live apply and ``analyze``)."""
    return CameraPipeline(cfg, cam, labels, evidence)


class CameraAnalyser:
    """One camera's per-frame work after the reader: motion gate → (detector) → tracker → rules.

    Split in two so the node can batch inference across cameras: :meth:`wants_inference` asks the
    motion gate, :meth:`process` takes the detections (or None for a skipped frame: the last
    detections are carried forward with the new timestamp, so rules still see what is there).
    """

    def __init__(
        self,
        cfg: EdgeConfig,
        cam: CameraConfig,
        pipeline: CameraPipeline,
        track_labels: set[str] | None = None,
    ) -> None:
        self.cam = cam
        self.pipeline = pipeline
        self.fps = cam.analysis_fps or cfg.analysis_fps
        motion = cam.motion or cfg.motion
        self.motion = MotionGate(motion) if motion.enabled else None
        self.tracker = Tracker(cfg.tracker, self.fps, track_labels) if cfg.tracker.enabled else None
        self.last_dets: Detections | None = None
        self.last_bgr: np.ndarray | None = None
        self.skipped_motion = 0

    def wants_inference(self, frame: av.VideoFrame, ts_ms: int) -> bool:
        if self.motion is None:
            return True
        if self.motion.check(frame, ts_ms) or self.last_dets is None:
            return True
        self.skipped_motion += 1
        return False

    def process(self, ts_ms: int, bgr: np.ndarray | None, dets: Detections | None) -> list[AlertEvent]:
        if dets is None:  # skipped by the motion gate: the scene is as it was
            dets = self.last_dets if self.last_dets is not None else Detections.empty()
            bgr = self.last_bgr  # the still scene's last analysed frame, for a snapshot
        else:
            if self.tracker is not None:
                dets = self.tracker.update(dets, ts_ms)
            self.last_dets, self.last_bgr = dets, bgr
        return self.pipeline.process(bgr, ts_ms, dets)


@dataclass
class CameraRuntime:
    cfg: CameraConfig
    stream: CameraStream  # detection stream: the camera's state is its state
    main: CameraStream | None  # main-stream reader when detection reads a sub-stream
    ring: RingBuffer | None
    analyser: CameraAnalyser
    period_s: float
    next_due: float = 0.0
    analysed: int = 0
    infer_ms_total: float = 0.0
    ages_ms: list[int] = field(default_factory=list)
    infer_hist: Histogram = field(default_factory=lambda: Histogram(INFER_MS_BUCKETS))
    age_hist: Histogram = field(default_factory=lambda: Histogram(AGE_MS_BUCKETS))
    reported_state: CameraState = CameraState.STARTING
    # figures since the last heartbeat
    hb_analysed: int = 0
    hb_frames_in: int = 0
    hb_infer_ms: float = 0.0
    analysis_errors: int = 0  # frames whose analysis raised: dropped
    analysis_error_logged: float = -1e9

    @property
    def pipeline(self) -> CameraPipeline:
        return self.analyser.pipeline

    def readers(self) -> list[CameraStream]:
        return [self.stream] + ([self.main] if self.main is not None else [])


class EdgeNode:
    def __init__(self, cfg: EdgeConfig, detector: Detector | DetectorSet | None = None) -> None:
        self.cfg = cfg
        self.detector = detector or load_detector(cfg)
        self.evidence = make_evidence(cfg, self.ring)  # faces blurred, clips, uploads
        self.track_labels = tracked_labels(self.detector)
        self.cameras: list[CameraRuntime] = [
            self._make_camera(cfg, cam) for cam in cfg.cameras if cam.enabled
        ]
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
        self._lock = threading.RLock()  # held by the loop during an iteration, and by apply_config
        self._running = False
        self.started = time.monotonic()
        self._hb_t = self.started
        self.events_published = 0
        self.metrics: MetricsServer | None = None

    # -- cameras -------------------------------------------------------------------------
    def _make_camera(self, cfg: EdgeConfig, cam: CameraConfig) -> CameraRuntime:
        pipeline = make_pipeline(cfg, cam, self.detector.labels, self.evidence)
        analyser = CameraAnalyser(cfg, cam, pipeline, self.track_labels)
        ring = RingBuffer(cfg.ring.seconds, int(cfg.ring.max_mb * 1024 * 1024)) if cfg.ring.enabled else None
        if cam.detect_url:
            stream = CameraStream(cam.id, cam.detect_url, cfg.stream)
            main = CameraStream(cam.id, cam.url, cfg.stream, ring=ring, decode=False) if ring else None
        else:
            stream, main = CameraStream(cam.id, cam.url, cfg.stream, ring=ring), None
        return CameraRuntime(cam, stream, main, ring, analyser, 1.0 / analyser.fps)

    def camera(self, camera_id: str) -> CameraRuntime | None:
        with self._lock:
            return next((c for c in self.cameras if c.cfg.id == camera_id), None)

    def ring(self, camera_id: str) -> RingBuffer | None:
        """The camera's ring buffer (its main stream's last seconds), for evidence clips."""
        cam = self.camera(camera_id)
        return cam.ring if cam is not None else None

    def stop(self) -> None:
        self._stop.set()

    # -- main loop -----------------------------------------------------------------------
    def run(self) -> None:
        self.detector.warmup()
        self.publisher.start()
        self.evidence.start()
        if self.cfg.metrics_port:
            try:
                self.metrics = MetricsServer(
                    self.cfg.metrics_bind, self.cfg.metrics_port, self.metrics_families
                )
                self.metrics.start()
                log.info("metrics on http://%s:%d/metrics", self.cfg.metrics_bind, self.metrics.port)
            except OSError as exc:  # a busy port must not stop the node watching its cameras
                log.error(
                    "metrics_port: cannot listen on %s:%d: %s",
                    self.cfg.metrics_bind,
                    self.cfg.metrics_port,
                    exc,
                )
        with self._lock:
            start = time.monotonic()
            for i, cam in enumerate(self.cameras):
                for reader in cam.readers():
                    reader.start()
                # spread the cameras' analysis times over one period, so they do not all fall due at once
                cam.next_due = start + i * cam.period_s / max(1, len(self.cameras))
            self._running = True
        log.info(
            "edge node %s/%s running: %d camera(s), model %s on %s, %s intra-op thread(s)",
            self.cfg.site,
            self.cfg.node,
            len(self.cameras),
            self.detector.model.entry.name,
            ", ".join(self.detector.providers),
            self.detector.threads or "default",
        )
        next_hb = time.monotonic() + min(2.0, self.cfg.heartbeat_s)
        next_watch = 0.0
        try:
            while not self._stop.is_set():
                with self._lock:
                    worked = self._analyse_due()
                    now = time.monotonic()
                    if now >= next_watch:
                        next_watch = now + 0.25
                        if self._states_changed():
                            self._heartbeat()
                            next_hb = now + self.cfg.heartbeat_s
                    if now >= next_hb:
                        self._heartbeat()
                        next_hb = now + self.cfg.heartbeat_s
                    due = min((c.next_due for c in self.cameras), default=now + 0.05)
                if not worked:
                    self._stop.wait(min(max(due - now, 0.005), 0.05))
        finally:
            with self._lock:
                self._running = False
                cameras = list(self.cameras)
            for cam in cameras:
                for reader in cam.readers():
                    reader.stop(timeout=2)
            # a clean stop ends what is open, so no event stays "in progress" for ever
            for cam in cameras:
                self._emit(cam.pipeline.finish(now_ms()))
            self.evidence.stop()  # clips still due are built from what the rings hold
            for cam in cameras:
                self._emit(cam.pipeline.collect_clips())
            if self.metrics is not None:
                self.metrics.stop()
            self.publisher.stop()
            log.info("edge node stopped; %d event message(s) published", self.events_published)

    def _states_changed(self) -> bool:
        now = now_ms()
        changed = False
        for cam in self.cameras:
            cam.stream.check_stall(now)
            if cam.stream.state is not cam.reported_state:
                changed = True
        return changed

    def _analyse_due(self) -> bool:
        """Analyse the newest frame of every camera that is due.

        A model with a batch axis gets one call for all of them; a fixed batch-1 model (NanoDet
        as bundled) runs camera by camera, each finished before the next starts, so no camera's
        result waits for the others' inference.
        """
        now = time.monotonic()
        worked = False
        todo: list[tuple[CameraRuntime, int, np.ndarray | None]] = []
        for cam in sorted(self.cameras, key=lambda c: c.next_due):
            if now < cam.next_due:
                continue
            pkt = cam.stream.take()
            if pkt is None:
                continue
            worked = True
            cam.next_due = max(cam.next_due + cam.period_s, now)
            try:
                bgr = pkt.to_bgr() if cam.analyser.wants_inference(pkt.frame, pkt.ts_ms) else None
                if not self.detector.dynamic_batch:
                    self._finish_frame(
                        cam, pkt.ts_ms, bgr, self.detector.detect(bgr) if bgr is not None else None
                    )
                    now = time.monotonic()
                else:
                    todo.append((cam, pkt.ts_ms, bgr))
            except Exception:
                self._analysis_failed(cam)
        if todo:  # a model with a batch axis: one call for every camera that was due
            frames = [bgr for _, _, bgr in todo if bgr is not None]
            try:
                results = iter(self.detector.detect_batch(frames) if frames else [])
            except Exception:
                for cam, _, _ in todo:
                    self._analysis_failed(cam)
                return worked
            for cam, ts_ms, bgr in todo:
                try:
                    self._finish_frame(cam, ts_ms, bgr, next(results) if bgr is not None else None)
                except Exception:
                    self._analysis_failed(cam)
        return worked

    def _analysis_failed(self, cam: CameraRuntime) -> None:
        """A frame whose analysis raised (a bug, or input nobody foresaw): dropped and counted
        (``analysis_errors``, in the heartbeat's dropped_frames and /metrics); the loop and the
        other cameras go on. The traceback is logged once a minute per camera."""
        cam.analysis_errors += 1
        mono = time.monotonic()
        if mono - cam.analysis_error_logged >= 60:
            cam.analysis_error_logged = mono
            log.exception(
                "camera %s: frame dropped, analysis failed (%d so far)", cam.cfg.id, cam.analysis_errors
            )

    def _finish_frame(
        self, cam: CameraRuntime, ts_ms: int, bgr: np.ndarray | None, dets: Detections | None
    ) -> None:
        if dets is not None:
            per_frame_ms = self.detector.last_infer_ms
            cam.infer_ms_total += per_frame_ms
            cam.hb_infer_ms += per_frame_ms
            cam.infer_hist.observe(per_frame_ms)
            cam.analysed += 1
            cam.hb_analysed += 1
        self._emit(cam.analyser.process(ts_ms, bgr, dets))
        age = now_ms() - ts_ms
        cam.age_hist.observe(age)
        cam.ages_ms.append(age)
        if len(cam.ages_ms) > 1000:
            del cam.ages_ms[:500]

    def _emit(self, events: list[AlertEvent]) -> None:
        for event in events:
            self.publisher.send(TopicKind.EVENT, event, rank=event.severity.rank)
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

    # -- health ----------------------------------------------------------------------------
    def health(self) -> list[CameraHealth]:
        out = []
        mono = time.monotonic()
        elapsed = max(1e-3, mono - self._hb_t)
        self._hb_t = mono
        now = now_ms()
        for cam in self.cameras:
            cam.stream.check_stall(now)
            frames_in = cam.stream.frames_in
            cam.reported_state = cam.stream.state
            out.append(
                CameraHealth(
                    camera=cam.cfg.id,
                    state=cam.stream.state,
                    fps_in=round(max(0, frames_in - cam.hb_frames_in) / elapsed, 2),
                    fps_out=round(cam.hb_analysed / elapsed, 2),
                    infer_ms=round(cam.hb_infer_ms / cam.hb_analysed, 2) if cam.hb_analysed else 0.0,
                    dropped_frames=cam.stream.skipped + cam.stream.decode_errors + cam.analysis_errors,
                    decode_errors=cam.stream.decode_errors,
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
            interval_s=self.cfg.heartbeat_s,
        )
        self.publisher.send_now(TopicKind.HEARTBEAT, hb)

    def metrics_families(self) -> list[Family]:
        with self._lock:
            cameras = list(self.cameras)
        p = "parkguard_edge_"
        fams = {
            "in": Family(p + "camera_frames_in_total", "counter", "frames decoded from the detection stream"),
            "an": Family(p + "camera_frames_analysed_total", "counter", "frames run through the detector"),
            "mo": Family(p + "camera_frames_skipped_motion_total", "counter", "frames skipped: still scene"),
            "dr": Family(
                p + "camera_frames_dropped_total",
                "counter",
                "frames not analysed: stale (a newer one came), decode_error, analysis_error",
            ),
            "lf": Family(
                p + "camera_last_frame_timestamp_seconds", "gauge", "when the last frame came, epoch s"
            ),
            "inf": Family(p + "camera_inference_ms", "histogram", "detector time per analysed frame, ms"),
            "age": Family(p + "camera_frame_age_ms", "histogram", "capture to rule result, ms"),
            "st": Family(p + "camera_state", "gauge", "1 for the camera's current state"),
            "rc": Family(p + "camera_reconnects_total", "counter", "stream reopen attempts"),
            "rb": Family(p + "camera_ring_bytes", "gauge", "compressed bytes held in the ring buffer"),
        }
        for cam in cameras:
            lb = {"camera": cam.cfg.id}
            s = cam.stream
            fams["in"].add(lb, s.frames_in)
            fams["an"].add(lb, cam.analysed)
            fams["mo"].add(lb, cam.analyser.skipped_motion)
            fams["dr"].add({**lb, "reason": "stale"}, s.skipped)
            fams["dr"].add({**lb, "reason": "decode_error"}, s.decode_errors)
            fams["dr"].add({**lb, "reason": "analysis_error"}, cam.analysis_errors)
            fams["inf"].add(lb, cam.infer_hist)
            fams["age"].add(lb, cam.age_hist)
            for state in CameraState:
                fams["st"].add({**lb, "state": state.value}, 1 if s.state is state else 0)
            fams["rc"].add(lb, s.reconnects)
            if s.last_frame_ms is not None:
                fams["lf"].add(lb, s.last_frame_ms / 1000)
            fams["rb"].add(lb, cam.ring.nbytes if cam.ring else 0)
        node = [
            Family(p + "outbox_depth", "gauge", "messages waiting on disk for the broker").add(
                {}, self.outbox.depth
            ),
            Family(p + "outbox_dropped_total", "counter", "messages evicted from a full outbox").add(
                {}, self.outbox.dropped
            ),
            Family(p + "events_published_total", "counter", "alert event messages sent").add(
                {}, self.events_published
            ),
            Family(p + "uptime_seconds", "gauge", "seconds since the node started").add(
                {}, round(time.monotonic() - self.started, 1)
            ),
            Family(p + "info", "gauge", "node identity").add(
                {"site": self.cfg.site, "node": self.cfg.node, "version": __version__}, 1
            ),
            Family(p + "model_info", "gauge", "the detector: model, execution providers, threads").add(
                {
                    "model": self.detector.model.entry.name,
                    "family": self.detector.model.entry.family,
                    "providers": ",".join(self.detector.providers),
                    "threads": str(self.detector.threads),
                },
                1,
            ),
        ]
        return list(fams.values()) + node

    # -- live configuration --------------------------------------------------------------
    def apply_config(self, new: EdgeConfig) -> None:
        """Apply a validated config without a restart; a setting that cannot change live raises
        :class:`ConfigError` and nothing changes.

        Cameras added get their readers started; cameras removed (or disabled) are stopped and
        their open events ended; a changed URL restarts the camera's readers; changed zones or
        rules rebuild its pipeline (open events of removed or changed rules end, the others go on).
        """
        fixed = [name for name in FIXED_SETTINGS if getattr(new, name) != getattr(self.cfg, name)]
        if fixed:
            raise ConfigError(
                f"{', '.join(fixed)}: cannot be changed on a running node "
                "(restart it to apply); nothing changed"
            )
        old_cfg = self.cfg
        everything = new.timezone != old_cfg.timezone or new.evidence_dir != old_cfg.evidence_dir
        readers_all = new.stream != old_cfg.stream or new.ring != old_cfg.ring
        wanted = {c.id: c for c in new.cameras if c.enabled}
        with self._lock:
            current = {c.cfg.id: c for c in self.cameras}
        # build every new pipeline first: a bad rule refuses the whole config before anything changes
        evidence = self.evidence  # its folder moves below, once the config is accepted
        built: dict[str, CameraPipeline] = {}
        for cid, cam in wanted.items():
            old = current.get(cid)
            if old is None or everything or _rules_part(old.cfg) != _rules_part(cam):
                built[cid] = make_pipeline(new, cam, self.detector.labels, evidence)

        to_stop: list[CameraStream] = []
        to_start: list[CameraStream] = []
        ended: list[AlertEvent] = []
        ts = now_ms()
        with self._lock:
            self.evidence.root = new.evidence_dir
            runtimes: list[CameraRuntime] = []
            for cid, cam in wanted.items():
                old = current.get(cid)
                if old is None:
                    rt = self._make_camera(new, cam)
                    rt.analyser.pipeline = built[cid]
                    to_start += rt.readers()
                    runtimes.append(rt)
                    log.info("config: camera %s added", cid)
                    continue
                rt = old
                if cid in built:
                    ended += _swap_pipeline(old.pipeline, built[cid], ts, keep=not everything)
                    rt.analyser.pipeline = built[cid]
                    log.info("config: camera %s zones/rules rebuilt", cid)
                if readers_all or (cam.url, cam.detect_url) != (old.cfg.url, old.cfg.detect_url):
                    fresh = self._make_camera(new, cam)
                    to_stop += old.readers()
                    rt.stream, rt.main, rt.ring = fresh.stream, fresh.main, fresh.ring
                    rt.reported_state = CameraState.STARTING
                    to_start += rt.readers()
                    log.info("config: camera %s stream restarted", cid)
                fps = cam.analysis_fps or new.analysis_fps
                motion_changed = (cam.motion or new.motion) != (old.cfg.motion or old_cfg.motion)
                if fps != rt.analyser.fps or new.tracker != old_cfg.tracker or motion_changed:
                    pipeline = rt.analyser.pipeline
                    rt.analyser = CameraAnalyser(new, cam, pipeline, self.track_labels)
                    rt.period_s = 1.0 / fps
                rt.analyser.cam = cam
                rt.cfg = cam
                runtimes.append(rt)
            for cid, old in current.items():
                if cid not in wanted:
                    to_stop += old.readers()
                    ended += old.pipeline.finish(ts)
                    log.info("config: camera %s removed", cid)
            self.cameras = runtimes
            self.cfg = new
            self.publisher.cameras = [c.cfg.id for c in runtimes]
            if self._running:
                for reader in to_start:
                    reader.start()
            self._emit(ended)
        for reader in to_stop:  # outside the lock: a reader blocked in a read takes a moment
            reader.stop(timeout=2)


def _rules_part(cam: CameraConfig) -> dict:
    """What a camera's pipeline is built from (a change here rebuilds it)."""
    return cam.model_dump(exclude={"url", "detect_url", "analysis_fps", "motion", "enabled", "name"})


def _swap_pipeline(old: CameraPipeline, new: CameraPipeline, ts_ms: int, keep: bool) -> list[AlertEvent]:
    """Carry unchanged rules (and their open events) from ``old`` to ``new``; end the others."""
    by_id = {r.cfg.id: r for r in old.rules}
    ending = []
    for i, rule in enumerate(new.rules):
        prev = by_id.get(rule.cfg.id)
        if keep and prev is not None and prev.cfg == rule.cfg and prev.zone == rule.zone:
            new.rules[i] = prev
            del by_id[rule.cfg.id]
    ending = list(by_id.values())
    old.rules = ending
    ended = old.finish(ts_ms)
    new.adopt_clips(old)  # clips still being made reach the events they belong to
    return ended
