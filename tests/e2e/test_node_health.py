"""Node and camera health in ``GET /api/nodes``: a real edge node process, real Mosquitto, the
real center app. Online from the birth, cameras' state and fps from the heartbeat, ``stale``
after 3 missed heartbeats (the node frozen with SIGSTOP), ``offline`` from the last will
(SIGKILL), ``stopped`` after a clean shutdown.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.centerkit import running_center, wait_for
from tests.support.edgeproc import CLIP, REPO, edge_process

pytestmark = pytest.mark.e2e

NODE = "edge-hl"


def write_config(workdir: Path, mqtt_port: int) -> Path:
    path = workdir / "edge-health.yaml"
    path.write_text(
        f"""site: yijia
node: {NODE}
analysis_fps: 2
heartbeat_s: 1
metrics_port: 0
evidence_dir: ev
state_dir: state-health
mqtt: {{host: 127.0.0.1, port: {mqtt_port}, keepalive: 60}}
models: {{manifest: {REPO / "models" / "manifest.yaml"}, threads: 1}}
cameras:
  - {{id: cam-ok, url: {CLIP}}}
  - {{id: cam-dead, url: "rtsp://127.0.0.1:9/none"}}
stream: {{open_timeout_s: 1, backoff_initial_s: 1, backoff_max_s: 2}}
""",
        encoding="utf-8",
    )
    return path


def view(client: TestClient) -> dict[str, Any] | None:
    resp = client.get("/api/nodes")
    assert resp.status_code == 200, resp.text
    return next((n for n in resp.json() if n["node"] == NODE), None)


@pytest.fixture
def center_app(tmp_workdir: Path, mosquitto: Any) -> Iterator[TestClient]:
    with running_center(tmp_workdir, mosquitto.port) as client:
        yield client


def test_node_health_online_stale_offline_stopped(
    tmp_workdir: Path, mosquitto: Any, center_app: TestClient
) -> None:
    client = center_app
    edge = edge_process(tmp_workdir, write_config(tmp_workdir, mosquitto.port))
    with edge:
        node = wait_for(
            lambda: (
                (n := view(client))
                and n["health"] == "online"
                and {c["camera"]: c["state"] for c in n["camera_health"]}.get("cam-ok") == "online"
                and n
            ),
            30,
            "node online with cam-ok online",
        )
        cams = {c["camera"]: c for c in node["camera_health"]}
        assert set(cams) == {"cam-ok", "cam-dead"}
        assert cams["cam-dead"]["state"] in {"starting", "offline"}
        assert node["heartbeat_interval_s"] == 1.0
        assert node["heartbeat_age_s"] is not None and node["heartbeat_age_s"] < 3
        assert node["outbox_depth"] is not None and node["outbox_dropped"] == 0
        node = wait_for(
            lambda: (
                (n := view(client))
                and next(c for c in n["camera_health"] if c["camera"] == "cam-ok")["fps_in"] > 0
                and n
            ),
            20,
            "cam-ok frames in",
        )
        dead = wait_for(
            lambda: (
                (n := view(client))
                and (c := next(c for c in n["camera_health"] if c["camera"] == "cam-dead"))["state"]
                == "offline"
                and c
            ),
            30,
            "cam-dead offline",
        )
        assert dead["error"], dead  # why it is down, as the node told it

        # frozen: the TCP link stays up (no will yet), heartbeats stop -> stale after 3 periods
        edge.signal(signal.SIGSTOP)
        try:
            stale = wait_for(lambda: (n := view(client)) and n["health"] == "stale" and n, 15, "stale")
            assert stale["state"] == "online" and stale["heartbeat_age_s"] >= 3.0  # 3 periods of 1 s
        finally:
            edge.signal(signal.SIGCONT)
        wait_for(lambda: view(client)["health"] == "online", 15, "online again after SIGCONT")

        # killed: the broker publishes the node's last will
        edge.kill9()
        gone = wait_for(lambda: (n := view(client)) and n["state"] == "offline" and n, 15, "offline")
        assert gone["health"] == "offline"

        # started and stopped cleanly: stopped, not offline
        edge.start()
        wait_for(lambda: view(client)["health"] == "online", 30, "online after the restart")
        assert edge.stop() == 0, edge.log_tail()
        wait_for(lambda: view(client)["state"] == "stopped", 15, "stopped")
        assert view(client)["health"] == "stopped"
