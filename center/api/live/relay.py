"""The center's side of live-video signaling: publish a viewer's offer to the node on
``…/{node}/live-request`` and wait for the node's answer on ``…/{node}/live-response``.

Its own MQTT connection (clean session, MQTT 3.1.1, a client id of its own per replica): the
ingest's session is persistent and acknowledges after a database commit, which a request
waiting for an answer must not share. Every replica hears every answer; each takes only those
to its own requests (by ``request_id``, from the node it asked).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import uuid
from typing import Any

import paho.mqtt.client as mqtt
from pydantic import ValidationError

from center.config import MqttConfig
from protocol import LiveRequest, LiveResponse, Topic, TopicKind, parse_topic
from protocol.topics import subscription

log = logging.getLogger(__name__)


class LiveRelay:
    def __init__(self, config: MqttConfig, site: str) -> None:
        self.config = config
        self.site = site
        self.published = 0  # requests handed to the broker (tests: nothing published for a refusal)
        self._pending: dict[str, tuple[asyncio.AbstractEventLoop, asyncio.Future[LiveResponse], str]] = {}
        self._lock = threading.Lock()
        self._connected = threading.Event()
        client_id = f"{config.client_id[:40]}-live-{uuid.uuid4().hex[:8]}"
        self._client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv311, clean_session=True
        )
        if config.username is not None:
            self._client.username_pw_set(config.username, config.password())
        if config.tls is not None:
            config.tls.apply(self._client)
        self._client.reconnect_delay_set(1, 30)
        self._client.on_connect = self._on_connect
        self._client.on_disconnect = self._on_disconnect
        self._client.on_message = self._on_message

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    def start(self) -> None:
        self._client.connect_async(self.config.host, self.config.port, keepalive=self.config.keepalive)
        self._client.loop_start()

    def stop(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()
        self._connected.clear()

    # -- paho's thread ---------------------------------------------------------------------------
    def _on_connect(self, client: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        if reason.is_failure:
            log.error("live signaling: MQTT broker refused the connection: %s", reason)
            return
        client.subscribe(subscription(TopicKind.LIVE_RESPONSE, site=self.site), qos=1)
        self._connected.set()
        log.info("live signaling connected to MQTT broker %s:%s", self.config.host, self.config.port)

    def _on_disconnect(self, _c: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        self._connected.clear()

    def _on_message(self, _c: mqtt.Client, _u: Any, message: mqtt.MQTTMessage) -> None:
        topic = parse_topic(message.topic)
        if topic is None or topic.kind is not TopicKind.LIVE_RESPONSE:
            return
        try:
            resp = LiveResponse.model_validate_json(bytes(message.payload))
        except ValidationError as exc:
            log.warning("live answer on %s refused: %s", message.topic, exc.errors()[0]["msg"])
            return
        with self._lock:
            pending = self._pending.get(resp.request_id)
        if pending is None:
            return  # another replica's, or one we gave up on
        loop, fut, node = pending
        if topic.node != node or resp.node != node:
            log.warning(
                "live answer to %s came from node %s, not %s; ignored", resp.request_id, topic.node, node
            )
            return

        def deliver() -> None:
            if not fut.done():
                fut.set_result(resp)

        loop.call_soon_threadsafe(deliver)

    # -- asyncio ---------------------------------------------------------------------------------
    async def request(self, req: LiveRequest, timeout: float) -> LiveResponse | None:
        """Publish ``req`` and wait for its answer; None when none came within ``timeout``."""
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[LiveResponse] = loop.create_future()
        with self._lock:
            self._pending[req.request_id] = (loop, fut, req.node)
        try:
            info = self._client.publish(
                Topic.of(req.site, req.node, TopicKind.LIVE_REQUEST), req.model_dump_json(), qos=1
            )
            if info.rc != mqtt.MQTT_ERR_SUCCESS:
                return None
            self.published += 1
            return await asyncio.wait_for(fut, timeout)
        except TimeoutError:
            return None
        finally:
            with self._lock:
                self._pending.pop(req.request_id, None)

    def send(self, req: LiveRequest) -> bool:
        """Publish without waiting (a viewer closing its session)."""
        info = self._client.publish(
            Topic.of(req.site, req.node, TopicKind.LIVE_REQUEST), req.model_dump_json(), qos=1
        )
        if info.rc == mqtt.MQTT_ERR_SUCCESS:
            self.published += 1
            return True
        return False
