"""The edge node as a process: a dead camera is reported and retried, the others go on."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

from protocol import Heartbeat, NodeStatus
from tests.support.nodes import Collector
from tests.support.ports import free_port
from tests.support.procs import ManagedProcess

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def test_dead_camera_is_reported_and_does_not_block_the_others(tmp_workdir: Path, mosquitto: Any) -> None:
    dead = f"rtsp://127.0.0.1:{free_port()}/nothing-here"
    cfg = tmp_workdir / "edge.yaml"
    cfg.write_text(
        f"""site: yijia
node: edge-faults
heartbeat_s: 1
evidence_dir: ev
mqtt: {{host: 127.0.0.1, port: {mosquitto.port}}}
models: {{manifest: {REPO / "models" / "manifest.yaml"}, threads: 1}}
stream: {{open_timeout_s: 2, read_timeout_s: 2, backoff_initial_s: 0.5, backoff_max_s: 2}}
cameras:
  - {{id: cam-dead, url: "{dead}"}}
  - {{id: cam-gone, url: {tmp_workdir / "no-such-file.mp4"}}}
  - {{id: cam-file, url: {REPO / "samples" / "vtest-walkway.mp4"}, analysis_fps: 2}}
""",
        encoding="utf-8",
    )
    sub = Collector(mosquitto.host, mosquitto.port, "parkguard/v1/yijia/edge-faults/#")
    node = ManagedProcess(
        [BIN / "parkguard-edge", "run", "--config", cfg],
        name="edge",
        log_dir=tmp_workdir,
        ready_line=r"running: 3 camera",
        ready_stream="any",
        ready_timeout=60,
    )
    try:
        with node:
            deadline = time.monotonic() + 30
            cams: dict[str, Any] = {}
            while time.monotonic() < deadline:
                beats = [Heartbeat.model_validate(m) for m in sub.of_kind("heartbeat")]
                if beats:
                    cams = {c.camera: c for c in beats[-1].cameras}
                    if cams["cam-file"].fps_out > 0 and cams["cam-dead"].error and cams["cam-gone"].error:
                        break
                time.sleep(0.5)
            assert cams["cam-file"].state == "online" and cams["cam-file"].fps_out > 0, cams
            assert cams["cam-dead"].state == "offline" and "Connection refused" in cams["cam-dead"].error, (
                cams
            )
            assert cams["cam-gone"].state == "offline" and "no such file" in cams["cam-gone"].error, cams
            assert node.is_running()
            # retried with backoff (0.5, 1, 2, 2 … s): several attempts, and the node goes on
            time.sleep(4)
            last = {c.camera: c for c in Heartbeat.model_validate(sub.of_kind("heartbeat")[-1]).cameras}
            assert last["cam-dead"].reconnects >= 2 and last["cam-gone"].reconnects >= 2, last
            assert last["cam-file"].reconnects == 0
            assert node.stop() == 0
        statuses = [NodeStatus.model_validate(m) for m in sub.of_kind("status")]
        assert [s.state for s in statuses][:1] == ["online"] and statuses[-1].state == "stopped"
    finally:
        sub.close()
