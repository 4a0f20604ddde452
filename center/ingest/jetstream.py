"""Events and heartbeats from NATS JetStream: the district's clustered engine (docs/scale.md).

The edges publish over MQTT as always, to NATS's MQTT gateway; NATS maps the topic
``parkguard/v1/{site}/{node}/{kind}`` to the subject ``parkguard.v1.{site}.{node}.{kind}``
(a ``.`` inside a topic level becomes ``//``). A work-queue stream over the site's subjects
keeps every message whether a center is connected or not; the center replicas pull from one
durable consumer (explicit ack), each batch stored through the ingest's own path (validation,
idempotent upsert, quarantine, the feed's NOTIFY) and acknowledged only after the commit. A
replica that dies holding a batch unacked: the server hands it to another after ``ack_wait``.

Needs ``nats-py`` (the ``jetstream`` extra); imported only when ``jetstream`` is configured.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading

from center.config import JetStreamConfig
from center.domain.errors import first_line
from center.ingest.process import Received
from center.ingest.subscriber import Ingest
from protocol import now_ms
from protocol.topics import ROOT

log = logging.getLogger(__name__)

FETCH_WAIT_S = 1.0


def subject_prefix(site: str) -> str:
    return f"{ROOT.replace('/', '.')}.{site.replace('.', '//')}"


def topic_of(subject: str) -> str:
    """The MQTT topic of a NATS subject written by the MQTT gateway (``/`` → ``.``, ``.`` → ``//``)."""
    return "/".join(level.replace("//", ".") for level in subject.split("."))


class JetStreamIngest:
    """Pull batches from the durable consumer, store them with ``ingest.store``, ack after commit."""

    def __init__(self, config: JetStreamConfig, site: str, ingest: Ingest) -> None:
        self.config = config
        self.site = site
        self.ingest = ingest
        self.subjects = f"{subject_prefix(site)}.*.event", f"{subject_prefix(site)}.*.heartbeat"
        self.ready = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="center-jetstream", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        asyncio.run(self._main())

    async def _main(self) -> None:
        delay = 0.5
        while not self._stopping.is_set():
            try:
                await self._consume()
                delay = 0.5
            except Exception as exc:  # the server away, the stream being made by another replica…
                if self._stopping.is_set():
                    break
                log.warning(
                    "JetStream ingest: %s; again in %.1f s", first_line(exc) or type(exc).__name__, delay
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)

    async def _consume(self) -> None:
        import nats
        from nats.js.api import AckPolicy, ConsumerConfig, RetentionPolicy, StreamConfig
        from nats.js.errors import NotFoundError

        cfg = self.config
        nc = await nats.connect(cfg.url, max_reconnect_attempts=-1, reconnect_time_wait=1)
        try:
            js = nc.jetstream()
            try:
                await js.stream_info(cfg.stream)
            except NotFoundError:
                await js.add_stream(
                    StreamConfig(
                        name=cfg.stream,
                        subjects=list(self.subjects),
                        retention=RetentionPolicy.WORK_QUEUE,
                        num_replicas=cfg.stream_replicas,
                    )
                )
                log.info("JetStream ingest: made stream %s over %s", cfg.stream, ", ".join(self.subjects))
            consumer = ConsumerConfig(
                durable_name=cfg.durable,
                ack_policy=AckPolicy.EXPLICIT,
                ack_wait=cfg.ack_wait_s,
                max_ack_pending=max(1000, 10 * cfg.batch),
            )
            try:
                await js.consumer_info(cfg.stream, cfg.durable)
            except NotFoundError:
                await js.add_consumer(cfg.stream, consumer)
            sub = await js.pull_subscribe_bind(durable=cfg.durable, stream=cfg.stream)
            log.info("JetStream ingest: consuming %s as %s", cfg.stream, cfg.durable)
            self.ready.set()
            loop = asyncio.get_running_loop()
            while not self._stopping.is_set():
                try:
                    msgs = await sub.fetch(cfg.batch, timeout=FETCH_WAIT_S)
                except nats.errors.TimeoutError:
                    continue
                received = now_ms()
                batch = [Received(topic_of(m.subject), bytes(m.data), -1, 1, 0, received) for m in msgs]
                results = await loop.run_in_executor(None, self.ingest.store, batch)
                if results is None:
                    return  # stopping before the commit: not acked, redelivered after ack_wait
                for m in msgs:  # after the commit
                    await m.ack()
        finally:
            self.ready.clear()
            with contextlib.suppress(Exception):
                await nc.drain()
