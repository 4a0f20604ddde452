"""The live alert feed (WebSocket), authenticated and filtered by role."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import WebSocket, WebSocketDisconnect
from starlette.concurrency import run_in_threadpool

from center.api.feed.hub import LiveHub, MessageFilter
from center.auth.policy import Principal, allows
from center.auth.sessions import caller
from center.config import CenterConfig
from protocol import now_ms

CLOSE_UNAUTHENTICATED = 4401
CLOSE_FORBIDDEN = 4403


def _who(websocket: WebSocket) -> tuple[Principal | None, set[str] | None]:
    with websocket.app.state.session_factory() as session:
        who = caller(session, websocket, query=True)
        if who is None:
            return None, set()
        return who, who.enterprise_scope(session, websocket.app.state.config.timezone)  # resolved once


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
    socket closes with code 4401, for a role without alerts with 4403."""
    hub: LiveHub = websocket.app.state.hub
    config: CenterConfig = websocket.app.state.config
    who, scope = await run_in_threadpool(_who, websocket)
    await websocket.accept()
    if who is None:
        await websocket.close(code=CLOSE_UNAUTHENTICATED, reason="log in first")
        return
    if not allows("alerts_feed", who.role):
        await websocket.close(code=CLOSE_FORBIDDEN, reason=f"role {who.role} gets no alerts")
        return
    q = hub.subscribe(_filter(scope))

    async def pump() -> None:
        try:
            while True:
                await websocket.send_text(await q.get())
        except Exception:  # the client went away mid-send; the receive loop notices too
            return

    sender: asyncio.Task[None] | None = None
    try:
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
        sender = asyncio.create_task(pump())
        while True:  # clients say nothing we need; this notices when they leave
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                break
    except WebSocketDisconnect:
        pass
    finally:
        hub.unsubscribe(q)
        if sender is not None:
            sender.cancel()
