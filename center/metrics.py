"""The center's Prometheus figures (``GET /metrics``, docs/operations.md lists them).

Each replica counts what it did itself: the messages its ingest stored (by outcome), how long
their transactions took, how late they arrived, its WebSocket clients, the evidence uploaded
to it, its database pool. Prometheus adds the replicas up. Two figures are read from the
database at scrape time (cached for :data:`DB_FIGURES_TTL_S`): the quarantine's row count and
whether the database answers. Nothing is labelled by enterprise, camera or user: the figures
are the site's, and a scraper learns no one's data from them.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select
from sqlalchemy.pool import QueuePool

from center import __version__
from center.store.models import Quarantine
from common.prometheus import Family, Histogram

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from center.api.feed.hub import LiveHub
    from center.ingest.subscriber import Ingest

# arrival lag (received by the center − the time the message tells of): seconds
LAG_S_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300, 900, 3600, 21600, 86400)
# one ingest transaction (validate, write, commit a batch of up to 500 messages): seconds
COMMIT_S_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
BATCH_BUCKETS = (1, 2, 5, 10, 20, 50, 100, 200, 500)
DB_FIGURES_TTL_S = 15.0
LAG_KINDS = ("event", "heartbeat", "status")


class CenterMetrics:
    """What one replica counts; the ingest and the evidence routes report into it."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.started = clock()
        self._clock = clock
        self.commit_s = Histogram(COMMIT_S_BUCKETS)
        self.batch_messages = Histogram(BATCH_BUCKETS)
        self.lag_s = {kind: Histogram(LAG_S_BUCKETS) for kind in LAG_KINDS}
        self.transit_s = Histogram(LAG_S_BUCKETS)
        self.lag_negative = 0  # messages dated in the future (a node's clock ahead): counted at 0
        self.evidence_uploads: dict[str, int] = {"stored": 0, "duplicate": 0}
        self.evidence_bytes: dict[str, int] = {"stored": 0, "duplicate": 0}
        self._lock = threading.Lock()
        self._db_figures: tuple[float, int | None] = (-DB_FIGURES_TTL_S, None)

    # --- reported by the ingest (its worker thread) and the evidence routes -------------------

    def observe_batch(self, seconds: float, messages: int) -> None:
        self.commit_s.observe(seconds)
        self.batch_messages.observe(messages)

    def observe_lag(self, kind: str, lag_ms: int) -> None:
        if kind not in self.lag_s:
            return
        if lag_ms < 0:
            with self._lock:
                self.lag_negative += 1
            lag_ms = 0
        self.lag_s[kind].observe(lag_ms / 1000)

    def observe_transit(self, transit_ms: int) -> None:
        self.transit_s.observe(max(transit_ms, 0) / 1000)

    def evidence_uploaded(self, created: bool, size: int) -> None:
        key = "stored" if created else "duplicate"
        with self._lock:
            self.evidence_uploads[key] += 1
            self.evidence_bytes[key] += size

    # --- scrape ----------------------------------------------------------------------------------

    def _quarantine_rows(self, engine: Engine) -> int | None:
        """Rows in the quarantine (site-wide), cached; None while the database does not answer."""
        now = time.monotonic()
        at, value = self._db_figures
        if now - at < DB_FIGURES_TTL_S:
            return value
        try:
            with engine.connect() as conn:
                value = int(conn.execute(select(func.count()).select_from(Quarantine)).scalar_one())
        except Exception:  # any driver error: the database is down for this scrape
            value = None
        self._db_figures = (now, value)
        return value

    def families(
        self, *, site: str, engine: Engine, ingest: Ingest | None, hub: LiveHub | None
    ) -> list[Family]:
        fams: list[Family] = [
            Family("parkguard_center_info", "gauge", "this replica: site and version").add(
                {"site": site, "version": __version__}, 1
            ),
            Family("parkguard_center_uptime_seconds", "gauge", "seconds since this replica started").add(
                {}, round(self._clock() - self.started, 3)
            ),
        ]
        counts: dict[str, int] = dict(ingest.counts) if ingest is not None else {}
        messages = Family(
            "parkguard_center_ingest_messages_total",
            "counter",
            "MQTT messages this replica's ingest stored and acknowledged, by outcome (inserted, updated, "
            "unchanged: events; heartbeat; status; skipped; quarantined)",
        )
        for outcome in sorted(set(counts) | {"inserted", "updated", "unchanged", "heartbeat", "quarantined"}):
            messages.add({"outcome": outcome}, counts.get(outcome, 0))
        fams.append(messages)
        fams.append(
            Family(
                "parkguard_center_ingest_connected", "gauge", "1 while this replica's ingest is connected"
            ).add({}, 1 if ingest is not None and ingest.connected else 0)
        )
        fams.append(
            Family(
                "parkguard_center_ingest_queue_depth",
                "gauge",
                "messages received from the broker and not yet stored (at most 1000; unacknowledged)",
            ).add({}, ingest.queue_depth if ingest is not None else 0)
        )
        lag = Family(
            "parkguard_center_ingest_lag_seconds",
            "histogram",
            "received by the center minus the time the message tells of (an event's last or end time, a "
            "heartbeat's or status's ts): the edge's outbox backlog, the network and clock skew",
        )
        for kind in LAG_KINDS:
            lag.add({"kind": kind}, self.lag_s[kind])
        fams.append(lag)
        fams.append(
            Family(
                "parkguard_center_ingest_transit_seconds",
                "histogram",
                "events: received by the center minus sent by the edge (sent_ms): the time in the edge's "
                "outbox and on the network, without the rule's own timing (confirm frames, end_after_s)",
            ).add({}, self.transit_s)
        )
        fams.append(
            Family(
                "parkguard_center_ingest_future_messages_total",
                "counter",
                "messages dated after their arrival (a node's clock ahead of the center's), counted as lag 0",
            ).add({}, self.lag_negative)
        )
        fams.append(
            Family(
                "parkguard_center_ingest_commit_seconds",
                "histogram",
                "one ingest transaction: validate, write and commit a batch (acknowledged after it)",
            ).add({}, self.commit_s)
        )
        fams.append(
            Family(
                "parkguard_center_ingest_batch_messages", "histogram", "messages in one ingest transaction"
            ).add({}, self.batch_messages)
        )
        rows = self._quarantine_rows(engine)
        fams.append(
            Family(
                "parkguard_center_database_up", "gauge", "1 when the database answered the last query"
            ).add({}, 0 if rows is None else 1)
        )
        if rows is not None:
            fams.append(
                Family(
                    "parkguard_center_quarantine_rows",
                    "gauge",
                    "messages kept in the quarantine table (all replicas; bounded, oldest removed)",
                ).add({}, rows)
            )
        fams.append(
            Family("parkguard_center_websocket_clients", "gauge", "live-feed (/ws/alerts) clients here").add(
                {}, hub.client_count if hub is not None else 0
            )
        )
        uploads = Family(
            "parkguard_center_evidence_uploads_total",
            "counter",
            "evidence files uploaded to this replica (stored: new; duplicate: already there)",
        )
        sizes = Family(
            "parkguard_center_evidence_upload_bytes_total", "counter", "bytes of the evidence files uploaded"
        )
        with self._lock:
            for key in ("stored", "duplicate"):
                uploads.add({"result": key}, self.evidence_uploads[key])
                sizes.add({"result": key}, self.evidence_bytes[key])
        fams += [uploads, sizes]
        fams += _pool_families(engine)
        return fams


def _pool_families(engine: Engine) -> list[Family]:
    pool: Any = engine.pool
    if not isinstance(pool, QueuePool):
        return []
    size = Family("parkguard_center_db_pool_size", "gauge", "connections the pool keeps (pool_size)").add(
        {}, pool.size()
    )
    conns = Family(
        "parkguard_center_db_pool_connections",
        "gauge",
        "this replica's database connections: checked_out (in use), idle (in the pool), overflow "
        "(beyond pool_size; negative while the pool is not full)",
    )
    conns.add({"state": "checked_out"}, pool.checkedout())
    conns.add({"state": "idle"}, pool.checkedin())
    conns.add({"state": "overflow"}, pool.overflow())
    return [size, conns]
