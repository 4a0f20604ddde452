"""The live alert feed (WebSocket), authenticated and filtered by role.

The session is checked when the socket opens and again while it stays open: before sending
(at most once a second), every ``auth.feed_recheck_s`` seconds (expiry, and a logout or a
disabled account on another replica), and at once when this process ends login sessions. A
socket whose session has ended is closed with code 4401 and sends nothing more."""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

from fastapi import WebSocket, WebSocketDisconnect
from starlette.concurrency import run_in_threadpool

from center.api.feed.hub import LiveHub, MessageFilter
from center.auth.origin import websocket_origin_problem
from center.auth.policy import Principal, allows
from center.auth.sessions import caller, connection_token, principal_for_token
from center.config import CenterConfig
from protocol import now_ms

CLOSE_UNAUTHENTICATED = 4401
CLOSE_FORBIDDEN = 4403
CLOSE_POLICY = 1008  # the Origin is not allowed
SESSION_ENDED = "会话已结束，请重新登录 (session ended: log in again)"
SEND_CHECK_S = 1.0  # before a send, the session is checked again when its last check is older


def _who(websocket: WebSocket) -> tuple[Principal | None, set[str] | None]:
    with websocket.app.state.session_factory() as session:
        who = caller(session, websocket, query=True)
        if who is None:
            return None, set()
        return who, who.enterprise_scope(session, websocket.app.state.config.timezone)  # resolved once


def _still_valid(websocket: WebSocket, token: str | None, user_id: int | None) -> bool:
    with websocket.app.state.session_factory() as session:
        who = principal_for_token(session, token)
        return who is not None and who.user_id == user_id


class _SessionCheck:
    """Is the socket's session still valid? One database check at a time, shared by the
    sender and the timer; a check that started before login sessions last ended does not count."""

    def __init__(self, websocket: WebSocket, hub: LiveHub, token: str | None, user_id: int | None) -> None:
        self.websocket, self.hub, self.token, self.user_id = websocket, hub, token, user_id
        self.checked, self.seen = time.monotonic(), hub.sessions_generation
        self._running: asyncio.Future[bool] | None = None
        self._running_gen = -1

    def unsure(self) -> bool:
        """A check is running, sessions ended since the last one, or it is older than SEND_CHECK_S."""
        return (
            (self._running is not None and not self._running.done())
            or self.seen != self.hub.sessions_generation
            or time.monotonic() - self.checked >= SEND_CHECK_S
        )

    async def valid(self) -> bool:
        gen = self.hub.sessions_generation
        if self._running is None or self._running.done() or self._running_gen != gen:
            self._running_gen = gen
            self._running = asyncio.ensure_future(
                run_in_threadpool(_still_valid, self.websocket, self.token, self.user_id)
            )
        running, running_gen = self._running, self._running_gen
        ok = await asyncio.shield(running)
        if ok and running_gen >= self.seen:
            self.seen, self.checked = running_gen, time.monotonic()
        return ok


def _filter(scope: set[str] | None) -> MessageFilter | None:
    if scope is None:
        return None  # sees everything

    def accept(message: dict[str, Any]) -> bool:
        alert = message.get("alert") or {}
        return alert.get("enterprise") in scope

    return accept


async def alerts_feed(websocket: WebSocket) -> None:
    """Live feed: ``{"type": "hello"}`` first, then ``{"type": "alert", "alert": {…}}`` per change
    the caller may see. Log in first (the session cookie, or ``?token=``); without it the
    socket closes with code 4401, for a role without alerts with 4403; when the session ends
    (logout, password reset, disabled account, expiry) with 4401. A browser page of another
    origin (``Origin`` neither the center's nor in ``security.allowed_origins``) is refused
    before the handshake (1008 / HTTP 403)."""
    hub: LiveHub = websocket.app.state.hub
    config: CenterConfig = websocket.app.state.config
    problem = websocket_origin_problem(websocket)
    if problem is not None:  # a page of another origin: refused before the handshake (HTTP 403)
        await websocket.close(code=CLOSE_POLICY, reason=problem)
        return
    who, scope = await run_in_threadpool(_who, websocket)
    await websocket.accept()
    if who is None:
        await websocket.close(code=CLOSE_UNAUTHENTICATED, reason="log in first")
        return
    if not allows("alerts_feed", who.role):
        await websocket.close(code=CLOSE_FORBIDDEN, reason=f"role {who.role} gets no alerts")
        return
    lock = asyncio.Lock()  # one send or close at a time
    session_check = _SessionCheck(websocket, hub, connection_token(websocket, query=True), who.user_id)

    async def end() -> None:
        async with lock:
            with contextlib.suppress(Exception):  # the client may be gone already
                await websocket.close(code=CLOSE_UNAUTHENTICATED, reason=SESSION_ENDED)

    async def pump(q: asyncio.Queue[str]) -> None:
        try:
            while True:
                batch = [await q.get()]
                while not q.empty():
                    batch.append(q.get_nowait())
                if session_check.unsure() and not await session_check.valid():
                    await end()
                    return
                async with lock:
                    for text in batch:
                        await websocket.send_text(text)
        except Exception:  # the client went away mid-send; the receive loop notices too
            return

    async def guard(wake: asyncio.Event) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), config.auth.feed_recheck_s)
            wake.clear()
            if not await session_check.valid():
                await end()
                return

    async def receive() -> None:
        with contextlib.suppress(WebSocketDisconnect):
            while True:  # clients say nothing we need; this notices when they leave
                message = await websocket.receive()
                if message["type"] == "websocket.disconnect":
                    return

    q = hub.subscribe(_filter(scope))
    wake = hub.watch_sessions()
    tasks: list[asyncio.Task[None]] = []
    try:
        async with lock:
            await websocket.send_json(
                {
                    "type": "hello",
                    "site": config.site,
                    "site_name": config.site_name,
                    "server_ms": now_ms(),
                    "user": who.username,
                    "role": str(who.role),
                }
            )
        tasks = [asyncio.create_task(t) for t in (pump(q), guard(wake), receive())]
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    except WebSocketDisconnect:
        pass
    finally:
        hub.unsubscribe(q)
        hub.unwatch_sessions(wake)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
