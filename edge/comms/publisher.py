"""MQTT publishing with paho-mqtt 2, behind the on-disk outbox.

Events are written to the :class:`~edge.comms.outbox.Outbox` first; a pump thread hands them to
paho in id order, at most ``window`` in flight, and deletes each row when its PUBACK arrives.
While the broker is away nothing new is handed over (paho resends what it already holds
after the reconnect); after a crash or power loss everything still in the outbox is sent
again on start. The center is idempotent on (event id, seq), so a resend changes nothing.

Node status: retained ``online`` at each connect, the last will ``offline``, a clean
``stopped`` at shutdown. Heartbeats go out directly at QoS 0 while connected: a stale
heartbeat replayed hours later would tell nothing true.

Remote configuration: with ``on_config`` set, the publisher subscribes to the node's retained
``…/config`` topic at each connect and hands every payload to it (on paho's network thread:
the callback must only queue). The status carries the applied / refused config version.

Live video: with ``on_live`` set, the publisher subscribes to the node's ``…/live-request`` and
hands every request to it (network thread again); :meth:`Publisher.send_live` answers on
``…/live-response`` directly, not through the outbox (an answer replayed later helps nobody).
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections.abc import Callable

import paho.mqtt.client as mqtt
from pydantic import BaseModel

from edge.comms.outbox import Outbox
from edge.config.mqtt import MqttConfig
from protocol import NodeState, NodeStatus, Topic, TopicKind, now_ms
from protocol.mqttsession import choose_v5, connect_kwargs, new_client

log = logging.getLogger("parkguard.edge.mqtt")


class Publisher:
    def __init__(
        self,
        cfg: MqttConfig,
        site: str,
        node: str,
        software: str,
        cameras: list[str],
        outbox: Outbox,
        window: int = 100,
    ) -> None:
        self.cfg = cfg
        self.site = site
        self.node = node
        self.software = software
        self.cameras = cameras
        self.outbox = outbox
        self.window = window
        self.connected = threading.Event()
        self.published = 0
        self.acked = 0
        self._cond = threading.Condition()
        self._inflight: dict[int, int] = {}  # paho mid → outbox row id
        self._acked: list[int] = []
        self._early: dict[int, float] = {}  # mids acked before they were recorded → when
        self._last_handed = 0
        self._running = False
        self._pump: threading.Thread | None = None
        self.config_version: int | None = None  # remote config version applied (None: local file)
        self.config_rejected: int | None = None
        self.config_error: str | None = None
        self.on_config: Callable[[bytes], None] | None = None
        self.on_live: Callable[[bytes], None] | None = None
        self.v5 = cfg.protocol == "5"  # "auto" is settled by a probe in start()
        self.client = self._make_client(self.v5)

    def _make_client(self, v5: bool) -> mqtt.Client:
        cfg = self.cfg
        client = new_client(cfg.client_id or f"parkguard-edge-{self.site}-{self.node}", v5)
        if cfg.username:
            client.username_pw_set(cfg.username, self._password())
        if cfg.tls is not None:
            cfg.tls.apply(client)
        client.max_inflight_messages_set(self.window)
        client.reconnect_delay_set(1, 30)
        client.will_set(
            self.topic(TopicKind.STATUS),
            self._status(NodeState.OFFLINE).model_dump_json(),
            qos=1,
            retain=True,
        )
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_publish = self._on_publish
        client.on_message = self._on_message
        return client

    def _password(self) -> str | None:
        if not self.cfg.password_env:
            return None
        password = os.environ.get(self.cfg.password_env)
        if password is None:
            log.warning("mqtt.password_env: environment variable %s is not set", self.cfg.password_env)
        return password

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
            config_version=self.config_version,
            config_rejected=self.config_rejected,
            config_error=self.config_error[:512] if self.config_error else None,
        )

    # -- paho callbacks (network thread) -----------------------------------------------------
    def _on_connect(
        self, client: mqtt.Client, userdata: object, flags: object, reason: object, props: object
    ) -> None:
        if getattr(reason, "is_failure", False):
            log.error("MQTT connect refused by %s:%s: %s", self.cfg.host, self.cfg.port, reason)
            return
        log.info("MQTT connected to %s:%s (outbox depth %d)", self.cfg.host, self.cfg.port, self.outbox.depth)
        client.publish(
            self.topic(TopicKind.STATUS), self._status(NodeState.ONLINE).model_dump_json(), qos=1, retain=True
        )
        if self.on_config is not None:  # the broker sends the retained config on every subscribe
            client.subscribe(self.topic(TopicKind.CONFIG), qos=1)
        if self.on_live is not None:
            client.subscribe(self.topic(TopicKind.LIVE_REQUEST), qos=1)
        with self._cond:
            self.connected.set()
            self._cond.notify_all()

    def _on_disconnect(
        self, client: mqtt.Client, userdata: object, flags: object, reason: object, props: object
    ) -> None:
        if not self._running:  # our own stop(): nothing to reconnect
            log.info("MQTT disconnected (node stopping)")
        elif self.connected.is_set():
            log.warning("MQTT disconnected (%s); reconnecting, events wait in the outbox", reason)
        self.connected.clear()

    def _on_publish(
        self, client: mqtt.Client, userdata: object, mid: int, reason: object, props: object
    ) -> None:
        if getattr(reason, "is_failure", False):  # MQTT 5 only: 3.1.1 brokers drop silently
            log.error("MQTT broker refused message %d: %s (check the broker's ACL)", mid, reason)
        with self._cond:
            row = self._inflight.pop(mid, None)
            if row is not None:
                self._acked.append(row)
            else:  # acked before the pump recorded it (or a status message): remember briefly
                self._early[mid] = time.monotonic()
            self._cond.notify_all()

    def _on_message(self, client: mqtt.Client, userdata: object, message: mqtt.MQTTMessage) -> None:
        handler = None
        if message.topic == self.topic(TopicKind.CONFIG):
            handler = self.on_config
        elif message.topic == self.topic(TopicKind.LIVE_REQUEST):
            handler = self.on_live
        if handler is None:
            log.warning("MQTT message on unexpected topic %r ignored", message.topic)
            return
        try:
            handler(bytes(message.payload))
        except Exception:  # never let a callback error reach paho's network thread
            log.exception("handler of %s failed", message.topic)

    # -- pump --------------------------------------------------------------------------------
    def _run_pump(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(
                    lambda: (
                        not self._running
                        or self._acked
                        or (self.connected.is_set() and len(self._inflight) < self.window and self._has_new())
                    ),
                    timeout=1.0,
                )
                acked, self._acked = self._acked, []
                room = self.window - len(self._inflight) if self.connected.is_set() else 0
                running = self._running
            if acked:
                self.outbox.ack(acked)
                self.acked += len(acked)
            if not running:
                return
            if room > 0:
                self._hand_over(room)

    def _has_new(self) -> bool:
        return self._newest > self._last_handed

    def _hand_over(self, room: int) -> None:
        # paho is called without our lock held: paho runs on_publish under its own lock, and
        # holding ours across publish() would invert the lock order (a deadlock, seen).
        for row in self.outbox.pending(self._last_handed, room):
            if not self.connected.is_set():
                return
            info = self.client.publish(row.topic, row.payload, qos=row.qos, retain=row.retain)
            if info.rc not in (mqtt.MQTT_ERR_SUCCESS, mqtt.MQTT_ERR_NO_CONN):
                log.error("MQTT publish of outbox row %d failed: rc=%s", row.id, info.rc)
                return
            with self._cond:
                if row.qos == 0 or self._early.pop(info.mid, None) is not None:
                    self._acked.append(row.id)
                else:
                    self._inflight[info.mid] = row.id
                self._last_handed = row.id
                self.published += 1
                if len(self._early) > 1000 or (
                    self._early and next(iter(self._early.values())) < time.monotonic() - 60
                ):
                    cutoff = time.monotonic() - 60
                    self._early = {m: t for m, t in self._early.items() if t >= cutoff}

    # -- API ---------------------------------------------------------------------------------
    def start(self) -> None:
        self._last_handed = 0
        self._newest = self.outbox.last_id()
        if self.outbox.depth:
            log.info("outbox holds %d message(s) from before; replaying them in order", self.outbox.depth)
        self._running = True
        self._pump = threading.Thread(target=self._run_pump, name="mqtt-pump", daemon=True)
        self._pump.start()
        if self.cfg.protocol == "auto":
            v5 = choose_v5(
                "auto",
                self.cfg.host,
                self.cfg.port,
                username=self.cfg.username,
                password=self._password() if self.cfg.username else None,
                tls=self.cfg.tls,
            )
            if v5 != self.v5:
                self.v5, self.client = v5, self._make_client(v5)
        self.client.connect_async(
            self.cfg.host, self.cfg.port, keepalive=self.cfg.keepalive, **connect_kwargs(self.v5)
        )
        self.client.loop_start()

    def send(self, kind: TopicKind, message: BaseModel, rank: int = 0, retain: bool = False) -> None:
        """Store the message durably, then let the pump deliver it."""
        row = self.outbox.put(
            self.topic(kind), message.model_dump_json().encode(), self.cfg.qos, retain, rank
        )
        with self._cond:
            self._newest = row
            self._cond.notify_all()

    def send_now(self, kind: TopicKind, message: BaseModel) -> bool:
        """Fire-and-forget at QoS 0 while connected (heartbeats); False when not sent."""
        if not self.connected.is_set():
            return False
        info = self.client.publish(self.topic(kind), message.model_dump_json(), qos=0)
        return info.rc == mqtt.MQTT_ERR_SUCCESS

    def send_live(self, message: BaseModel) -> bool:
        """A live-video answer, at once (QoS 1, not through the outbox); False when not connected."""
        if not self.connected.is_set():
            return False
        info = self.client.publish(self.topic(TopicKind.LIVE_RESPONSE), message.model_dump_json(), qos=1)
        return info.rc == mqtt.MQTT_ERR_SUCCESS

    def publish_status(self) -> bool:
        """Publish the retained ``online`` status now (after a config change); False when not connected."""
        if not self.connected.is_set():
            return False
        info = self.client.publish(
            self.topic(TopicKind.STATUS), self._status(NodeState.ONLINE).model_dump_json(), qos=1, retain=True
        )
        return info.rc == mqtt.MQTT_ERR_SUCCESS

    def drain(self, timeout: float) -> bool:
        """Wait until everything handed over is acknowledged and the outbox is empty."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._cond:
                if not self._inflight and not self._acked and self.outbox.depth == 0:
                    return True
            time.sleep(0.05)
        return False

    def stop(self, drain_s: float = 3.0) -> None:
        """Clean shutdown: deliver what can be delivered, retained ``stopped``, disconnect (no will).

        Bounded: at most ``drain_s`` for the outbox and 2 s for the status; what is not
        delivered by then stays in the outbox for the next start.
        """
        if self.connected.is_set():
            log.info("stopping: draining the outbox (%d waiting)", self.outbox.depth)
            if not self.drain(drain_s):
                log.warning(
                    "stopping: %d message(s) stay in the outbox for the next start", self.outbox.depth
                )
            info = self.client.publish(
                self.topic(TopicKind.STATUS),
                self._status(NodeState.STOPPED).model_dump_json(),
                qos=1,
                retain=True,
            )
            with contextlib.suppress(RuntimeError, ValueError):
                info.wait_for_publish(timeout=2)
        with self._cond:
            self._running = False
            self._cond.notify_all()
        if self._pump:
            self._pump.join(2)
        self.client.disconnect()
        self.client.loop_stop()
        self.outbox.close()
