"""The live feed across center replicas: PostgreSQL LISTEN/NOTIFY.

Replicas split the MQTT ingest (a shared subscription), so the replica that stores an alert
change is not the one most browsers are connected to. Each replica therefore announces the
event ids it changed with ``pg_notify`` inside the ingest's transaction, and listens on the
same channel: PostgreSQL delivers a notification only once its transaction commits, to every
listening session, in commit order. A replica that hears of ids from another one reads those
alerts as committed (with their names, :func:`center.api.alerts.service.alerts_out`) and hands
them to its own :class:`~center.api.feed.hub.LiveHub`, whose per-client filters scope them by
role and enterprise as for its own changes.

Why not a plain MQTT subscription per replica: the broker's message is what a node sent, before
validation and attribution (a quarantined message, or one whose enterprise comes from the
camera registry, must not reach a browser as sent), and it may arrive before the commit that
makes ``GET /api/alerts/{id}`` answer. A notification carries only ids of committed rows.

Limits: PostgreSQL only (SQLite means one replica; nothing to fan out). A notification payload
is at most 8,000 bytes, so ids go in chunks. While a replica's listening connection is down
(the database away) it misses the changes committed meanwhile: its clients see them on their
next update or on reload; the ingest cannot commit without the database either.
"""

from __future__ import annotations

import json
import logging
import threading
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker

from center.api.alerts.service import alerts_out
from center.domain.errors import first_line
from center.store.models import Alert

log = logging.getLogger(__name__)

CHANNEL = "parkguard_alerts"
IDS_PER_NOTIFY = 150  # 150 × ~40 bytes stays well under PostgreSQL's 8,000-byte payload limit
RECONNECT_MAX_S = 10.0

Publish = Callable[[dict[str, Any]], None]


class FeedFanout:
    """Announce committed alert changes to the other replicas, and relay theirs to this one's hub."""

    def __init__(self, engine: Engine, factory: sessionmaker[Session], publish: Publish) -> None:
        if engine.dialect.name != "postgresql":
            raise ValueError("the live feed fans out between replicas through PostgreSQL only")
        self.engine = engine
        self.factory = factory
        self.publish = publish
        self.replica = uuid.uuid4().hex[:12]  # notifications of this process are not relayed back
        self.listening = threading.Event()
        self.relayed = 0  # alert changes of other replicas handed to this hub
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._conn: Any = None

    # --- announcing (in the writer's transaction) -----------------------------------------

    def announce(self, session: Session, alerts: Sequence[Mapping[str, Any]]) -> None:
        """Tell the other replicas of these alert changes when ``session``'s transaction commits."""
        self.tell(session, [str(a["event_id"]) for a in alerts])

    def tell(self, session: Session, event_ids: Iterable[str]) -> None:
        ids = list(dict.fromkeys(event_ids))
        for i in range(0, len(ids), IDS_PER_NOTIFY):
            chunk = ids[i : i + IDS_PER_NOTIFY]
            payload = json.dumps({"r": self.replica, "ids": chunk}, separators=(",", ":"))
            session.execute(select(func.pg_notify(CHANNEL, payload)))

    # --- listening ------------------------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="center-feed-fanout", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _connect(self) -> Any:
        """A connection of its own, outside the pool (it stays in LISTEN for the process's life)."""
        cargs, cparams = self.engine.dialect.create_connect_args(self.engine.url)
        conn = self.engine.dialect.loaded_dbapi.connect(*cargs, **cparams)
        conn.autocommit = True
        conn.execute(f"LISTEN {CHANNEL}")
        return conn

    def _run(self) -> None:
        delay = 0.5
        while not self._stopping.is_set():
            try:
                conn = self._connect()
            except Exception as exc:  # the database away: try again
                log.warning("live feed fan-out: cannot listen (%s); again in %.1f s", first_line(exc), delay)
                self._stopping.wait(delay)
                delay = min(delay * 2, RECONNECT_MAX_S)
                continue
            delay = 0.5
            self.listening.set()
            log.info("live feed fan-out: listening on %s as replica %s", CHANNEL, self.replica)
            try:
                while not self._stopping.is_set():
                    ids: list[str] = []
                    for note in conn.notifies(timeout=0.5, stop_after=500):
                        ids += self._foreign_ids(note.payload)
                    if ids:
                        self._relay(ids)
            except Exception as exc:
                if not self._stopping.is_set():
                    log.warning("live feed fan-out: connection lost (%s); listening again", first_line(exc))
            finally:
                self.listening.clear()
                try:
                    conn.close()
                except Exception:
                    log.debug("closing the listening connection failed", exc_info=True)

    def _foreign_ids(self, payload: str) -> list[str]:
        try:
            body = json.loads(payload)
            if body.get("r") == self.replica:
                return []
            return [str(i) for i in body["ids"]][:IDS_PER_NOTIFY]
        except (ValueError, KeyError, TypeError, AttributeError):
            log.warning("live feed fan-out: ignored a notification that is not ours: %.80r", payload)
            return []

    def _relay(self, ids: list[str]) -> None:
        unique = list(dict.fromkeys(ids))
        try:
            with self.factory() as session:
                for i in range(0, len(unique), 500):
                    rows = list(session.scalars(select(Alert).where(Alert.event_id.in_(unique[i : i + 500]))))
                    for out in alerts_out(session, rows):
                        self.publish(out.model_dump(mode="json"))
                        self.relayed += 1
        except Exception as exc:  # the feed is best effort; ingest and the API are not touched
            log.warning("live feed fan-out: %d changes not relayed: %s", len(unique), first_line(exc))
