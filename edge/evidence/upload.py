"""Evidence uploads to the control center: a durable queue and one uploader thread per node.

Every snapshot and clip the node keeps is queued (a row in ``state_dir/uploads.sqlite``, WAL,
so a queued file survives ``kill -9`` and a power cut) and sent with
``PUT {center.url}/api/evidence/{sha256}?camera=CAM`` and the node's bearer token (read from the
environment variable ``center.token_env``). Files are content-addressed: sending one twice is
harmless, and the center checks the body hashes to its name.

- 2xx: done, the row goes.
- 401, 408, 429, 5xx, no connection: retried with exponential backoff (jittered, capped); the
  whole queue waits while the center is unreachable, so a dead link costs one try per backoff.
- other 4xx (403 a camera of another node, 413, 422 a hash mismatch): refused for good; logged
  with the center's reason and dropped (retrying cannot help).
- the local file gone (evidence retention): dropped with a log line.

The queue is bounded (``center.queue_max``): the oldest rows go first, counted in ``dropped``.
Nothing here runs on the analysis loop but :meth:`UploadQueue.add` (one small SQLite insert).
"""

from __future__ import annotations

import json
import logging
import os
import random
import sqlite3
import ssl
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from edge.config.center import CenterLinkConfig
from protocol import now_ms

log = logging.getLogger("parkguard.edge.upload")

RETRY_STATUS = {401, 408, 425, 429}

SCHEMA = """
CREATE TABLE IF NOT EXISTS uploads (
    sha256 TEXT PRIMARY KEY,
    path TEXT NOT NULL,
    content_type TEXT NOT NULL,
    camera TEXT NOT NULL,
    size INTEGER NOT NULL,
    added_ms INTEGER NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_ms INTEGER NOT NULL DEFAULT 0,
    last_error TEXT
);
CREATE INDEX IF NOT EXISTS uploads_next ON uploads (next_ms, added_ms);
"""


@dataclass(slots=True)
class Upload:
    sha256: str
    path: Path
    content_type: str
    camera: str
    size: int
    attempts: int


class UploadQueue:
    """The durable queue: one row per file waiting for the center."""

    def __init__(self, path: Path, max_rows: int = 10_000) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.max_rows = max_rows
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None, timeout=30)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(SCHEMA)
        self._lock = threading.Lock()
        self.dropped = 0

    def add(self, sha256: str, path: Path, content_type: str, camera: str, size: int) -> None:
        with self._lock:
            self._db.execute(
                "INSERT OR IGNORE INTO uploads (sha256, path, content_type, camera, size, added_ms)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (sha256, str(path), content_type, camera, size, now_ms()),
            )
            over = self._count() - self.max_rows
            if over > 0:
                self._db.execute(
                    "DELETE FROM uploads WHERE sha256 IN "
                    "(SELECT sha256 FROM uploads ORDER BY added_ms, sha256 LIMIT ?)",
                    (over,),
                )
                self.dropped += over
                log.warning("upload queue full (%d): %d oldest file(s) will not be sent", self.max_rows, over)

    def _count(self) -> int:
        return int(self._db.execute("SELECT count(*) FROM uploads").fetchone()[0])

    @property
    def depth(self) -> int:
        with self._lock:
            return self._count()

    def due(self, at_ms: int, limit: int = 20) -> list[Upload]:
        with self._lock:
            rows = self._db.execute(
                "SELECT sha256, path, content_type, camera, size, attempts FROM uploads"
                " WHERE next_ms <= ? ORDER BY next_ms, added_ms LIMIT ?",
                (at_ms, limit),
            ).fetchall()
        return [Upload(r[0], Path(r[1]), r[2], r[3], r[4], r[5]) for r in rows]

    def next_due_ms(self) -> int | None:
        with self._lock:
            row = self._db.execute("SELECT min(next_ms) FROM uploads").fetchone()
        return None if row[0] is None else int(row[0])

    def done(self, sha256: str) -> None:
        with self._lock:
            self._db.execute("DELETE FROM uploads WHERE sha256 = ?", (sha256,))

    def retry(self, sha256: str, at_ms: int, error: str) -> None:
        with self._lock:
            self._db.execute(
                "UPDATE uploads SET attempts = attempts + 1, next_ms = ?, last_error = ? WHERE sha256 = ?",
                (at_ms, error[:500], sha256),
            )

    def close(self) -> None:
        with self._lock:
            self._db.close()


class CenterUnreachable(Exception):
    """No answer from the center (connection refused, timeout, DNS): the whole queue waits."""


class Uploader:
    """Sends the queue's files to the center from one background thread."""

    def __init__(self, cfg: CenterLinkConfig, queue: UploadQueue) -> None:
        if cfg.url is None:
            raise ValueError("center.url is not set")
        self.cfg = cfg
        self.queue = queue
        self.base = cfg.url
        self._ssl = ssl.create_default_context(cafile=str(cfg.ca_file)) if cfg.ca_file else None
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._backoff = cfg.backoff_initial_s
        self._warned_token = False
        self._unreachable = False
        self.sent = 0
        self.refused = 0
        self.failures = 0

    # -- queue side (any thread) ------------------------------------------------------------
    def add(self, sha256: str, path: Path, content_type: str, camera: str, size: int) -> None:
        self.queue.add(sha256, path, content_type, camera, size)
        self._wake.set()

    # -- thread ------------------------------------------------------------------------------
    def start(self) -> None:
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="evidence-upload", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 5.0, drain_s: float = 0.0) -> None:
        """Stop the thread; with ``drain_s``, first give the queue that long to empty while the
        center answers (what is left stays queued on disk for the next start)."""
        if drain_s > 0 and self._thread is not None:
            deadline = time.monotonic() + drain_s
            while self.queue.depth and not self._unreachable and time.monotonic() < deadline:
                self._wake.set()
                time.sleep(0.05)
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _run(self) -> None:
        log.info("evidence uploads to %s (%d file(s) waiting)", self.base, self.queue.depth)
        while not self._stop.is_set():
            try:
                wait = self.run_once()
            except CenterUnreachable as exc:
                self._unreachable = True
                wait = self._backoff
                self._backoff = min(self._backoff * 2, self.cfg.backoff_max_s)
                log.warning("center unreachable (%s): %d upload(s) wait; retry in %.1f s", exc,
                            self.queue.depth, wait)  # fmt: skip
            except Exception:  # never let the thread die: the queue is on disk, try again later
                log.exception("evidence upload loop failed; retrying")
                wait = self.cfg.backoff_max_s
            self._wake.wait(wait)
            self._wake.clear()

    def run_once(self) -> float:
        """Send every due file; returns how long to wait for the next one (seconds)."""
        token = os.environ.get(self.cfg.token_env, "").strip()
        if not token:
            if not self._warned_token:
                log.error(
                    "center.token_env: environment variable %s is empty; evidence waits in the queue "
                    "(make a token: parkguard-center user token --username <edge account>)",
                    self.cfg.token_env,
                )
                self._warned_token = True
            return self.cfg.backoff_max_s
        self._warned_token = False
        while not self._stop.is_set():
            batch = self.queue.due(now_ms())
            if not batch:
                break
            for item in batch:
                if self._stop.is_set():
                    break
                self._send(item, token)
        nxt = self.queue.next_due_ms()
        if nxt is None:
            return 3600.0
        return max(0.05, (nxt - now_ms()) / 1000)

    def _send(self, item: Upload, token: str) -> None:
        try:
            data = item.path.read_bytes()
        except FileNotFoundError:
            log.error("evidence %s: file %s is gone; not uploaded", item.sha256, item.path)
            self.queue.done(item.sha256)
            return
        query = urllib.parse.urlencode({"camera": item.camera})
        req = urllib.request.Request(
            f"{self.base}/api/evidence/{item.sha256}?{query}",
            data=data,
            method="PUT",
            headers={
                "Authorization": f"Bearer {token}",
                "Content-Type": item.content_type,
                "Content-Length": str(len(data)),
            },
        )
        try:
            with urllib.request.urlopen(req, timeout=self.cfg.timeout_s, context=self._ssl) as resp:
                resp.read()
                status = resp.status
                detail = ""
        except urllib.error.HTTPError as exc:
            status = exc.code
            detail = _reason(exc)
        except (urllib.error.URLError, TimeoutError, ConnectionError, OSError) as exc:
            self.failures += 1
            self.queue.retry(item.sha256, now_ms() + int(self._backoff * 1000), str(exc))
            raise CenterUnreachable(str(getattr(exc, "reason", exc))) from None
        self._backoff = self.cfg.backoff_initial_s
        self._unreachable = False
        if 200 <= status < 300:
            self.queue.done(item.sha256)
            self.sent += 1
            log.debug("evidence %s (%s, camera %s) uploaded", item.sha256, item.content_type, item.camera)
        elif status in RETRY_STATUS or status >= 500:
            self.failures += 1
            delay = min(self.cfg.backoff_initial_s * 2 ** min(item.attempts, 20), self.cfg.backoff_max_s)
            delay *= random.uniform(0.8, 1.2)
            self.queue.retry(item.sha256, now_ms() + int(delay * 1000), f"HTTP {status} {detail}")
            log.warning("evidence %s: center answered %d %s; retry in %.1f s", item.sha256, status, detail,
                        delay)  # fmt: skip
        else:
            self.refused += 1
            self.queue.done(item.sha256)
            log.error("evidence %s (camera %s): center refused it: HTTP %d %s; dropped", item.sha256,
                      item.camera, status, detail)  # fmt: skip

    def wait_idle(self, timeout: float) -> bool:
        """For tests and a clean stop: True once the queue is empty."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.queue.depth == 0:
                return True
            self._wake.set()
            time.sleep(0.05)
        return self.queue.depth == 0


def _reason(exc: urllib.error.HTTPError) -> str:
    try:
        body = exc.read().decode("utf-8", "replace")
    except OSError:
        return exc.reason or ""
    try:
        parsed = json.loads(body)
        if isinstance(parsed, dict):
            return str(parsed.get("detail") or parsed.get("message") or body)[:300]
    except ValueError:
        pass
    return body[:300]
