"""Prometheus /metrics, scraped from a running node process."""

from __future__ import annotations

import re
import socket
import sys
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

from tests.support.ports import free_port
from tests.support.procs import ManagedProcess

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def scrape(port: int) -> dict[str, float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
        assert resp.status == 200 and resp.headers["Content-Type"].startswith("text/plain")
        text = resp.read().decode()
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            out[name] = float(value)
    return out


def write_config(path: Path, broker_port: int, metrics_port: int) -> Path:
    path.write_text(
        f"""site: yijia
node: edge-metrics
heartbeat_s: 2
analysis_fps: 4
evidence_dir: ev
state_dir: state
metrics_port: {metrics_port}
mqtt: {{host: 127.0.0.1, port: {broker_port}}}
models: {{manifest: {REPO / "models" / "manifest.yaml"}, threads: 1}}
stream: {{open_timeout_s: 2, read_timeout_s: 2, backoff_initial_s: 0.5, backoff_max_s: 1}}
cameras:
  - id: cam-file
    url: {REPO / "samples" / "vtest-walkway.mp4"}
    zones: [{{id: junction, points: [[0.50, 0.50], [0.72, 0.48], [0.80, 0.68], [0.55, 0.70]]}}]
    rules: [{{id: junction-intrusion, type: intrusion, zone: junction, confirm_frames: 2, cooldown_s: 5}}]
  - {{id: cam-dead, url: "rtsp://127.0.0.1:{free_port()}/x"}}
""",
        encoding="utf-8",
    )
    return path


def test_metrics_of_a_running_node(tmp_workdir: Path, mosquitto: Any) -> None:
    port = free_port()
    cfg = write_config(tmp_workdir / "edge.yaml", mosquitto.port, port)
    node = ManagedProcess(
        [BIN / "parkguard-edge", "run", "--config", cfg],
        name="edge",
        log_dir=tmp_workdir,
        ready_line=r"running: 2 camera",
        ready_stream="any",
        ready_timeout=60,
    )
    with node:
        deadline = time.monotonic() + 30
        m: dict[str, float] = {}
        while time.monotonic() < deadline:
            m = scrape(port)
            if (
                m.get("parkguard_edge_events_published_total", 0) >= 1
                and m.get('parkguard_edge_camera_frames_analyzed_total{camera="cam-file"}', 0) >= 10
            ):
                break
            time.sleep(0.5)
        f = '{camera="cam-file"}'
        analyzed = m["parkguard_edge_camera_frames_analyzed_total" + f]
        assert analyzed >= 10, m
        assert m["parkguard_edge_camera_frames_in_total" + f] >= analyzed
        # inference histogram: one observation per analyzed frame (scraped in one go, so consistent)
        assert m["parkguard_edge_camera_inference_ms_count" + f] == analyzed
        assert m['parkguard_edge_camera_inference_ms_bucket{camera="cam-file",le="+Inf"}'] == analyzed
        assert m["parkguard_edge_camera_inference_ms_sum" + f] > 0
        buckets = [
            v
            for k, v in m.items()
            if k.startswith('parkguard_edge_camera_frame_age_ms_bucket{camera="cam-file"')
        ]
        assert buckets == sorted(buckets) and buckets[-1] >= analyzed  # cumulative
        assert m['parkguard_edge_camera_state{camera="cam-file",state="online"}'] == 1
        assert m['parkguard_edge_camera_state{camera="cam-dead",state="offline"}'] == 1
        assert m['parkguard_edge_camera_state{camera="cam-dead",state="online"}'] == 0
        # the 10 fps file is analyzed at 4 fps: the newest frame wins, the others are dropped as stale
        stale = m['parkguard_edge_camera_frames_dropped_total{camera="cam-file",reason="stale"}']
        assert stale > 0, m
        # every frame in was analyzed, skipped by the motion gate or dropped as stale, but the few
        # decoded since the loop last took one (counters read one after the other: a little slack)
        motion = m["parkguard_edge_camera_frames_skipped_motion_total" + f]
        not_taken = m["parkguard_edge_camera_frames_in_total" + f] - (analyzed + motion + stale)
        assert -3 <= not_taken <= 10, (not_taken, m)
        assert m["parkguard_edge_camera_ring_bytes" + f] > 0
        # the time of each stage of an analyzed frame; no tracker (an intrusion rule reads no track ids)
        for stage in ("convert", "preprocess", "inference", "postprocess", "rules", "evidence"):
            key = f'parkguard_edge_camera_stage_ms_count{{camera="cam-file",stage="{stage}"}}'
            assert m[key] == analyzed, (stage, m[key], analyzed)
        assert m['parkguard_edge_camera_stage_ms_count{camera="cam-file",stage="track"}'] == 0
        assert m['parkguard_edge_camera_stage_ms_count{camera="cam-file",stage="decode"}'] >= analyzed
        assert m['parkguard_edge_camera_stage_ms_sum{camera="cam-file",stage="inference"}'] > 0
        assert m["parkguard_edge_camera_tracking" + f] == 0
        assert m["parkguard_edge_events_published_total"] >= 1  # someone walks into the junction
        assert "parkguard_edge_outbox_depth" in m and "parkguard_edge_outbox_dropped_total" in m
        # the dead camera is retried: its reconnect counter goes up between scrapes
        r1 = m['parkguard_edge_camera_reconnects_total{camera="cam-dead"}']
        time.sleep(2.5)
        m2 = scrape(port)
        assert m2['parkguard_edge_camera_reconnects_total{camera="cam-dead"}'] > r1
        assert m2["parkguard_edge_camera_frames_analyzed_total" + f] > analyzed
        # anything but /metrics is a 404
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/other", timeout=5)
            raise AssertionError("expected a 404")
        except urllib.error.HTTPError as exc:
            assert exc.code == 404
        assert node.stop() == 0


def test_a_busy_metrics_port_does_not_stop_the_node(tmp_workdir: Path, mosquitto: Any) -> None:
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen(1)
    cfg = write_config(tmp_workdir / "edge.yaml", mosquitto.port, busy.getsockname()[1])
    node = ManagedProcess(
        [BIN / "parkguard-edge", "run", "--config", cfg],
        name="edge",
        log_dir=tmp_workdir,
        ready_line=r"running: 2 camera",
        ready_stream="any",
        ready_timeout=60,
    )
    try:
        with node:
            time.sleep(1)
            assert node.is_running()
            log = node.log_path.read_text()
            assert re.search(r"metrics_port: cannot listen on 127\.0\.0\.1:\d+", log), log[-2000:]
            assert node.stop() == 0
    finally:
        busy.close()


# Every per-camera heartbeat field and the /metrics series that carries the same figure
# (docs/engine.md lists them). A new heartbeat field without a metric fails the test below.
HEARTBEAT_TO_METRICS = {
    "camera": 'label camera="…" on every camera series',
    "state": "parkguard_edge_camera_state{state=…} (1 for the current state)",
    "fps_in": "rate(parkguard_edge_camera_frames_in_total)",
    "fps_out": "rate(parkguard_edge_camera_frames_analyzed_total)",
    "infer_ms": "parkguard_edge_camera_inference_ms (histogram: _sum / _count)",
    "dropped_frames": "sum by camera of parkguard_edge_camera_frames_dropped_total{reason=…}",
    "decode_errors": 'parkguard_edge_camera_frames_dropped_total{reason="decode_error"}',
    "reconnects": "parkguard_edge_camera_reconnects_total",
    "last_frame_ms": "parkguard_edge_camera_last_frame_timestamp_seconds × 1000",
    "error": "(text: heartbeat and log only)",
}


def test_metrics_carry_what_the_heartbeat_carries(tmp_workdir: Path, mosquitto: Any) -> None:
    from edge.comms.metrics import render
    from edge.config import load_edge_config
    from edge.node import EdgeNode
    from edge.node_metrics import node_families
    from protocol import CameraHealth

    assert set(CameraHealth.model_fields) == set(HEARTBEAT_TO_METRICS), "a heartbeat field has no metric"
    cfg = load_edge_config(write_config(tmp_workdir / "edge.yaml", mosquitto.port, free_port()))
    cfg.heartbeat_s = 60
    node = EdgeNode(cfg)
    t = threading.Thread(target=node.run, daemon=True)
    t.start()
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            cam = node.camera("cam-file")
            if cam is not None and cam.analyzed >= 5 and node.camera("cam-dead").stream.reconnects >= 1:
                break
            time.sleep(0.2)
        with node._lock:  # the loop is between iterations: its counters stand still
            text = render(node_families(node))
            beats = {h.camera: h for h in node.health()}
        m = {}
        for line in text.splitlines():
            if line and not line.startswith("#"):
                name, value = line.rsplit(" ", 1)
                m[name] = float(value)
        for cam_id, hb in beats.items():
            lb = f'camera="{cam_id}"'
            states = {k: v for k, v in m.items() if k.startswith(f"parkguard_edge_camera_state{{{lb},")}
            assert states[f'parkguard_edge_camera_state{{{lb},state="{hb.state.value}"}}'] == 1
            assert sum(states.values()) == 1
            assert m[f"parkguard_edge_camera_reconnects_total{{{lb}}}"] == hb.reconnects
            dropped = {
                k: v
                for k, v in m.items()
                if k.startswith(f"parkguard_edge_camera_frames_dropped_total{{{lb},")
            }
            assert set(dropped) == {
                f'parkguard_edge_camera_frames_dropped_total{{{lb},reason="{r}"}}'
                for r in ("stale", "decode_error", "analysis_error")
            }
            # stale drops change only in the loop (held); decoding errors: none in the clean sample
            assert sum(dropped.values()) == hb.dropped_frames
            assert dropped[f'parkguard_edge_camera_frames_dropped_total{{{lb},reason="decode_error"}}'] == (
                hb.decode_errors
            )
            last = m.get(f"parkguard_edge_camera_last_frame_timestamp_seconds{{{lb}}}")
            if hb.last_frame_ms is None:
                assert last is None
            else:  # the reader thread may have taken a frame in between (10 fps)
                assert last is not None and 0 <= hb.last_frame_ms / 1000 - last < 1.0
        assert beats["cam-file"].state == "online" and beats["cam-dead"].state == "offline"
        info = [k for k in m if k.startswith("parkguard_edge_model_info{")]
        assert info == [
            'parkguard_edge_model_info{model="nanodet-coco",family="nanodet",'
            'providers="CPUExecutionProvider",threads="1"}'
        ]
    finally:
        node.stop()
        t.join(15)
