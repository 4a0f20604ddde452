"""MQTT ingest: subscribe, validate with the contract, store, acknowledge after commit.

Threads: paho's network thread only queues what arrives; one worker thread validates,
writes to the database and then acknowledges (``manual_ack``), so nothing blocks the
asyncio loop and a message the database did not commit is redelivered by the broker.
Anything that does not pass the contract goes to the ``quarantine`` table with the reason.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import paho.mqtt.client as mqtt
from pydantic import BaseModel, ValidationError
from sqlalchemy import exc as sa_exc
from sqlalchemy import insert
from sqlalchemy.orm import Session, sessionmaker

from center import crud
from center.config import MqttConfig
from center.models import Quarantine
from center.schemas import AlertOut
from protocol import AlertEvent, Heartbeat, NodeConfig, NodeStatus, Topic, TopicKind, now_ms, parse_topic
from protocol.mqttsession import choose_v5, connect_kwargs, new_client
from protocol.topics import subscription

log = logging.getLogger(__name__)

MAX_PAYLOAD_BYTES = 256 * 1024  # a legitimate message is far smaller (≤ 200 objects, ≤ 8 evidence items)
MAX_REASON_ERRORS = 5
BATCH_MAX = 500  # messages committed in one transaction at most
CONFIG_RETRY_S = 30.0
_MODELS: dict[TopicKind, type[BaseModel]] = {
    TopicKind.EVENT: AlertEvent,
    TopicKind.STATUS: NodeStatus,
    TopicKind.HEARTBEAT: Heartbeat,
}

AlertListener = Callable[[dict[str, Any]], None]


def subscriptions(shared_group: str | None) -> list[tuple[str, int]]:
    """Events and heartbeats through a shared subscription (replicas split them); node status
    without one, because brokers do not send retained messages to shared subscriptions and
    every replica should know each node's last birth/death. No group: plain subscriptions
    (a broker without ``$share``, such as the demo's amqtt)."""
    share = f"$share/{shared_group}/" if shared_group else ""
    return [
        (f"{share}{subscription(TopicKind.EVENT)}", 1),
        (f"{share}{subscription(TopicKind.HEARTBEAT)}", 1),
        (subscription(TopicKind.STATUS), 1),
    ]


def summarize(exc: ValidationError) -> str:
    """``AlertEvent: seq: Input should be ≥ 0 (got -1); camera: …`` — short, for the quarantine."""
    parts = []
    for err in exc.errors()[:MAX_REASON_ERRORS]:
        where = ".".join(str(p) for p in err["loc"]) or "(message)"
        text = f"{where}: {err['msg'].removeprefix('Value error, ')}"
        if err["type"] != "missing" and not isinstance(err.get("input"), dict | list):
            shown = repr(err.get("input"))
            text += f" (got {shown[:40]}{'…' if len(shown) > 40 else ''})"
        parts.append(text)
    more = len(exc.errors()) - MAX_REASON_ERRORS
    if more > 0:
        parts.append(f"and {more} more")
    return f"{exc.title}: " + "; ".join(parts)


class Rejected(Exception):
    """The message does not pass the contract; ``str()`` is the quarantine reason."""


def validate(topic: str, payload: bytes, site: str) -> tuple[TopicKind, BaseModel | None]:
    """Check a message against the contract; (kind, None) for a message to skip silently."""
    parsed = parse_topic(topic)
    if parsed is None or parsed.kind not in _MODELS:
        raise Rejected(f"not a ParkGuard v1 event/status/heartbeat topic: {topic!r}")
    if not payload and parsed.kind is TopicKind.STATUS:
        return parsed.kind, None  # someone cleared the retained status
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise Rejected(f"payload too large: {len(payload)} bytes (limit {MAX_PAYLOAD_BYTES})")
    try:
        msg: Any = _MODELS[parsed.kind].model_validate_json(payload)  # the JSON is parsed once
    except ValidationError as exc:
        # say what is wrong in the sender's terms: the bytes, the JSON, then the contract
        try:
            json.loads(payload.decode("utf-8"))
        except UnicodeDecodeError:
            raise Rejected("payload is not UTF-8 text") from None
        except json.JSONDecodeError as jexc:
            raise Rejected(f"payload is not valid JSON: {jexc}") from None
        except RecursionError:
            raise Rejected("payload is not valid JSON: nested too deeply") from None
        raise Rejected(summarize(exc)) from None
    if msg.site != parsed.site:
        raise Rejected(f"payload site {msg.site} does not match topic site {parsed.site}")
    if msg.node != parsed.node:
        raise Rejected(f"payload node {msg.node} does not match topic node {parsed.node}")
    if msg.site != site:
        raise Rejected(f"site {msg.site} is not this center's site {site}")
    return parsed.kind, msg


@dataclass
class Result:
    outcome: str  # inserted / updated / unchanged / status / heartbeat / skipped / quarantined
    alert: dict[str, Any] | None = None  # the committed alert, for the live feed
    reason: str | None = None


def process(
    factory: sessionmaker[Session], site: str, topic: str, payload: bytes, received_ms: int
) -> Result:
    """Validate and store one message in one transaction. Database errors propagate."""
    try:
        _kind, msg = validate(topic, payload, site)
    except Rejected as exc:
        return quarantine(factory, topic, payload, str(exc), received_ms)
    if msg is None:
        return Result("skipped")
    try:
        with factory.begin() as session:
            return _apply(session, msg, received_ms)
    except crud.Conflict as exc:
        return quarantine(factory, topic, payload, str(exc), received_ms)


def _apply(session: Session, msg: BaseModel, received_ms: int) -> Result:
    """Apply one valid message inside the caller's transaction (raises crud.Conflict before writing)."""
    if isinstance(msg, AlertEvent):
        outcome, row = crud.apply_alert(session, msg, received_ms)
        alert = AlertOut.of(row).model_dump(mode="json")
        return Result(outcome.value, alert if outcome is not crud.Outcome.UNCHANGED else None)
    if isinstance(msg, NodeStatus):
        crud.apply_status(session, msg, received_ms)
        return Result("status")
    assert isinstance(msg, Heartbeat)
    crud.apply_heartbeat(session, msg, received_ms)
    return Result("heartbeat")


def process_batch(
    factory: sessionmaker[Session], site: str, items: list[_Received], want_alerts: bool = True
) -> list[Result]:
    """Validate and store many messages in ONE transaction (the ingest's fast path).

    Events are merged in memory and written with one SELECT, one multi-row INSERT and an
    executemany UPDATE (:func:`crud.apply_alerts`); status and heartbeats go through the ORM
    (there are few). Invalid or conflicting messages go to the quarantine in the same
    transaction. Database errors propagate and nothing of the batch is committed; the caller
    then retries or falls back to one message a transaction. ``want_alerts``: build the
    committed alerts for the live feed.
    """
    results: list[Result | None] = [None] * len(items)
    events: list[tuple[int, AlertEvent]] = []
    others: list[tuple[int, BaseModel]] = []
    rejected: list[tuple[int, str]] = []
    for i, item in enumerate(items):
        try:
            _kind, msg = validate(item.topic, item.payload, site)
        except Rejected as exc:
            rejected.append((i, str(exc)))
            continue
        if msg is None:
            results[i] = Result("skipped")
        elif isinstance(msg, AlertEvent):
            events.append((i, msg))
        else:
            others.append((i, msg))
    with factory.begin() as session:
        if events:
            applied = crud.apply_alerts(session, [(ev, items[i].received_ms) for i, ev in events])
            for (i, _ev), res in zip(events, applied, strict=True):
                if isinstance(res, crud.Conflict):
                    rejected.append((i, str(res)))
                    continue
                outcome, row = res
                alert = None
                if want_alerts and outcome is not crud.Outcome.UNCHANGED:
                    alert = AlertOut.of(SimpleNamespace(**row)).model_dump(mode="json")  # type: ignore[arg-type]
                results[i] = Result(outcome.value, alert)
        for i, msg in others:
            results[i] = _apply(session, msg, items[i].received_ms)
        if rejected:
            rejected.sort()
            rows = [
                crud.quarantine_row(items[i].topic, items[i].payload, why, items[i].received_ms)
                for i, why in rejected
            ]
            session.execute(insert(Quarantine), rows)
            for i, why in rejected:
                results[i] = Result("quarantined", reason=why)
    for i, why in rejected:  # after the commit
        log.warning("quarantined message on %s: %s", items[i].topic, why)
    assert all(r is not None for r in results)
    return results  # type: ignore[return-value]


def quarantine(
    factory: sessionmaker[Session], topic: str, payload: bytes, reason: str, received_ms: int
) -> Result:
    with factory.begin() as session:
        crud.add_quarantine(session, topic, payload, reason, received_ms)
    log.warning("quarantined message on %s: %s", topic, reason)
    return Result("quarantined", reason=reason)


@dataclass
class _Received:
    topic: str
    payload: bytes
    mid: int
    qos: int
    generation: int
    received_ms: int = field(default_factory=now_ms)


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
    ) -> None:
        self.config = mqtt_config
        self.site = site
        self.factory = factory
        self.on_alert = on_alert
        self.counts: dict[str, int] = {}
        self._queue: queue.Queue[_Received | object] = queue.Queue(maxsize=1000)
        self._stopping = threading.Event()
        self._connected = threading.Event()
        self._generation = 0  # bumped on every (re)connect: a message id is only valid in its connection
        self._worker: threading.Thread | None = None
        self.v5 = self.config.protocol == "5"  # "auto" is settled by a probe in start()
        self._client = self._make_client()

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

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
        client.subscribe(subscriptions(self.config.shared_group))
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
            item = _Received(
                message.topic, bytes(message.payload), message.mid, message.qos, self._generation
            )
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
                rows = crud.unpublished_node_configs(session, self.site)
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
            assert isinstance(item, _Received)
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
                assert isinstance(nxt, _Received)
                batch.append(nxt)
            results = self._store_batch(batch)
            if results is None:
                continue  # stopping before it was stored: not acked, the broker redelivers
            for done, result in zip(batch, results, strict=True):
                self._finish(done, result)
            if stop_after:
                return

    def _finish(self, item: _Received, result: Result | None) -> None:
        if result is None:
            return
        self.counts[result.outcome] = self.counts.get(result.outcome, 0) + 1
        if item.qos > 0 and item.generation == self._generation:
            self._client.ack(item.mid, item.qos)  # after the commit, in arrival order
        if result.alert is not None and self.on_alert is not None:
            try:
                self.on_alert(result.alert)
            except Exception:
                log.exception("live feed listener failed")

    def _store_batch(self, batch: list[_Received]) -> list[Result | None] | None:
        """One transaction for the batch; on a database refusal, one transaction a message."""
        if len(batch) == 1:
            return [self._store(batch[0])]
        delay = 0.5
        while not self._stopping.is_set():
            try:
                return list(process_batch(self.factory, self.site, batch, self.on_alert is not None))
            except _TRANSIENT as exc:
                log.warning("database unavailable (%s); retrying in %.1f s", _first_line(exc), delay)
                self._stopping.wait(delay)
                delay = min(delay * 2, 10.0)
            except Exception as exc:  # an IntegrityError (racing replica) or a bad row: go one by one
                log.info("batch of %d fell back to single messages: %s", len(batch), _first_line(exc))
                return [self._store(item) for item in batch]
        return None

    def _store(self, item: _Received) -> Result | None:
        """Store one message; retry while the database is unreachable, never raise."""
        delay = 0.5
        conflicts = 0
        while not self._stopping.is_set():
            try:
                return process(self.factory, self.site, item.topic, item.payload, item.received_ms)
            except _TRANSIENT as exc:
                log.warning("database unavailable (%s); retrying in %.1f s", _first_line(exc), delay)
                self._stopping.wait(delay)
                delay = min(delay * 2, 10.0)
            except sa_exc.IntegrityError as exc:
                conflicts += 1  # another replica inserted the same event first: read it and merge
                if conflicts >= 3:
                    return self._quarantine(item, f"database rejected the message: {_first_line(exc)}")
            except sa_exc.SQLAlchemyError as exc:
                return self._quarantine(item, f"database rejected the message: {_first_line(exc)}")
            except Exception as exc:
                log.exception("failed to process a message on %s", item.topic)
                return self._quarantine(item, f"internal error: {type(exc).__name__}: {_first_line(exc)}")
        return None

    def _quarantine(self, item: _Received, reason: str) -> Result | None:
        while not self._stopping.is_set():
            try:
                return quarantine(self.factory, item.topic, item.payload, reason, item.received_ms)
            except sa_exc.SQLAlchemyError as exc:
                log.warning("cannot write to quarantine (%s); retrying", _first_line(exc))
                self._stopping.wait(2.0)
        return None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
