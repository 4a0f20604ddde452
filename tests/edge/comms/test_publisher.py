"""The publisher against a real broker: its own clean stop is not reported as a lost link."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest

from edge.comms.outbox import Outbox
from edge.comms.publisher import Publisher
from edge.config.mqtt import MqttConfig
from tests.centerkit import wait_for

pytestmark = pytest.mark.e2e


def test_a_clean_stop_logs_no_warning_but_a_broker_loss_does(
    tmp_path: Path, mosquitto_factory: Any, caplog: pytest.LogCaptureFixture
) -> None:
    broker = mosquitto_factory()
    cfg = MqttConfig(host=broker.host, port=broker.port)

    def publisher(name: str) -> Publisher:
        pub = Publisher(cfg, "yijia", name, "test", ["cam-1"], Outbox(tmp_path / f"{name}.sqlite"))
        pub.start()
        wait_for(pub.connected.is_set, 10, "publisher connected")
        return pub

    caplog.set_level(logging.INFO, logger="parkguard.edge.mqtt")
    pub = publisher("edge-a")
    pub.stop()
    assert "MQTT disconnected (node stopping)" in caplog.text
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING], caplog.text

    caplog.clear()
    pub = publisher("edge-b")
    broker.stop()  # the link really goes: that is worth a warning
    wait_for(lambda: not pub.connected.is_set(), 10, "publisher sees the broker gone")
    assert any("reconnecting, events wait in the outbox" in r.getMessage() for r in caplog.records)
    pub.stop(drain_s=0.1)
