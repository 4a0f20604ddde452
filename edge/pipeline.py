"""Per-camera analysis: motion gate → (detector) → tracker → rules → alert events (with evidence
on ``new``). The node, ``parkguard-edge analyze`` and ``eval`` run a camera through these."""

from __future__ import annotations

import logging
import time
from typing import Any

import av
import numpy as np

from edge.config.camera import CameraConfig
from edge.config.node import EdgeConfig
from edge.detect.detections import Detections
from edge.detect.detector import ObjectDetector
from edge.detect.pose import CameraPose, pose_estimator
from edge.evidence.clips import ClipJob, PeopleHistory
from edge.evidence.store import EvidenceStore
from edge.rules.base import FrameContext, Rule
from edge.rules.lifecycle import Transition
from edge.rules.registry import build_rules
from edge.track.tracker import Tracker
from edge.video.motion import MotionGate
from edge.warning.service import WarningService
from protocol import AlertEvent, EventPhase, EvidenceItem, WarningOutcome, WarningRecord

log = logging.getLogger("parkguard.edge.pipeline")


def tracked_labels(detector: ObjectDetector) -> set[str] | None:
    """What is tracked by default: the semantic labels the manifest maps classes to (person,
    vehicle, phone …), not every raw class name of the model; None (all) without a label map."""
    return detector.mapped_labels or None


class CameraPipeline:
    """A camera's rules and the evidence of their events: detections in, alert events out."""

    def __init__(
        self,
        cfg: EdgeConfig,
        camera: CameraConfig,
        labels: set[str],
        evidence: EvidenceStore | None,
        warner: WarningService | None = None,
    ) -> None:
        self.cfg = cfg
        self.camera = camera
        self.rules: list[Rule[Any]] = build_rules(
            camera, cfg.timezone, labels, tracking=cfg.tracker.enabled, models=cfg.models
        )
        # pose (MoveNet, one session per node) only for a camera with a rule that needs it
        needs_pose = any(r.needs_pose for r in self.rules)
        self.pose: CameraPose | None = CameraPose(pose_estimator(cfg.models)) if needs_pose else None
        self._frame_size: tuple[int, int] | None = None
        # the PPE judgements of the last frame (helmet / no_helmet / vest / no_vest): analyze shows them
        self.judgements = Detections.empty()
        self.evidence = evidence
        # evidence clips: people of the last frames (to blur clip frames), events waiting for a clip
        ev = cfg.evidence
        self.history = PeopleHistory(int((ev.clip_max_s + 5) * 1000))  # a clip's whole window
        self._clip_wait: dict[str, AlertEvent | None] = {}  # event id → its last message
        self.evidence_ms = 0.0  # of the last process(): snapshots saved (the rest is the rules')
        self._clip_ready: dict[str, EvidenceItem] = {}
        # on-site warnings: each event's record (carried by its messages), the end message of an
        # event over before its warning's result came, the seq of messages sent again after an end
        self.warner = warner
        self._warnings: dict[str, WarningRecord] = {}
        self._warn_ended: dict[str, AlertEvent] = {}
        self._resent: dict[str, int] = {}

    def process(self, frame_bgr: np.ndarray | None, ts_ms: int, dets: Detections) -> list[AlertEvent]:
        self.evidence_ms = 0.0
        if self.evidence is not None and self.evidence.clips is not None:
            self.history.add(ts_ms, dets)  # where the people are, to blur the frames of clips
        events: list[AlertEvent] = []
        if frame_bgr is not None:
            self._frame_size = (int(frame_bgr.shape[1]), int(frame_bgr.shape[0]))
        ctx = FrameContext(ts_ms, dets, frame_bgr, self._frame_size, self.pose)  # pose: lazily, once
        self.judgements = Detections.empty()
        for rule in self.rules:
            t = rule.step(ts_ms, ctx)
            judged = getattr(rule, "judgements", None)
            if judged is not None and len(judged):
                self.judgements = Detections.concat([self.judgements, judged])
            if t is None:
                continue
            if t.phase is EventPhase.NEW and rule.cfg.warning is not None and self.warner is not None:
                # decided now, played by the outputs' threads: the frame loop never waits for a device
                self._warnings[t.event_id] = self.warner.request(
                    rule.cfg, self.camera.id, t.event_id, ts_ms, t.started_ms
                )
            evidence: list[EvidenceItem] = []
            if t.phase is EventPhase.NEW and self.evidence is not None:
                t0 = time.perf_counter()
                evidence += self._new_evidence(rule, t, frame_bgr, dets, ts_ms)
                self.evidence_ms += (time.perf_counter() - t0) * 1000
            events.append(self._with_clip(self._event(rule, t, evidence)))
        if self._clip_wait:
            self._extend_clips()
        return events + self._late_clips() + self._late_warnings()

    def _extend_clips(self) -> None:
        """A clip covers its whole event (plus ``post_s``, up to ``clip_max_s``): while the event
        runs and its clip is not built yet, the clip's window follows it."""
        clips = self.evidence.clips if self.evidence is not None else None
        if clips is None:
            return
        post_ms = int(self.cfg.evidence.post_s * 1000)
        for rule in self.rules:
            running = rule.lifecycle.running
            if running is not None and running[0] in self._clip_wait and running[0] not in self._clip_ready:
                clips.extend(running[0], running[1] + post_ms)

    # -- evidence --------------------------------------------------------------------------
    def _new_evidence(
        self, rule: Rule[Any], t: Transition, frame_bgr: np.ndarray | None, dets: Detections, ts_ms: int
    ) -> list[EvidenceItem]:
        """A new event: its snapshot (faces blurred) now, its clip scheduled."""
        assert self.evidence is not None
        out: list[EvidenceItem] = []
        if frame_bgr is not None and self.evidence.settings.snapshots:
            try:
                out.append(
                    self.evidence.snapshot(
                        self.camera.id,
                        frame_bgr,
                        dets,
                        t.objects,
                        rule.zone,
                        rule.cfg,
                        ts_ms,
                        self.cfg.timezone,
                    )
                )
            except (OSError, RuntimeError) as exc:  # evidence is best effort; the alert still goes out
                log.error("camera %s: snapshot not saved: %s", self.camera.id, exc)
        ev = self.cfg.evidence
        job = ClipJob(
            self.camera.id,
            t.event_id,
            t.started_ms - int(ev.pre_s * 1000),
            ts_ms + int(ev.post_s * 1000),
            self.history,
        )
        if self.evidence.schedule_clip(job):
            self._clip_wait[t.event_id] = None  # its message is filled in by _with_clip
        return out

    def _with_clip(self, event: AlertEvent) -> AlertEvent:
        """Put the event's clip in this message if it is ready; remember messages still waiting."""
        eid = event.event_id
        clip = self._clip_ready.pop(eid, None)
        if clip is not None:
            self._clip_wait.pop(eid, None)
            event.evidence = [*event.evidence, clip]
        elif eid in self._clip_wait:
            self._clip_wait[eid] = event
        return event

    def _late_clips(self) -> list[AlertEvent]:
        """Clips that came in: an open event takes its clip with its next message; an event already
        over gets its ``end`` again (seq + 1) carrying the clip (an ``update`` after the ``end``
        would make the center show it running again)."""
        if self.evidence is None:
            return []
        out = []
        for eid, item in self.evidence.take_clips(self.camera.id):
            last = self._clip_wait.get(eid)
            if item is None:  # not made (logged by the worker)
                self._clip_wait.pop(eid, None)
            elif last is not None and last.phase is EventPhase.END:
                del self._clip_wait[eid]
                update = {"seq": self._resend_seq(eid, last.seq), "evidence": [item]}
                if eid in self._warnings:
                    update["warning"] = self._warnings[eid]
                out.append(last.model_copy(update=update))
                self._settled(eid)
            elif eid in self._clip_wait:
                self._clip_ready[eid] = item
        return out

    # -- on-site warnings ---------------------------------------------------------------------
    def _resend_seq(self, eid: str, seq: int) -> int:
        """The seq of a message sent again after an event's end (a late clip, a late warning
        result): one above any sent before, so the center takes each."""
        n = max(seq, self._resent.get(eid, seq)) + 1
        self._resent[eid] = n
        return n

    def _settled(self, eid: str) -> None:
        """Forget an ended event once neither its clip nor its warning's result is awaited."""
        if eid in self._clip_wait or eid in self._warn_ended:
            return
        self._resent.pop(eid, None)
        self._warnings.pop(eid, None)

    def _track_warning(self, event: AlertEvent) -> AlertEvent:
        """An end message of an event whose warning is still playing is kept, to send again with
        the result; an event over and settled is forgotten."""
        if event.phase is EventPhase.END and event.event_id in self._warnings:
            rec = self._warnings[event.event_id]
            if rec.outcome is WarningOutcome.QUEUED:
                self._warn_ended[event.event_id] = event
            else:
                self._settled(event.event_id)
        return event

    def _late_warnings(self) -> list[AlertEvent]:
        """Warnings whose outputs have all answered: a running event tells it at once (an update),
        an event already over gets its end again (seq + 1) carrying it."""
        if self.warner is None:
            return []
        out: list[AlertEvent] = []
        for eid, rec in self.warner.take_results(self.camera.id):
            if eid not in self._warnings:
                continue  # its camera was rebuilt without this event (ended and settled)
            self._warnings[eid] = rec
            last = self._warn_ended.pop(eid, None)
            if not self.cfg.warning.report_to_center:  # nothing to tell the center
                self._settled(eid)
                continue
            if last is not None:
                out.append(last.model_copy(update={"seq": self._resend_seq(eid, last.seq), "warning": rec}))
                self._settled(eid)
                continue
            for rule in self.rules:
                running = rule.lifecycle.running
                if running is not None and running[0] == eid:
                    t = rule.lifecycle.report()
                    if t is not None:
                        out.append(self._with_clip(self._event(rule, t, [])))
        return out

    def take_over(self, old: CameraPipeline, ts_ms: int, keep_open: bool) -> list[AlertEvent]:
        """Replace ``old`` (a live config change rebuilt this camera): with ``keep_open``, each rule
        whose config and zone did not change carries over with its open event; the others' events
        end (returned). The clips ``old`` waits for come along, so they reach their events."""
        by_id = {r.cfg.id: r for r in old.rules}
        for i, rule in enumerate(self.rules):
            prev = by_id.get(rule.cfg.id)
            if keep_open and prev is not None and prev.cfg == rule.cfg and prev.zone == rule.zone:
                self.rules[i] = prev
                del by_id[rule.cfg.id]
        old.rules = list(by_id.values())
        ended = old.finish(ts_ms)
        self._clip_wait.update(old._clip_wait)
        self._clip_ready.update(old._clip_ready)
        old._clip_wait, old._clip_ready = {}, {}
        self._warnings.update(old._warnings)
        self._warn_ended.update(old._warn_ended)
        self._resent.update(old._resent)
        old._warnings, old._warn_ended, old._resent = {}, {}, {}
        return ended

    def collect_clips(self) -> list[AlertEvent]:
        """The clips (and warning results) finished since the last frame (the node stops, or a
        camera went dark)."""
        return self._late_clips() + self._late_warnings()

    def finish(self, ts_ms: int) -> list[AlertEvent]:
        """End every running event (the clip is over, the node stops)."""
        out = []
        for rule in self.rules:
            t = rule.lifecycle.close(ts_ms)
            if t is not None:
                out.append(self._with_clip(self._event(rule, t, [])))
        return out

    def _event(self, rule: Rule[Any], t: Transition, evidence: list[EvidenceItem]) -> AlertEvent:
        return self._track_warning(self._message(rule, t, evidence))

    def _message(self, rule: Rule[Any], t: Transition, evidence: list[EvidenceItem]) -> AlertEvent:
        return AlertEvent(
            event_id=t.event_id,
            phase=t.phase,
            seq=t.seq,
            site=self.cfg.site,
            node=self.cfg.node,
            camera=self.camera.id,
            enterprise=self.camera.enterprise,
            rule_id=rule.cfg.id,
            rule_type=rule.cfg.type,
            rule_name=rule.cfg.name,
            severity=rule.cfg.severity,
            started_ms=t.started_ms,
            last_ms=t.last_ms,
            ended_ms=t.ended_ms,
            zone=rule.cfg.zone,
            count=t.count,
            score=t.score,
            objects=t.objects,
            evidence=evidence,
            warning=self._warnings.get(t.event_id) if self.cfg.warning.report_to_center else None,
        )


class CameraAnalyzer:
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
        self.tracker: Tracker | None = None
        self.sync_tracker(cfg, track_labels)
        self.last_stage_ms: dict[str, float] = {}  # track, rules, evidence of the last frame
        self.last_dets: Detections | None = None
        self.last_bgr: np.ndarray | None = None
        self.skipped_motion = 0

    def sync_tracker(self, cfg: EdgeConfig, track_labels: set[str] | None) -> None:
        """A tracker only for a camera with a rule that reads track ids (loitering, line crossing,
        man down, vehicle proximity …): the others skip its cost (and its imports: supervision,
        scipy). Called again when the camera's rules are rebuilt."""
        wants = cfg.tracker.enabled and any(r.needs_tracks or r.uses_tracks for r in self.pipeline.rules)
        if not wants:
            self.tracker = None
        elif self.tracker is None:
            self.tracker = Tracker(cfg.tracker, self.fps, track_labels)

    def wants_inference(self, frame: av.VideoFrame, ts_ms: int) -> bool:
        if self.motion is None:
            return True
        if self.motion.check(frame, ts_ms) or self.last_dets is None:
            return True
        self.skipped_motion += 1
        return False

    def process(self, ts_ms: int, bgr: np.ndarray | None, dets: Detections | None) -> list[AlertEvent]:
        self.last_stage_ms = {}
        if dets is None:  # skipped by the motion gate: the scene is as it was
            dets = self.last_dets if self.last_dets is not None else Detections.empty()
            bgr = self.last_bgr  # the still scene's last analyzed frame, for a snapshot
        else:
            if self.tracker is not None:
                t0 = time.perf_counter()
                dets = self.tracker.update(dets, ts_ms)
                self.last_stage_ms["track"] = (time.perf_counter() - t0) * 1000
            self.last_dets, self.last_bgr = dets, bgr
        t0 = time.perf_counter()
        events = self.pipeline.process(bgr, ts_ms, dets)
        total = (time.perf_counter() - t0) * 1000
        self.last_stage_ms["rules"] = total - self.pipeline.evidence_ms
        self.last_stage_ms["evidence"] = self.pipeline.evidence_ms
        return events
