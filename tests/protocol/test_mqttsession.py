"""MQTT version choice and persistent sessions (protocol/mqttsession.py) on real brokers.

``protocol: auto`` uses MQTT 5 where the broker speaks it (Mosquitto 2) and 3.1.1 where it does not
(amqtt, the demo's embedded broker). Either way the session must outlive a disconnect and a broker
restart: under MQTT 5 that needs a session expiry interval, or the broker forgets the subscription
and the messages published while the subscriber was away.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest

from protocol.mqttsession import choose_v5, connect_kwargs, new_client, probe_mqtt5
from tests.support.ports import free_port

REPO = Path(__file__).resolve().parents[2]


def test_probe_tells_mqtt5_brokers_from_311_only_and_absent_ones(mosquitto: Any) -> None:
    assert probe_mqtt5(mosquitto.host, mosquitto.port) is True
    port = free_port()
    amqtt = subprocess.Popen(
        [sys.executable, "-m", "center.cli", "broker", "--host", "127.0.0.1", "--port", str(port)],
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 20
        answer = None
        while answer is None and time.monotonic() < deadline:  # None until it listens
            answer = probe_mqtt5("127.0.0.1", port, timeout=2)
            time.sleep(0.2)
        assert answer is False
        assert choose_v5("auto", "127.0.0.1", port) is False
    finally:
        amqtt.terminate()
        amqtt.wait(10)
    assert probe_mqtt5("127.0.0.1", free_port(), timeout=2) is None  # nobody listens
    assert (
        choose_v5("5", "127.0.0.1", 1) is True and choose_v5("3.1.1", mosquitto.host, mosquitto.port) is False
    )


class Subscriber:
    """A persistent-session QoS 1 subscriber made the way the center makes its client."""

    def __init__(self, broker: Any, v5: bool, client_id: str) -> None:
        self.got: list[bytes] = []
        self.ready = threading.Event()
        self.client = new_client(client_id, v5)
        self.client.on_connect = lambda c, *_: (c.subscribe("pg/test", qos=1), self.ready.set())
        self.client.on_message = lambda _c, _u, msg: self.got.append(msg.payload)
        self.client.connect(broker.host, broker.port, keepalive=10, **connect_kwargs(v5))
        self.client.loop_start()
        assert self.ready.wait(10)
        time.sleep(0.3)  # the SUBACK

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def publish(broker: Any, payloads: list[bytes]) -> None:
    pub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv311)
    pub.connect(broker.host, broker.port)
    pub.loop_start()
    try:
        for p in payloads:
            pub.publish("pg/test", p, qos=1).wait_for_publish(10)
    finally:
        pub.disconnect()
        pub.loop_stop()


@pytest.mark.parametrize("v5", [True, False], ids=["mqtt5", "mqtt311"])
def test_session_keeps_messages_while_away_and_over_a_broker_restart(mosquitto: Any, v5: bool) -> None:
    sub = Subscriber(mosquitto, v5, f"pg-session-{v5}")
    sub.close()  # away: the broker keeps the session
    publish(mosquitto, [b"a", b"b"])
    mosquitto.restart()  # persistence on: sessions and queued messages survive a clean restart
    publish(mosquitto, [b"c"])
    sub = Subscriber(mosquitto, v5, f"pg-session-{v5}")
    try:
        deadline = time.monotonic() + 10
        while len(sub.got) < 3 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert sorted(sub.got) == [b"a", b"b", b"c"]
    finally:
        sub.close()
