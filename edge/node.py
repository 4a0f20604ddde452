"""The long-running edge node: every camera's reader, one inference loop, MQTT out.

Per camera (edge/camera.py): readers, a ring buffer, and the analyzer (motion gating, tracker,
rules: edge/pipeline.py). One loop analyzes whatever is due across cameras (batched into one
inference call where the model allows). A camera state change sends a heartbeat at once.
``/metrics`` serves Prometheus figures (edge/node_metrics.py). :meth:`EdgeNode.apply_config`
applies a new config without a restart, following the plan of edge/reconfig.py.
"""

from __future__ import annotations

import logging
import threading
import time

from common.configfile import ConfigError
from edge import __version__
from edge.camera import CameraRuntime, analyze_due
from edge.comms.metrics import MetricsServer
from edge.comms.outbox import Outbox
from edge.comms.publisher import Publisher
from edge.comms.sdnotify import SystemdNotifier
from edge.config.camera import CameraConfig
from edge.config.node import EdgeConfig
from edge.detect.detector import ObjectDetector, load_detector
from edge.evidence.store import make_evidence
from edge.live.service import LiveService
from edge.node_metrics import node_families
from edge.pipeline import CameraPipeline, tracked_labels
from edge.reconfig import ReconfigPlan, plan_reconfiguration
from edge.video.ringbuffer import RingBuffer
from edge.video.stream import CameraStream
from edge.warning.service import WarningService, make_warnings
from protocol import AlertEvent, CameraHealth, CameraState, Heartbeat, TopicKind, now_ms

log = logging.getLogger("parkguard.edge.node")

STATE_WATCH_S = 0.25  # how often camera states are checked for a change to report at once
LOOP_STALL_S = 15.0  # the main loop not turning for this long: unhealthy (/healthz 503, no WATCHDOG=1)


class EdgeNode:
    def __init__(self, cfg: EdgeConfig, detector: ObjectDetector | None = None) -> None:
        self.cfg = cfg
        self.detector = detector or load_detector(cfg.models)
        self.evidence = make_evidence(cfg, self.ring)  # faces blurred, clips, uploads
        self.track_labels = tracked_labels(self.detector)
        # on-site warnings: the voices made now (not at the post); None without warning outputs
        self.warner: WarningService | None = make_warnings(cfg)
        self.cameras: list[CameraRuntime] = [
            self._open_camera(cfg, cam) for cam in cfg.cameras if cam.enabled
        ]
        self.outbox = Outbox(cfg.state_dir / "outbox.sqlite", cfg.outbox_max_rows)
        software = f"parkguard-edge/{__version__}"
        cam_ids = [c.cfg.id for c in self.cameras]
        self.publisher = Publisher(cfg.mqtt, cfg.site, cfg.node, software, cam_ids, self.outbox)
        # live video (WebRTC): offers relayed by the center on …/live-request
        self.live: LiveService | None = None
        if cfg.live.enabled and cfg.live.max_viewers > 0:
            self.live = LiveService(cfg.live, cfg.site, cfg.node, self.camera, self.publisher.send_live)
            self.publisher.on_live = self.live.receive
        self._stop = threading.Event()
        self._lock = threading.RLock()  # held by the loop during an iteration, and by apply_config
        self._running = False
        self.started = time.monotonic()
        self._hb_t = self.started
        self.events_published = 0
        self.metrics: MetricsServer | None = None
        self.notifier = SystemdNotifier()  # READY / WATCHDOG / STOPPING when systemd runs the node
        self.loop_stall_s = LOOP_STALL_S
        self.loop_tick = self.started  # the main loop's last turn (monotonic)

    # -- cameras -------------------------------------------------------------------------
    def _pipeline(self, cfg: EdgeConfig, cam: CameraConfig) -> CameraPipeline:
        if self.warner is not None:
            self.warner.prepare([cam])  # a rule added live gets its voice before it can alert
        return CameraPipeline(cfg, cam, self.detector.labels, self.evidence, self.warner)

    def _open_camera(
        self, cfg: EdgeConfig, cam: CameraConfig, pipeline: CameraPipeline | None = None
    ) -> CameraRuntime:
        return CameraRuntime.open(cfg, cam, pipeline or self._pipeline(cfg, cam), self.track_labels)

    def camera(self, camera_id: str) -> CameraRuntime | None:
        with self._lock:
            return next((c for c in self.cameras if c.cfg.id == camera_id), None)

    def camera_list(self) -> list[CameraRuntime]:
        with self._lock:
            return list(self.cameras)

    def ring(self, camera_id: str) -> RingBuffer | None:
        """The camera's ring buffer (its main stream's last seconds), for evidence clips."""
        cam = self.camera(camera_id)
        return cam.ring if cam is not None else None

    def stop(self) -> None:
        self._stop.set()

    # -- main loop -----------------------------------------------------------------------
    def run(self) -> None:
        self.detector.warmup()
        if self.live is not None:
            self.live.start()
        self.publisher.start()
        self.evidence.start()
        if self.warner is not None:
            self.warner.start()
        self._start_metrics()
        with self._lock:
            start = time.monotonic()
            for i, cam in enumerate(self.cameras):
                for reader in cam.readers():
                    reader.start()
                # spread the cameras' analysis times over one period, so they do not all fall due at once
                cam.next_due = start + i * cam.period_s / max(1, len(self.cameras))
            self._running = True
            self.loop_tick = time.monotonic()
        self.notifier.ready(f"{len(self.cameras)} camera(s) started")
        log.info(
            "edge node %s/%s running: %d camera(s), model %s on %s, %s intra-op thread(s)",
            self.cfg.site,
            self.cfg.node,
            len(self.cameras),
            self.detector.model.entry.name,
            ", ".join(self.detector.providers),
            self.detector.threads or "default",
        )
        try:
            self._loop()
        finally:
            self._shut_down()

    def _start_metrics(self) -> None:
        if not self.cfg.metrics_port:
            return
        bind, port = self.cfg.metrics_bind, self.cfg.metrics_port
        try:
            self.metrics = MetricsServer(bind, port, lambda: node_families(self), self.health_report).start()
            log.info("metrics on http://%s:%d/metrics (health: /healthz)", bind, self.metrics.port)
        except OSError as exc:  # a busy port must not stop the node watching its cameras
            log.error("metrics_port: cannot listen on %s:%d: %s", bind, port, exc)

    def _loop(self) -> None:
        next_hb = time.monotonic() + min(2.0, self.cfg.heartbeat_s)
        next_watch = 0.0
        while not self._stop.is_set():
            with self._lock:
                worked = analyze_due(self.cameras, self.detector, self._emit)
                now = time.monotonic()
                if now >= next_watch:
                    next_watch = now + STATE_WATCH_S
                    if self._states_changed():
                        next_hb = now  # a camera went up or down: tell it at once
                if now >= next_hb:
                    self._heartbeat()
                    next_hb = now + self.cfg.heartbeat_s
                due = min((c.next_due for c in self.cameras), default=now + 0.05)
            self.loop_tick = now
            self.notifier.watchdog(now)  # from this loop only: a stuck loop stops feeding systemd's watchdog
            if not worked:
                self._stop.wait(min(max(due - now, 0.005), 0.05))

    def _shut_down(self) -> None:
        self.notifier.stopping()
        with self._lock:
            self._running = False
            cameras = list(self.cameras)
        if self.live is not None:
            self.live.stop()
        for cam in cameras:
            for reader in cam.readers():
                reader.stop(timeout=2)
        # a clean stop ends what is open, so no event stays "in progress" for ever
        for cam in cameras:
            self._emit(cam.pipeline.finish(now_ms()))
        self.evidence.stop()  # clips still due are built from what the rings hold
        if self.warner is not None:
            self.warner.wait_idle(3.0)  # warnings playing now get their result on their events
        for cam in cameras:
            self._emit(cam.pipeline.collect_clips())
        if self.warner is not None:
            self.warner.stop()
        if self.metrics is not None:
            self.metrics.stop()
        self.publisher.stop()
        ev = self.evidence.health()
        log.info(
            "edge node stopped; %d event message(s) published; left queued: %d message(s), %d upload(s)",
            self.events_published,
            self.outbox.depth,
            ev.uploads_pending,
        )

    def _states_changed(self) -> bool:
        now = now_ms()
        return any([cam.state_changed(now) for cam in self.cameras])  # every camera checked

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
    def health_report(self) -> tuple[bool, dict[str, object]]:
        """``/healthz``: healthy while the main loop turns (a container's HEALTHCHECK asks it)."""
        age = time.monotonic() - self.loop_tick
        ok = self._running and age < self.loop_stall_s
        cams = list(self.cameras)  # no lock: a stuck loop may hold it
        online = sum(1 for c in cams if c.stream.state is CameraState.ONLINE)
        return ok, {
            "status": "ok" if ok else ("stalled" if self._running else "not running"),
            "node": self.cfg.node,
            "loop_age_s": round(age, 3),
            "cameras": len(cams),
            "cameras_online": online,
            "outbox_depth": self.outbox.depth,
        }

    def health(self) -> list[CameraHealth]:
        """Every camera's heartbeat figures since the last call."""
        mono = time.monotonic()
        elapsed = max(1e-3, mono - self._hb_t)
        self._hb_t = mono
        now = now_ms()
        return [cam.health(elapsed, now) for cam in self.cameras]

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
            evidence=self.evidence.health(),
            warning=self.warner.health() if self.warner and self.cfg.warning.report_to_center else None,
            live=self.live.health() if self.live is not None else None,
        )
        self.publisher.send_now(TopicKind.HEARTBEAT, hb)

    # -- live configuration --------------------------------------------------------------
    def apply_config(self, new: EdgeConfig) -> None:
        """Apply a validated config without a restart; a setting that cannot change live raises
        :class:`ConfigError` and nothing changes.

        Cameras added get their readers started; cameras removed (or disabled) are stopped and
        their open events ended; a changed URL restarts the camera's readers; changed zones or
        rules rebuild its pipeline (open events of removed or changed rules end, the others go on).
        """
        plan = plan_reconfiguration(self.cfg, new)
        if plan.refusal is not None:
            raise ConfigError(plan.refusal)
        cams = {c.id: c for c in new.cameras}
        # build every new pipeline first: a bad rule refuses the whole config before anything changes
        built = {cid: self._pipeline(new, cams[cid]) for cid in (*plan.start, *plan.rebuild)}
        with self._lock:
            to_stop = self._apply(plan, new, built)
        for reader in to_stop:  # outside the lock: a reader blocked in a read takes a moment
            reader.stop(timeout=2)

    def _apply(
        self, plan: ReconfigPlan, new: EdgeConfig, built: dict[str, CameraPipeline]
    ) -> list[CameraStream]:
        """Carry out ``plan`` (the lock held); returns the readers to stop."""
        ts = now_ms()
        self.evidence.root = new.evidence_dir
        current = {c.cfg.id: c for c in self.cameras}
        to_start: list[CameraStream] = []
        to_stop: list[CameraStream] = []
        ended: list[AlertEvent] = []
        runtimes: list[CameraRuntime] = []
        for cam in (c for c in new.cameras if c.enabled):
            if cam.id in plan.start:
                rt = self._open_camera(new, cam, built[cam.id])
                to_start += rt.readers()
                log.info("config: camera %s added", cam.id)
            else:
                rt = current[cam.id]
                ended_here, stopped = rt.reconfigure(plan, new, cam, built.get(cam.id), self.track_labels)
                ended += ended_here
                if stopped:  # its readers restarted
                    to_stop += stopped
                    to_start += rt.readers()
            runtimes.append(rt)
        for cid in plan.stop:
            to_stop += current[cid].readers()
            ended += current[cid].pipeline.finish(ts)
            log.info("config: camera %s removed", cid)
        self.cameras, self.cfg = runtimes, new
        self.publisher.cameras = [c.cfg.id for c in runtimes]
        if self._running:
            for reader in to_start:
                reader.start()
        self._emit(ended)
        return to_stop
