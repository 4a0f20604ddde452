"""Per-camera analysis: detections → rules → alert events (with evidence on ``new``)."""

from __future__ import annotations

import logging

import numpy as np

from edge.config import CameraConfig, EdgeConfig
from edge.detections import Detections
from edge.evidence import EvidenceStore, annotate
from edge.lifecycle import Transition
from edge.rules import Rule, build_rules
from protocol import AlertEvent, EventPhase, EvidenceItem

log = logging.getLogger("parkguard.edge.pipeline")


class CameraPipeline:
    def __init__(
        self, cfg: EdgeConfig, camera: CameraConfig, labels: set[str], evidence: EvidenceStore | None
    ) -> None:
        self.cfg = cfg
        self.camera = camera
        self.rules: list[Rule] = build_rules(camera, cfg.timezone, labels)
        self.evidence = evidence

    def process(self, frame_bgr: np.ndarray | None, ts_ms: int, dets: Detections) -> list[AlertEvent]:
        events: list[AlertEvent] = []
        for rule in self.rules:
            result = rule.step(ts_ms, dets)
            if result is None:
                continue
            t = result.transition
            evidence: list[EvidenceItem] = []
            if t.phase is EventPhase.NEW and self.evidence is not None and frame_bgr is not None:
                try:
                    img = annotate(frame_bgr, t.objects, rule.zone, rule.cfg, ts_ms, self.cfg.timezone)
                    evidence.append(self.evidence.save_snapshot(img))
                except (OSError, RuntimeError) as exc:  # evidence is best effort; the alert still goes out
                    log.error("camera %s: snapshot not saved: %s", self.camera.id, exc)
            events.append(self._event(rule, t, evidence))
        return events

    def finish(self, ts_ms: int) -> list[AlertEvent]:
        """End every running event (the clip is over, the node stops)."""
        out = []
        for rule in self.rules:
            t = rule.lifecycle.close(ts_ms)
            if t is not None:
                out.append(self._event(rule, t, []))
        return out

    def _event(self, rule: Rule, t: Transition, evidence: list[EvidenceItem]) -> AlertEvent:
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
        )
