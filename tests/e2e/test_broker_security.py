"""Broker security with real Mosquitto: password auth, per-node ACLs, secrets kept out of logs.

The password file and ACL are the ones ``parkguard-center broker-accounts`` writes for a
site, so these tests check the tool as much as the broker. What Mosquitto 2.0 really does
with a publish the ACL forbids: over MQTT 3.1.1 it acknowledges and drops it (PUBACK
success); over MQTT 5 the PUBACK carries reason code 135 "Not authorized". Either way the
message never reaches the center.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest

from center.config import MqttConfig
from center.ingest.subscriber import Ingest
from center.store import db
from center.store.models import Alert, Quarantine
from protocol import Topic, new_event_id
from tests.centerkit import event, register_cameras, register_cameras_at, wait_for
from tests.support.mosquitto import MosquittoBroker
from tests.support.ports import free_port
from tests.support.procs import ManagedProcess

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
SITE = "yijia"
NODES = ["node-a", "node-b"]
CENTER_USER = "parkguard-center"


def center_yaml(workdir: Path, mqtt_port: int, http_port: int = 0, **mqtt_extra: Any) -> Path:
    mqtt_cfg = {"host": "127.0.0.1", "port": mqtt_port, "client_id": f"center-{uuid.uuid4().hex[:6]}"}
    mqtt_cfg.update(mqtt_extra)
    path = workdir / "center.yaml"
    path.write_text(
        json.dumps(
            {
                "site": SITE,
                "database": {"url": "sqlite:///center.db"},
                "mqtt": mqtt_cfg,
                "http": {"host": "127.0.0.1", "port": http_port},
            }
        ),
        encoding="utf-8",
    )
    return path


def make_accounts(workdir: Path, nodes: list[str], env: dict[str, str]) -> Path:
    """Run the real CLI; returns the folder holding passwd, acl (and credentials.env)."""
    out = workdir / "broker-accounts"
    cfg = center_yaml(workdir, 1883, username=CENTER_USER, password_env="PG_TEST_CENTER_PW")
    args = [str(BIN / "parkguard-center"), "broker-accounts", "--config", str(cfg), "--out", str(out)]
    for node in nodes:
        args += ["--node", node]
    result = subprocess.run(
        args, capture_output=True, text=True, timeout=60, env={**os.environ, **env}, check=False
    )
    assert result.returncode == 0, result.stderr
    for secret in env.values():
        assert secret not in result.stdout + result.stderr
    return out


@pytest.fixture
def passwords() -> dict[str, str]:
    return {user: f"pw-{user}-{uuid.uuid4().hex}" for user in [CENTER_USER, *NODES]}


@pytest.fixture
def secure_broker(
    tmp_workdir: Path, mosquitto_factory: Callable[..., MosquittoBroker], passwords: dict[str, str]
) -> MosquittoBroker:
    env = {"PG_TEST_CENTER_PW": passwords[CENTER_USER]}
    env |= {f"PARKGUARD_MQTT_PASSWORD_{n.upper().replace('-', '_')}": passwords[n] for n in NODES}
    out = make_accounts(tmp_workdir, NODES, env)
    assert not (out / "credentials.env").exists(), "every password was given: none should be generated"
    assert all(p not in (out / "passwd").read_text() for p in passwords.values())
    assert (out / "passwd").stat().st_mode & 0o077 == 0
    return mosquitto_factory(
        allow_anonymous=False, extra_config=f"password_file {out / 'passwd'}\nacl_file {out / 'acl'}"
    )


class Client:
    """A paho client that records what the broker answers."""

    def __init__(
        self, broker: MosquittoBroker, user: str | None, password: str | None, proto: int = mqtt.MQTTv311
    ) -> None:
        self.client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2, client_id=f"{user}-{uuid.uuid4().hex[:6]}", protocol=proto
        )
        if user is not None:
            self.client.username_pw_set(user, password)
        self.connack: Any = None
        self.pubacks: dict[int, Any] = {}
        self.received: list[tuple[str, bytes]] = []
        self.client.on_connect = lambda c, u, f, rc, p: setattr(self, "connack", rc)
        self.client.on_publish = lambda c, u, mid, rc, p: self.pubacks.__setitem__(mid, rc)
        self.client.on_message = lambda c, u, m: self.received.append((m.topic, bytes(m.payload)))
        self.client.connect(broker.host, broker.port)
        self.client.loop_start()
        wait_for(lambda: self.connack is not None, 10, "CONNACK")

    def publish(self, topic: str, payload: dict[str, Any] | bytes, retain: bool = False) -> Any:
        data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        info = self.client.publish(topic, data, qos=1, retain=retain)
        return wait_for(lambda: self.pubacks.get(info.mid), 10, "PUBACK")

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


@pytest.fixture
def ingest(tmp_workdir: Path, secure_broker: MosquittoBroker, passwords: dict[str, str]) -> Iterator[Any]:
    engine = db.make_engine(f"sqlite:///{tmp_workdir / 'center.db'}")
    db.upgrade(engine)
    factory = db.make_session_factory(engine)
    register_cameras(factory, {"cam-gate": ("node-a", "ent-a")})  # tests.centerkit.event()'s camera
    os.environ["PG_TEST_CENTER_PW"] = passwords[CENTER_USER]
    cfg = MqttConfig(
        host=secure_broker.host,
        port=secure_broker.port,
        username=CENTER_USER,
        password_env="PG_TEST_CENTER_PW",
        client_id=f"center-{uuid.uuid4().hex[:6]}",
    )
    ing = Ingest(cfg, SITE, factory)
    ing.start()
    assert ing.wait_connected(10), "the center's account was refused"
    time.sleep(0.3)
    yield ing, factory
    ing.stop()
    engine.dispose()
    os.environ.pop("PG_TEST_CENTER_PW", None)


def stored(factory: Any, event_id: str) -> bool:
    with factory() as s:
        return s.get(Alert, event_id) is not None


def quarantined(factory: Any) -> int:
    with factory() as s:
        return s.query(Quarantine).count()


@pytest.mark.parametrize("proto", [mqtt.MQTTv311, mqtt.MQTTv5], ids=["mqtt311", "mqtt5"])
def test_a_node_cannot_publish_under_another_nodes_prefix(
    ingest: Any, secure_broker: MosquittoBroker, passwords: dict[str, str], proto: int
) -> None:
    _ing, factory = ingest
    a = Client(secure_broker, "node-a", passwords["node-a"], proto)
    try:
        forged = event(new_event_id(), node="node-b")
        ack = a.publish(Topic.of(SITE, "node-b", "event"), forged)
        if proto == mqtt.MQTTv5:
            assert ack.is_failure and ack.value == 135, f"expected 'Not authorized', got {ack}"
        else:
            assert not ack.is_failure  # MQTT 3.1.1 has no way to say no: the broker drops it
        own = event(new_event_id(), node="node-a")
        assert not a.publish(Topic.of(SITE, "node-a", "event"), own).is_failure
        wait_for(lambda: stored(factory, own["event_id"]), 15, "node-a's own event at the center")
        time.sleep(0.5)  # the forged one was published first: it would have arrived by now
        assert not stored(factory, forged["event_id"]), "the center stored a forged event"
        assert quarantined(factory) == 0, "the forged event reached the center (quarantined)"
        # nor may it write under the status/heartbeat/config of another node
        for kind in ("status", "heartbeat", "config"):
            ack = a.publish(Topic.of(SITE, "node-b", kind), b"{}")
            assert (ack.value == 135) == (proto == mqtt.MQTTv5)
        ack = a.publish(Topic.of(SITE, "node-a", "config"), b"{}")  # its own config: the center's to write
        assert (ack.value == 135) == (proto == mqtt.MQTTv5)
        time.sleep(0.5)
        assert quarantined(factory) == 0
    finally:
        a.close()


def test_a_node_reads_only_its_own_config(secure_broker: MosquittoBroker, passwords: dict[str, str]) -> None:
    center = Client(secure_broker, CENTER_USER, passwords[CENTER_USER])
    for node in NODES:
        assert not center.publish(Topic.of(SITE, node, "config"), {"for": node}, retain=True).is_failure
    b = Client(secure_broker, "node-b", passwords["node-b"])
    b.publish(Topic.of(SITE, "node-b", "event"), event(new_event_id(), node="node-b"))
    a = Client(secure_broker, "node-a", passwords["node-a"])
    try:
        a.client.subscribe([("parkguard/v1/yijia/+/config", 1), ("parkguard/v1/yijia/+/event", 1)])
        wait_for(lambda: a.received, 10, "node-a's own retained config")
        b.publish(Topic.of(SITE, "node-b", "event"), event(new_event_id(), node="node-b"))
        time.sleep(1.0)
        assert a.received == [(Topic.of(SITE, "node-a", "config"), b'{"for": "node-a"}')]
    finally:
        for c in (a, b, center):
            c.close()


def test_live_signaling_topics_follow_the_acl(
    secure_broker: MosquittoBroker, passwords: dict[str, str]
) -> None:
    """Live video signaling: the center writes a node's live-request and reads every node's
    live-response; a node reads only its own requests and answers only under its own prefix
    (MQTT 5, so the broker's refusals are told)."""
    center = Client(secure_broker, CENTER_USER, passwords[CENTER_USER], mqtt.MQTTv5)
    a = Client(secure_broker, "node-a", passwords["node-a"], mqtt.MQTTv5)
    try:
        center.client.subscribe("parkguard/v1/yijia/+/live-response", qos=1)
        a.client.subscribe("parkguard/v1/yijia/+/live-request", qos=1)
        time.sleep(0.5)
        for node in NODES:
            assert not center.publish(Topic.of(SITE, node, "live-request"), {"to": node}).is_failure
        wait_for(lambda: a.received, 10, "node-a's own live request")
        assert not a.publish(Topic.of(SITE, "node-a", "live-response"), {"from": "node-a"}).is_failure
        assert a.publish(Topic.of(SITE, "node-b", "live-response"), {"from": "node-a"}).value == 135
        assert a.publish(Topic.of(SITE, "node-b", "live-request"), {"to": "node-b"}).value == 135
        wait_for(lambda: center.received, 10, "node-a's answer at the center")
        time.sleep(1.0)
        assert a.received == [(Topic.of(SITE, "node-a", "live-request"), b'{"to": "node-a"}')]
        assert center.received == [(Topic.of(SITE, "node-a", "live-response"), b'{"from": "node-a"}')]
    finally:
        for c in (a, center):
            c.close()


@pytest.mark.parametrize("who", ["wrong-password", "unknown-user", "anonymous"])
def test_bad_credentials_are_refused(
    secure_broker: MosquittoBroker, passwords: dict[str, str], who: str
) -> None:
    user, password = {
        "wrong-password": ("node-a", passwords["node-b"]),
        "unknown-user": ("node-z", "whatever-password"),
        "anonymous": (None, None),
    }[who]
    c = Client(secure_broker, user, password)
    try:
        assert c.connack.is_failure, f"{who}: the broker let it in ({c.connack})"
        assert str(c.connack) == "Not authorized"
    finally:
        c.close()


def test_broker_accounts_generates_missing_passwords(tmp_workdir: Path) -> None:
    # the center's password is the operator's (its config names the variable); nodes get generated ones
    out = make_accounts(tmp_workdir, ["edge-01", "edge-02:cam-box-2"], {"PG_TEST_CENTER_PW": "c" * 16})
    creds = dict(
        line.split("=", 1) for line in (out / "credentials.env").read_text().splitlines() if line.strip()
    )
    assert set(creds) == {
        "PARKGUARD_MQTT_PASSWORD_EDGE_01",
        "PARKGUARD_MQTT_PASSWORD_CAM_BOX_2",
    }
    assert (out / "credentials.env").stat().st_mode & 0o077 == 0
    acl = (out / "acl").read_text()
    assert "user cam-box-2\ntopic write parkguard/v1/yijia/edge-02/event" in acl
    users = [line.split(":", 1)[0] for line in (out / "passwd").read_text().splitlines()]
    assert users == [CENTER_USER, "edge-01", "cam-box-2"]
    cli = [str(BIN / "parkguard-center"), "broker-accounts", "--config", str(tmp_workdir / "center.yaml")]
    bad = subprocess.run(
        [*cli, "--out", str(out), "--node", "bad/node"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PG_TEST_CENTER_PW": "x" * 12},
        check=False,
    )
    assert bad.returncode == 2 and "'bad/node' is not a valid" in bad.stderr


def edge_yaml(workdir: Path, mqtt_port: int, node: str) -> Path:
    path = workdir / f"{node}.yaml"
    path.write_text(
        f"""site: {SITE}
node: {node}
analysis_fps: 4
heartbeat_s: 1
evidence_dir: ev-{node}
state_dir: state-{node}
mqtt: {{host: 127.0.0.1, port: {mqtt_port}, username: {node}, password_env: PG_NODE_PW}}
models: {{manifest: {REPO / "models" / "manifest.yaml"}, threads: 1}}
cameras:
  - id: cam-{node}
    url: {REPO / "samples" / "vtest-walkway.mp4"}
    zones:
      - {{id: walkway, points: [[0.0, 0.25], [1.0, 0.2], [1.0, 0.75], [0.0, 0.8]]}}
    rules:
      - {{id: walkway-people, type: intrusion, zone: walkway, confirm_frames: 2, end_after_s: 1,
         cooldown_s: 0, update_interval_s: 1}}
""",
        encoding="utf-8",
    )
    return path


def test_edge_and_center_with_accounts_end_to_end_and_no_secret_in_logs(
    tmp_workdir: Path, secure_broker: MosquittoBroker, passwords: dict[str, str]
) -> None:
    http_port = free_port()
    cfg = center_yaml(
        tmp_workdir, secure_broker.port, http_port, username=CENTER_USER, password_env="PG_TEST_CENTER_PW"
    )
    center = ManagedProcess(
        [BIN / "parkguard-center", "serve", "--config", cfg, "--log-level", "DEBUG"],
        name="center",
        log_dir=tmp_workdir,
        extra_env={"PG_TEST_CENTER_PW": passwords[CENTER_USER]},
        ready_url=f"http://127.0.0.1:{http_port}/api/health",
        ready_timeout=60,
    )
    edge = ManagedProcess(
        [BIN / "parkguard-edge", "run", "--config", edge_yaml(tmp_workdir, secure_broker.port, "node-a")],
        name="edge",
        log_dir=tmp_workdir,
        extra_env={"PG_NODE_PW": passwords["node-a"]},
    )
    register_cameras_at(f"sqlite:///{tmp_workdir / 'center.db'}", {"cam-node-a": ("node-a", "ent-a")})
    with center, edge:
        center.wait_for_line(r"connected to MQTT broker", timeout=30)
        edge.wait_for_line(r"MQTT connected", timeout=60)
        edge.wait_for_line(r"event new ", timeout=120)

        def events() -> list[tuple[str, str]]:
            with sqlite3.connect(tmp_workdir / "center.db") as conn:
                return conn.execute("select node, camera from alerts").fetchall()

        rows = wait_for(events, 30, "the edge's events at the center")
        assert set(rows) == {("node-a", "cam-node-a")}
        with sqlite3.connect(tmp_workdir / "center.db") as conn:
            assert conn.execute("select state from nodes where node = 'node-a'").fetchone() == ("online",)
    logs = [center.log_path, edge.log_path, secure_broker.log_path]
    text = "".join(p.read_text(errors="replace") for p in logs)
    assert "node-a" in text  # the logs are the real ones
    for secret in passwords.values():
        assert secret not in text, "a password leaked into a log"
