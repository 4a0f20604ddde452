"""The whole path with real parts: RTSP camera → edge (real model) → Mosquitto → center → DB + WebSocket.

Processes: a private Mosquitto, an RTSP server (GstRtspServer fed by ffmpeg) serving the
sample clip as an endless camera, ``parkguard-center serve`` and ``parkguard-edge run``.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.sync.client import connect

from tests.centerkit import register_cameras_at
from tests.support.ports import free_port
from tests.support.procs import ManagedProcess

pytestmark = pytest.mark.e2e

BIN = Path(sys.executable).parent
REPO = Path(__file__).resolve().parents[2]


class FeedListener(threading.Thread):
    """Collects the center's WebSocket feed in the background."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url = url
        self.messages: list[dict[str, Any]] = []
        self.connected = threading.Event()
        self._halt = threading.Event()

    def run(self) -> None:
        with connect(self.url, open_timeout=10) as ws:
            self.connected.set()
            while not self._halt.is_set():
                try:
                    raw = ws.recv(timeout=0.5)
                except TimeoutError:
                    continue
                self.messages.append(json.loads(raw))

    def stop(self) -> None:
        self._halt.set()
        self.join(5)


def write_center_config(workdir: Path, mqtt_port: int, http_port: int) -> Path:
    path = workdir / "center.yaml"
    path.write_text(
        f"""site: yijia
site_name: 毅佳工业园
database: {{url: "sqlite:///center.db"}}
mqtt: {{host: 127.0.0.1, port: {mqtt_port}, client_id: e2e-center-{uuid.uuid4().hex[:6]}}}
http: {{host: 127.0.0.1, port: {http_port}}}
evidence_dir: evidence
""",
        encoding="utf-8",
    )
    return path


def write_edge_config(workdir: Path, mqtt_port: int, camera_url: str) -> Path:
    path = workdir / "edge.yaml"
    path.write_text(
        f"""site: yijia
node: edge-e2e
analysis_fps: 4
heartbeat_s: 2
evidence_dir: edge-evidence
mqtt: {{host: 127.0.0.1, port: {mqtt_port}}}
models: {{manifest: {REPO / "models" / "manifest.yaml"}, detector: nanodet-coco, threads: 1}}
cameras:
  - id: cam-e2e
    name: 主通道
    enterprise: yj-metal
    url: {camera_url}
    zones:
      - id: walkway
        points: [[0.0, 0.25], [1.0, 0.2], [1.0, 0.75], [0.0, 0.8]]
    rules:
      - id: walkway-intrusion
        type: intrusion
        name: 主通道禁行区闯入
        zone: walkway
        severity: major
        confirm_frames: 2
        update_interval_s: 2
""",
        encoding="utf-8",
    )
    return path


def add_operator(config: Path) -> None:
    """The API wants a login: an operator account made with the CLI."""
    subprocess.run(
        [
            BIN / "parkguard-center",
            "user",
            "add",
            "--config",
            config,
            "--username",
            "op",
            "--role",
            "operator",
        ],
        input="op-password-1\n",
        text=True,
        check=True,
        capture_output=True,
        env=dict(os.environ),
    )


def test_camera_to_operator(tmp_workdir: Path, mosquitto: Any, rtsp_server: Any, sample_clip: Path) -> None:
    cams = rtsp_server({"cam1": sample_clip})
    http_port = free_port()
    base = f"http://127.0.0.1:{http_port}"
    center_config = write_center_config(tmp_workdir, mosquitto.port, http_port)
    add_operator(center_config)
    register_cameras_at(f"sqlite:///{tmp_workdir / 'center.db'}", {"cam-e2e": ("edge-e2e", "yj-metal")})
    center = ManagedProcess(
        [BIN / "parkguard-center", "serve", "--config", center_config],
        name="center",
        log_dir=tmp_workdir,
        ready_url=f"{base}/api/health",
        ready_timeout=60,
    )
    edge = ManagedProcess(
        [
            BIN / "parkguard-edge",
            "run",
            "--config",
            write_edge_config(tmp_workdir, mosquitto.port, cams.urls["cam1"]),
        ],
        name="edge",
        log_dir=tmp_workdir,
        ready_line=r"edge node yijia/edge-e2e running",
        ready_stream="any",
        ready_timeout=60,
    )
    with center:
        login = {"username": "op", "password": "op-password-1"}
        token = httpx.post(f"{base}/api/auth/login", json=login, timeout=5).json()["token"]
        auth = {"Authorization": f"Bearer {token}"}
        feed = FeedListener(f"ws://127.0.0.1:{http_port}/ws/alerts?token={token}")
        feed.start()
        assert feed.connected.wait(10), "WebSocket feed did not open"
        with edge:
            # people walk across the zone from the first seconds of the clip
            deadline = time.monotonic() + 60
            alerts: list[dict[str, Any]] = []
            while time.monotonic() < deadline and not alerts:
                alerts = httpx.get(
                    f"{base}/api/alerts", params={"camera": "cam-e2e"}, headers=auth, timeout=5
                ).json()["items"]
                time.sleep(0.5)
            assert alerts, f"no alert reached the center in 60 s\n{edge.log_tail()}"
            alert = alerts[0]
            assert (
                alert["node"] == "edge-e2e"
                and alert["rule_type"] == "intrusion"
                and alert["severity"] == "major"
            )
            assert alert["count"] >= 1 and alert["objects"] and alert["objects"][0]["label"] == "person"
            assert alert["evidence"] and alert["evidence"][0]["kind"] == "snapshot"

            # the same event on the live feed
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and not any(
                m.get("type") == "alert" and m["alert"]["event_id"] == alert["event_id"]
                for m in feed.messages
            ):
                time.sleep(0.2)
            assert any(
                m.get("type") == "alert" and m["alert"]["event_id"] == alert["event_id"]
                for m in feed.messages
            )

            # heartbeats tell the camera is online and analyzed
            deadline = time.monotonic() + 15
            cam: dict[str, Any] = {}
            while time.monotonic() < deadline:
                nodes = httpx.get(f"{base}/api/nodes", headers=auth, timeout=5).json()
                node = next((n for n in nodes if n["node"] == "edge-e2e"), None)
                hb = (node or {}).get("heartbeat") or {}
                cam = next((c for c in hb.get("cameras", []) if c["camera"] == "cam-e2e"), {})
                if cam.get("state") == "online" and cam.get("fps_out", 0) > 0:
                    break
                time.sleep(0.5)
            assert cam.get("state") == "online" and cam["fps_out"] > 0, cam
            assert node is not None and node["state"] == "online"
            edge.stop()
            assert edge.returncode == 0, edge.log_tail()

        # clean shutdown: retained "stopped" status
        deadline = time.monotonic() + 10
        state = None
        while time.monotonic() < deadline and state != "stopped":
            nodes = httpx.get(f"{base}/api/nodes", headers=auth, timeout=5).json()
            state = next((n["state"] for n in nodes if n["node"] == "edge-e2e"), None)
            time.sleep(0.3)
        assert state == "stopped"
        feed.stop()

    # the record is in the database file itself
    with sqlite3.connect(tmp_workdir / "center.db") as db:
        rows = db.execute(
            "select camera, rule_id, node from alerts where event_id = ?", (alert["event_id"],)
        ).fetchall()
    assert rows == [("cam-e2e", "walkway-intrusion", "edge-e2e")]
    assert (tmp_workdir / "edge-evidence").is_dir() and any((tmp_workdir / "edge-evidence").rglob("*.jpg"))
