"""The edge outbox: every event goes to disk first and leaves only after the broker's PUBACK.

SQLite in WAL mode with ``synchronous=FULL``: a row committed here survives ``kill -9`` and
power loss. Rows leave in id order (ordered replay after a reconnect or a restart). The
queue is bounded; when full, the eviction order is documented and counted: lowest rank first
(general < significant < major severity), oldest first within a rank.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path

SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    topic TEXT NOT NULL,
    payload BLOB NOT NULL,
    qos INTEGER NOT NULL,
    retain INTEGER NOT NULL,
    rank INTEGER NOT NULL,
    created_ms INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS outbox_evict ON outbox (rank, id);
CREATE TABLE IF NOT EXISTS outbox_meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
"""


@dataclass(frozen=True)
class OutboxRow:
    id: int
    topic: str
    payload: bytes
    qos: int
    retain: bool


class Outbox:
    def __init__(self, path: Path, max_rows: int = 100_000) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.max_rows = max_rows
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=30)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(SCHEMA)
        self._count = self._db.execute("SELECT count(*) FROM outbox").fetchone()[0]

    def put(self, topic: str, payload: bytes, qos: int = 1, retain: bool = False, rank: int = 0) -> int:
        with self._lock:
            cur = self._db.execute(
                "INSERT INTO outbox (topic, payload, qos, retain, rank, created_ms) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (topic, payload, qos, int(retain), rank, int(time.time() * 1000)),
            )
            self._count += 1
            if self._count > self.max_rows:
                self._evict(self._count - self.max_rows)
            return int(cur.lastrowid or 0)

    def _evict(self, n: int) -> None:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            deleted = self._db.execute(
                "DELETE FROM outbox WHERE id IN (SELECT id FROM outbox ORDER BY rank, id LIMIT ?)", (n,)
            ).rowcount
            self._db.execute(
                "INSERT INTO outbox_meta (key, value) VALUES ('dropped', ?) "
                "ON CONFLICT(key) DO UPDATE SET value = value + excluded.value",
                (deleted,),
            )
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._count -= deleted

    def pending(self, after_id: int, limit: int) -> list[OutboxRow]:
        with self._lock:
            rows = self._db.execute(
                "SELECT id, topic, payload, qos, retain FROM outbox WHERE id > ? ORDER BY id LIMIT ?",
                (after_id, limit),
            ).fetchall()
        return [OutboxRow(r[0], r[1], bytes(r[2]), r[3], bool(r[4])) for r in rows]

    def ack(self, ids: list[int]) -> None:
        if not ids:
            return
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            deleted = 0
            for start in range(0, len(ids), 500):
                chunk = ids[start : start + 500]
                deleted += self._db.execute(
                    f"DELETE FROM outbox WHERE id IN ({','.join('?' * len(chunk))})", chunk
                ).rowcount
            self._db.execute("COMMIT")
            self._count -= deleted

    def last_id(self) -> int:
        with self._lock:
            row = self._db.execute("SELECT max(id) FROM outbox").fetchone()
        return int(row[0] or 0)

    @property
    def depth(self) -> int:
        return self._count

    @property
    def dropped(self) -> int:
        with self._lock:
            row = self._db.execute("SELECT value FROM outbox_meta WHERE key = 'dropped'").fetchone()
        return int(row[0]) if row else 0

    def close(self) -> None:
        with self._lock:
            self._db.close()
