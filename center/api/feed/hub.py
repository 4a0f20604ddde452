"""Live feed: fan committed alert changes out to WebSocket clients.

Runs in the asyncio loop. The ingest thread hands changes over with
``loop.call_soon_threadsafe``; each client has a bounded queue that drops its oldest
message when full, so a slow browser never holds up ingest or the other clients.

When login sessions end (a logout, a password reset, a disabled account: see
:func:`center.auth.sessions.on_sessions_ended`) the hub wakes every client's session check.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)

# A burst comes in one turn of the event loop (an ingest batch of up to 500, or a replica that
# catches up after a restart relayed from the others) before a client's sender runs again:
# 256 lost changes in the three-replica test (tests/e2e/test_replicas.py), 2048 none.
CLIENT_QUEUE_SIZE = 2048

MessageFilter = Callable[[dict[str, Any]], bool]


class LiveHub:
    def __init__(self, queue_size: int = CLIENT_QUEUE_SIZE) -> None:
        self.queue_size = queue_size
        self._clients: dict[asyncio.Queue[str], MessageFilter | None] = {}
        self._rechecks: set[asyncio.Event] = set()
        self.sessions_generation = 0  # raised each time login sessions end
        self._loop: asyncio.AbstractEventLoop | None = None
        self.dropped = 0  # messages dropped for slow clients since start

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop

    def subscribe(self, accept: MessageFilter | None = None) -> asyncio.Queue[str]:
        """A queue of this client's messages; ``accept`` picks which ones it may get (its role)."""
        q: asyncio.Queue[str] = asyncio.Queue(maxsize=self.queue_size)
        self._clients[q] = accept
        return q

    @property
    def client_count(self) -> int:
        """Live-feed clients connected to this replica (center/metrics.py)."""
        return len(self._clients)

    def unsubscribe(self, q: asyncio.Queue[str]) -> None:
        self._clients.pop(q, None)

    def watch_sessions(self) -> asyncio.Event:
        """An event set whenever login sessions have ended: the client checks its own again."""
        ev = asyncio.Event()
        self._rechecks.add(ev)
        return ev

    def unwatch_sessions(self, ev: asyncio.Event) -> None:
        self._rechecks.discard(ev)

    def _sessions_ended(self) -> None:
        self.sessions_generation += 1
        for ev in self._rechecks:
            ev.set()

    def sessions_ended_threadsafe(self) -> None:
        """Login sessions ended (called from any thread, after the commit)."""
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        try:
            loop.call_soon_threadsafe(self._sessions_ended)
        except RuntimeError:  # the loop closed between the check and the call
            log.debug("live feed loop closed; session check not woken")

    def publish(self, message: dict[str, Any]) -> None:
        """Send to every client whose filter accepts it (call in the loop's thread)."""
        text = json.dumps(message, ensure_ascii=False, separators=(",", ":"))
        for q, accept in self._clients.items():
            if accept is not None and not accept(message):
                continue
            if q.full():
                q.get_nowait()  # drop the oldest for this slow client only
                self.dropped += 1
                if self.dropped in (1, 10, 100) or self.dropped % 1000 == 0:
                    log.warning("live feed: %d message(s) dropped for slow clients so far", self.dropped)
            q.put_nowait(text)

    def publish_alert_threadsafe(self, alert: dict[str, Any]) -> None:
        """Hand an alert change over from another thread (the ingest worker)."""
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        try:
            loop.call_soon_threadsafe(self.publish, {"type": "alert", "alert": alert})
        except RuntimeError:  # the loop closed between the check and the call
            log.debug("live feed loop closed; alert not sent")
