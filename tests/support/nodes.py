"""Running an in-process edge node in a test, and waiting for what it does."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt

from edge.config import EdgeConfig, load_edge_config
from edge.detect.detector import ObjectDetector, load_detector
from edge.node import EdgeNode

REPO = Path(__file__).resolve().parents[2]
MANIFEST = REPO / "models" / "manifest.yaml"


def demo_detector() -> ObjectDetector:
    """The demo config's object model (the bundled NanoDet)."""
    return load_detector(load_edge_config(REPO / "configs" / "demo-edge.yaml").models)


def node_config(tmp: Path, broker_port: int, cameras: list[dict[str, Any]], **extra: Any) -> EdgeConfig:
    """A node config for an in-process node: the bundled models, quick stream timeouts, no /metrics."""
    data: dict[str, Any] = {
        "site": "yijia",
        "node": "edge-streams",
        "heartbeat_s": 30,  # long: state changes must not wait for it
        "analysis_fps": 2,
        "evidence_dir": str(tmp / "ev"),
        "state_dir": str(tmp / "state"),
        "metrics_port": 0,
        "mqtt": {"host": "127.0.0.1", "port": broker_port},
        "models": {"manifest": str(MANIFEST), "threads": 1},
        "stream": {
            "open_timeout_s": 2,
            "read_timeout_s": 2,
            "stall_timeout_s": 3,
            "backoff_initial_s": 0.5,
            "backoff_max_s": 1,
        },
        "cameras": cameras,
    }
    data.update(extra)
    return EdgeConfig.model_validate(data)


class Collector:
    """Every message on ``topic`` (wildcards allowed) of a broker, JSON-decoded, as it comes."""

    def __init__(self, host: str, port: int, topic: str) -> None:
        self.messages: list[tuple[str, dict[str, Any]]] = []
        self.lock = threading.Lock()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
        self.client.on_message = self._on_message
        self.client.on_connect = lambda c, *_: c.subscribe(topic, qos=1)
        self.client.connect(host, port)
        self.client.loop_start()

    def _on_message(self, client: mqtt.Client, userdata: object, msg: mqtt.MQTTMessage) -> None:
        with self.lock:
            self.messages.append((msg.topic, json.loads(msg.payload)))

    def of_kind(self, kind: str) -> list[dict[str, Any]]:
        with self.lock:
            return [m for t, m in self.messages if t.endswith("/" + kind)]

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


@contextmanager
def running(node: EdgeNode) -> Iterator[EdgeNode]:
    """The node's loop in a thread for the ``with`` block; it must stop within 15 s after."""
    t = threading.Thread(target=node.run, name="node", daemon=True)
    t.start()
    try:
        yield node
    finally:
        node.stop()
        t.join(15)
        assert not t.is_alive(), "node did not stop"


def wait_until(cond: Callable[[], bool], timeout: float, step: float = 0.05) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(step)
    return cond()
