"""The node's Prometheus families, rendered at scrape time from the counters it keeps anyway
(edge/comms/metrics.py serves and formats them). Per camera they carry the figures of its
heartbeat (docs/engine.md lists which series carries which field)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from edge import __version__
from edge.comms.metrics import Family
from protocol import CameraState

if TYPE_CHECKING:
    from edge.camera import CameraRuntime
    from edge.node import EdgeNode

P = "parkguard_edge_"


def camera_families(cameras: list[CameraRuntime]) -> list[Family]:
    fams = {
        "in": Family(P + "camera_frames_in_total", "counter", "frames decoded from the detection stream"),
        "an": Family(P + "camera_frames_analyzed_total", "counter", "frames run through the detector"),
        "mo": Family(P + "camera_frames_skipped_motion_total", "counter", "frames skipped: still scene"),
        "dr": Family(
            P + "camera_frames_dropped_total",
            "counter",
            "frames not analyzed: stale (a newer one came), decode_error, analysis_error",
        ),
        "lf": Family(P + "camera_last_frame_timestamp_seconds", "gauge", "when the last frame came, epoch s"),
        "inf": Family(P + "camera_inference_ms", "histogram", "detector time per analyzed frame, ms"),
        "age": Family(P + "camera_frame_age_ms", "histogram", "capture to rule result, ms"),
        "st": Family(P + "camera_state", "gauge", "1 for the camera's current state"),
        "rc": Family(P + "camera_reconnects_total", "counter", "stream reopen attempts"),
        "rb": Family(P + "camera_ring_bytes", "gauge", "compressed bytes held in the ring buffer"),
        "trk": Family(P + "camera_tracking", "gauge", "1: a tracker runs (a rule reads track ids)"),
        "stg": Family(
            P + "camera_stage_ms",
            "histogram",
            "time per analyzed frame by stage (decode: per packet, on the reader thread), ms",
        ),
        "ppe": Family(
            P + "ppe_judgements_total",
            "counter",
            "missing_ppe (classifier) person-frames by item and result: helmet, no_helmet, vest, no_vest, "
            "or cannot_judge:<reason> (too_small, cut_by_edge, occluded, model_error); never alerts",
        ),
    }
    for cam in cameras:
        lb = {"camera": cam.cfg.id}
        s = cam.stream
        fams["in"].add(lb, s.frames_in)
        fams["an"].add(lb, cam.analyzed)
        fams["mo"].add(lb, cam.analyzer.skipped_motion)
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
        fams["trk"].add(lb, 1 if cam.analyzer.tracker is not None else 0)
        fams["stg"].add({**lb, "stage": "decode"}, s.decode_hist)
        for stage, hist in cam.stage_hist.items():
            fams["stg"].add({**lb, "stage": stage}, hist)
        for rule in cam.pipeline.rules:
            counts = getattr(rule, "counts", None)
            for (item, result), n in sorted((counts or {}).items()):
                fams["ppe"].add({**lb, "rule": rule.cfg.id, "item": item, "result": result}, n)
    return list(fams.values())


def warning_families(node: EdgeNode) -> list[Family]:
    """On-site warnings: plays per output (worked / failed) and warnings not played by reason."""
    w = node.warner
    if w is None:
        return []
    played = Family(P + "warning_played_total", "counter", "on-site warnings played, per output")
    failed = Family(
        P + "warning_failed_total", "counter", "on-site warning plays that failed (device unreachable …)"
    )
    for out_id in w.workers:
        played.add({"output": out_id}, w.played[out_id])
        failed.add({"output": out_id}, w.failed[out_id])
    suppressed = Family(
        P + "warning_suppressed_total",
        "counter",
        "on-site warnings not played: rate_limit (a repeat), hourly_cap, outside_schedule, "
        "queue_full (per output: the device slow or unreachable)",
    )
    for reason, n in sorted(w.suppressed.items()):
        suppressed.add({"reason": reason}, n)
    return [played, failed, suppressed]


def live_families(node: EdgeNode) -> list[Family]:
    """Live video: sessions open by mode, the cap, and what the node sent (packets passed
    through as they came vs frames its encoder encoded)."""
    if node.live is None:
        return []
    h = node.live.health()
    return [
        Family(P + "live_sessions", "gauge", "live video sessions open, by mode (passthrough, reencode)")
        .add({"mode": "passthrough"}, h.passthrough)
        .add({"mode": "reencode"}, h.reencode),
        Family(P + "live_max_viewers", "gauge", "the node's cap on live sessions (live.max_viewers)").add(
            {}, h.max_viewers
        ),
        Family(P + "live_packets_passed_total", "counter", "camera packets passed through to viewers").add(
            {}, h.packets_passed
        ),
        Family(
            P + "live_frames_encoded_total", "counter", "frames the node's encoder encoded for viewers"
        ).add({}, h.frames_encoded),
        Family(
            P + "live_refused_total", "counter", "live offers refused (cap, camera offline, bad offer …)"
        ).add({}, node.live.refused),
    ]


def node_families(node: EdgeNode) -> list[Family]:
    """Every family of the node: its cameras', then the outbox, events, uptime and identity."""
    det = node.detector
    ev = node.evidence.health()
    return [
        *camera_families(node.camera_list()),
        *warning_families(node),
        *live_families(node),
        Family(P + "clips_total", "counter", "evidence clips: built (partial included), failed, partial")
        .add({"result": "built"}, ev.clips_built)
        .add({"result": "failed"}, ev.clips_failed)
        .add({"result": "partial"}, ev.clips_partial),
        Family(P + "clips_pending", "gauge", "clips waiting for their window in the ring buffer").add(
            {}, ev.clips_pending
        ),
        Family(P + "uploads_pending", "gauge", "evidence files waiting to go to the center").add(
            {}, ev.uploads_pending
        ),
        Family(P + "uploads_dropped_total", "counter", "evidence files evicted from a full upload queue").add(
            {}, ev.uploads_dropped
        ),
        Family(P + "outbox_depth", "gauge", "messages waiting on disk for the broker").add(
            {}, node.outbox.depth
        ),
        Family(P + "outbox_dropped_total", "counter", "messages evicted from a full outbox").add(
            {}, node.outbox.dropped
        ),
        Family(P + "events_published_total", "counter", "alert event messages sent").add(
            {}, node.events_published
        ),
        Family(P + "uptime_seconds", "gauge", "seconds since the node started").add(
            {}, round(time.monotonic() - node.started, 1)
        ),
        Family(P + "info", "gauge", "node identity").add(
            {"site": node.cfg.site, "node": node.cfg.node, "version": __version__}, 1
        ),
        Family(P + "model_info", "gauge", "the detector: model, execution providers, threads").add(
            {
                "model": det.model.entry.name,
                "family": det.model.entry.family,
                "providers": ",".join(det.providers),
                "threads": str(det.threads),
            },
            1,
        ),
    ]
