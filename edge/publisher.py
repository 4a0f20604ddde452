"""MQTT publishing with paho-mqtt 2: QoS 1 events, retained birth/death status, heartbeats.

The durable on-disk outbox comes in front of this (see the messaging issue); here paho's own
queue holds QoS 1 messages while the broker is away, and the client reconnects by itself.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading

import paho.mqtt.client as mqtt
from pydantic import BaseModel

from edge.config import MqttConfig
from protocol import NodeState, NodeStatus, Topic, TopicKind, now_ms

log = logging.getLogger("parkguard.edge.mqtt")


class Publisher:
    def __init__(self, cfg: MqttConfig, site: str, node: str, software: str, cameras: list[str]) -> None:
        self.cfg = cfg
        self.site = site
        self.node = node
        self.software = software
        self.cameras = cameras
        self.connected = threading.Event()
        self.published = 0
        self.client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2,
            client_id=cfg.client_id or f"parkguard-edge-{site}-{node}",
            protocol=mqtt.MQTTv311,
            clean_session=False,
        )
        if cfg.username:
            password = os.environ.get(cfg.password_env or "", None) if cfg.password_env else None
            self.client.username_pw_set(cfg.username, password)
        self.client.max_queued_messages_set(0)  # unbounded in memory until the outbox lands
        self.client.max_inflight_messages_set(100)
        self.client.reconnect_delay_set(1, 30)
        self.client.will_set(
            self.topic(TopicKind.STATUS),
            self._status(NodeState.OFFLINE).model_dump_json(),
            qos=1,
            retain=True,
        )
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect

    def topic(self, kind: TopicKind) -> str:
        return Topic.of(self.site, self.node, kind)

    def _status(self, state: NodeState) -> NodeStatus:
        return NodeStatus(
            site=self.site,
            node=self.node,
            state=state,
            ts_ms=now_ms(),
            software=self.software,
            cameras=self.cameras,
        )

    def _on_connect(
        self, client: mqtt.Client, userdata: object, flags: object, reason: object, props: object
    ) -> None:
        if getattr(reason, "is_failure", False):
            log.error("MQTT connect refused by %s:%s: %s", self.cfg.host, self.cfg.port, reason)
            return
        log.info("MQTT connected to %s:%s", self.cfg.host, self.cfg.port)
        self.connected.set()
        client.publish(
            self.topic(TopicKind.STATUS), self._status(NodeState.ONLINE).model_dump_json(), qos=1, retain=True
        )

    def _on_disconnect(
        self, client: mqtt.Client, userdata: object, flags: object, reason: object, props: object
    ) -> None:
        if self.connected.is_set():
            log.warning("MQTT disconnected (%s); reconnecting", reason)
        self.connected.clear()

    def start(self) -> None:
        self.client.connect_async(self.cfg.host, self.cfg.port, keepalive=self.cfg.keepalive)
        self.client.loop_start()

    def publish(self, kind: TopicKind, message: BaseModel, retain: bool = False) -> None:
        info = self.client.publish(
            self.topic(kind), message.model_dump_json(), qos=self.cfg.qos, retain=retain
        )
        if info.rc not in (mqtt.MQTT_ERR_SUCCESS, mqtt.MQTT_ERR_NO_CONN):
            log.error("MQTT publish to %s failed: rc=%s", self.topic(kind), info.rc)
        self.published += 1

    def stop(self) -> None:
        """Clean shutdown: retained ``stopped`` status, then disconnect (no last will)."""
        if self.connected.is_set():
            info = self.client.publish(
                self.topic(TopicKind.STATUS),
                self._status(NodeState.STOPPED).model_dump_json(),
                qos=1,
                retain=True,
            )
            with contextlib.suppress(RuntimeError, ValueError):
                info.wait_for_publish(timeout=3)
        self.client.disconnect()
        self.client.loop_stop()
