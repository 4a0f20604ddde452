"""MQTT ingest: subscribe, validate with the contract, store, acknowledge after commit.

Threads: paho's network thread only queues what arrives; one worker thread validates,
writes to the database and then acknowledges (``manual_ack``), so nothing blocks the
asyncio loop and a message the database did not commit is redelivered by the broker.
Anything that does not pass the contract goes to the ``quarantine`` table with the reason.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import paho.mqtt.client as mqtt
from sqlalchemy import exc as sa_exc
from sqlalchemy.orm import Session, sessionmaker

from center.config import MqttConfig
from center.domain.errors import first_line
from center.domain.nodes import unpublished_configs
from center.ingest.process import NewAlerts, Received, Result, process, process_batch, quarantine
from center.ingest.registry import CameraRegistry
from protocol import NodeConfig, Topic, TopicKind, now_ms
from protocol.mqttsession import choose_v5, connect_kwargs, new_client
from protocol.topics import subscription

if TYPE_CHECKING:
    from center.metrics import CenterMetrics

log = logging.getLogger(__name__)

BATCH_MAX = 500  # messages committed in one transaction at most
CONFIG_RETRY_S = 30.0

AlertListener = Callable[[dict[str, Any]], None]


def subscriptions(shared_group: str | None, events: bool = True) -> list[tuple[str, int]]:
    """Events and heartbeats through a shared subscription (replicas split them); node status
    without one, because brokers do not send retained messages to shared subscriptions and
    every replica should know each node's last birth/death. No group: plain subscriptions
    (a broker without ``$share``, such as the demo's amqtt)."""
    share = f"$share/{shared_group}/" if shared_group else ""
    if not events:  # events and heartbeats come from elsewhere (center/ingest/jetstream.py)
        return [(subscription(TopicKind.STATUS), 1)]
    return [
        (f"{share}{subscription(TopicKind.EVENT)}", 1),
        (f"{share}{subscription(TopicKind.HEARTBEAT)}", 1),
        (subscription(TopicKind.STATUS), 1),
    ]


_STOP = object()
_TRANSIENT = (sa_exc.OperationalError, sa_exc.InterfaceError, sa_exc.TimeoutError)


class Ingest:
    """The MQTT subscriber of the center; ``start()`` returns at once and reconnects forever."""

    def __init__(
        self,
        mqtt_config: MqttConfig,
        site: str,
        factory: sessionmaker[Session],
        on_alert: AlertListener | None = None,
        on_new: NewAlerts | None = None,
        on_changed: NewAlerts | None = None,
        events: bool = True,
    ) -> None:
        self.config = mqtt_config
        self.events = events  # False: subscribe to node status only (events come from JetStream)
        self.site = site
        self.factory = factory
        self.cameras = CameraRegistry(factory)  # who may send for which camera (cached)
        self.on_alert = on_alert
        self.on_new = on_new  # the notifier's enqueue, in the ingest's transaction
        self.on_changed = on_changed  # the feed's announcement to other replicas, in the transaction
        self.counts: dict[str, int] = {}
        self.metrics: CenterMetrics | None = None  # commit time and arrival lag (center/metrics.py)
        self._queue: queue.Queue[Received | object] = queue.Queue(maxsize=1000)
        self._stopping = threading.Event()
        self._connected = threading.Event()
        self._generation = 0  # bumped on every (re)connect: a message id is only valid in its connection
        self._worker: threading.Thread | None = None
        self.v5 = self.config.protocol == "5"  # "auto" is settled by a probe in start()
        self._client = self._make_client()

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    @property
    def queue_depth(self) -> int:
        """Messages received and not yet stored (nor acknowledged)."""
        return self._queue.qsize()

    def wait_connected(self, timeout: float) -> bool:
        return self._connected.wait(timeout)

    def _make_client(self) -> mqtt.Client:
        # a persistent session: the broker keeps our subscriptions and unacked messages
        client = new_client(self.config.client_id, self.v5, manual_ack=True)
        if self.config.username is not None:
            client.username_pw_set(self.config.username, self.config.password())
        if self.config.tls is not None:
            self.config.tls.apply(client)
        client.reconnect_delay_set(min_delay=1, max_delay=30)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        return client

    # --- lifecycle ----------------------------------------------------------------------

    def start(self) -> None:
        self._worker = threading.Thread(target=self._work, name="center-ingest", daemon=True)
        self._worker.start()
        log.info("connecting to MQTT broker %s:%s", self.config.host, self.config.port)
        if self.config.protocol == "auto":
            v5 = choose_v5(
                "auto",
                self.config.host,
                self.config.port,
                username=self.config.username,
                password=self.config.password() if self.config.username is not None else None,
                tls=self.config.tls,
            )
            if v5 != self.v5:
                self.v5 = v5
                self._client = self._make_client()
        self._client.connect_async(
            self.config.host, self.config.port, keepalive=self.config.keepalive, **connect_kwargs(self.v5)
        )
        self._client.loop_start()
        threading.Thread(target=self._retry_configs, name="center-config-retry", daemon=True).start()

    def stop(self, timeout: float = 10.0) -> None:
        """Disconnect and finish the message being stored; queued, unacked ones are redelivered."""
        self._stopping.set()
        self._client.disconnect()
        self._client.loop_stop()
        self._connected.clear()
        while True:  # drop what is queued: it was not acked, the broker keeps it for us
            try:
                self._queue.get_nowait()
            except queue.Empty:
                break
        self._queue.put(_STOP)
        if self._worker is not None:
            self._worker.join(timeout)
        log.info("ingest stopped")

    # --- paho callbacks (network thread: never block long, never raise) -------------------

    def _on_connect(self, client: mqtt.Client, _userdata: Any, flags: Any, reason: Any, _props: Any) -> None:
        if reason.is_failure:
            log.error("MQTT broker refused the connection: %s", reason)
            return
        self._generation += 1
        client.subscribe(subscriptions(self.config.shared_group, self.events))
        self._connected.set()
        threading.Thread(target=self._republish_configs, name="center-config-publish", daemon=True).start()
        log.info(
            "connected to MQTT broker %s:%s (session present: %s)",
            self.config.host,
            self.config.port,
            getattr(flags, "session_present", None),
        )

    def _on_disconnect(self, _client: mqtt.Client, _userdata: Any, _flags: Any, reason: Any, _p: Any) -> None:
        self._connected.clear()
        if not self._stopping.is_set():
            log.warning("disconnected from MQTT broker (%s); reconnecting", reason)

    def _on_message(self, _client: mqtt.Client, _userdata: Any, message: mqtt.MQTTMessage) -> None:
        try:
            item = Received(message.topic, bytes(message.payload), message.mid, message.qos, self._generation)
            while not self._stopping.is_set():
                try:
                    self._queue.put(item, timeout=0.5)
                    return
                except queue.Full:
                    continue
        except Exception:
            log.exception("could not queue a message on %r", getattr(message, "_topic", b""))

    # --- remote configuration of nodes (center → edge, retained) ---------------------------

    def publish_config(self, msg: NodeConfig, timeout: float = 5.0) -> bool:
        """Publish a node's config retained at QoS 1; True once the broker acknowledged it."""
        if not self.connected:
            return False
        info = self._client.publish(
            Topic.of(msg.site, msg.node, TopicKind.CONFIG), msg.model_dump_json(), qos=1, retain=True
        )
        try:
            info.wait_for_publish(timeout)
        except (RuntimeError, ValueError):
            return False
        return info.is_published()

    def _retry_configs(self) -> None:
        """Configs whose publish timed out while connected are tried again every 30 s."""
        while not self._stopping.wait(CONFIG_RETRY_S):
            if self.connected:
                self._republish_configs()

    def _republish_configs(self) -> None:
        """After a (re)connect: hand over configs stored while the broker was away."""
        try:
            with self.factory() as session:
                rows = unpublished_configs(session, self.site)
                for row in rows:
                    msg = NodeConfig(
                        site=row.site, node=row.node, version=row.version, config=row.config,
                        ts_ms=row.created_ms, by=row.created_by,
                    )  # fmt: skip
                    if not self.publish_config(msg):
                        log.warning("config v%d of node %s not published yet", row.version, row.node)
                        return
                    row.published_ms = now_ms()
                    session.commit()
                    log.info("published config v%d of node %s", row.version, row.node)
        except Exception:
            log.exception("publishing stored node configs failed; retried at the next connect")

    # --- worker thread --------------------------------------------------------------------

    def _work(self) -> None:
        while True:
            item = self._queue.get()
            if item is _STOP:
                return
            assert isinstance(item, Received)
            batch = [item]
            stop_after = False
            while len(batch) < BATCH_MAX:  # whatever is already waiting joins this transaction
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is _STOP:
                    stop_after = True
                    break
                assert isinstance(nxt, Received)
                batch.append(nxt)
            started = time.perf_counter()
            results = self._store_batch(batch)
            if results is None:
                continue  # stopping before it was stored: not acked, the broker redelivers
            if self.metrics is not None:
                self.metrics.observe_batch(time.perf_counter() - started, len(batch))
            for done, result in zip(batch, results, strict=True):
                self._finish(done, result)
            if stop_after:
                return

    def store(self, batch: list[Received]) -> list[Result | None] | None:
        """Store a batch from another source (JetStream) as MQTT messages are stored: retried while
        the database is away, quarantined when invalid, counted, told to the live feed. None:
        stopping before it was stored (the caller must not acknowledge)."""
        results = self._store_batch(batch)
        if results is None:
            return None
        for done, result in zip(batch, results, strict=True):
            self._finish(done, result)
        return results

    def _finish(self, item: Received, result: Result | None) -> None:
        if result is None:
            return
        self.counts[result.outcome] = self.counts.get(result.outcome, 0) + 1
        if self.metrics is not None and result.event_ms is not None:
            kind = result.outcome if result.outcome in ("heartbeat", "status") else "event"
            self.metrics.observe_lag(kind, item.received_ms - result.event_ms)
            if result.sent_ms is not None:
                self.metrics.observe_transit(item.received_ms - result.sent_ms)
        if item.qos > 0 and item.mid >= 0 and item.generation == self._generation:
            self._client.ack(item.mid, item.qos)  # after the commit, in arrival order
        if result.alert is not None and self.on_alert is not None:
            try:
                self.on_alert(result.alert)
            except Exception:
                log.exception("live feed listener failed")

    def _store_batch(self, batch: list[Received]) -> list[Result | None] | None:
        """One transaction for the batch; on a database refusal, one transaction a message."""
        if len(batch) == 1:
            return [self._store(batch[0])]
        delay = 0.5
        while not self._stopping.is_set():
            try:
                return list(
                    process_batch(
                        self.factory,
                        self.site,
                        batch,
                        self.on_alert is not None,
                        self.cameras,
                        self.on_new,
                        self.on_changed,
                    )
                )
            except _TRANSIENT as exc:
                log.warning("database unavailable (%s); retrying in %.1f s", first_line(exc), delay)
                self._stopping.wait(delay)
                delay = min(delay * 2, 10.0)
            except Exception as exc:  # an IntegrityError (racing replica) or a bad row: go one by one
                log.info("batch of %d fell back to single messages: %s", len(batch), first_line(exc))
                return [self._store(item) for item in batch]
        return None

    def _store(self, item: Received) -> Result | None:
        """Store one message; retry while the database is unreachable, never raise."""
        delay = 0.5
        conflicts = 0
        while not self._stopping.is_set():
            try:
                return process(
                    self.factory,
                    self.site,
                    item.topic,
                    item.payload,
                    item.received_ms,
                    self.cameras,
                    self.on_new,
                    self.on_changed,
                )
            except _TRANSIENT as exc:
                log.warning("database unavailable (%s); retrying in %.1f s", first_line(exc), delay)
                self._stopping.wait(delay)
                delay = min(delay * 2, 10.0)
            except sa_exc.IntegrityError as exc:
                conflicts += 1  # another replica inserted the same event first: read it and merge
                if conflicts >= 3:
                    return self._quarantine(item, f"database rejected the message: {first_line(exc)}")
            except sa_exc.SQLAlchemyError as exc:
                return self._quarantine(item, f"database rejected the message: {first_line(exc)}")
            except Exception as exc:
                log.exception("failed to process a message on %s", item.topic)
                return self._quarantine(item, f"internal error: {type(exc).__name__}: {first_line(exc)}")
        return None

    def _quarantine(self, item: Received, reason: str) -> Result | None:
        while not self._stopping.is_set():
            try:
                return quarantine(self.factory, item.topic, item.payload, reason, item.received_ms)
            except sa_exc.SQLAlchemyError as exc:
                log.warning("cannot write to quarantine (%s); retrying", first_line(exc))
                self._stopping.wait(2.0)
        return None
