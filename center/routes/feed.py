"""The live alert feed (WebSocket), authenticated and filtered by role."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import WebSocket, WebSocketDisconnect
from starlette.concurrency import run_in_threadpool

from center.config import CenterConfig
from center.live import LiveHub
from center.policy import POLICY, SESSION_COOKIE, Principal, principal_for_token
from protocol import now_ms

CLOSE_UNAUTHENTICATED = 4401
CLOSE_FORBIDDEN = 4403


def _who(websocket: WebSocket) -> tuple[Principal | None, set[str] | None]:
    token = websocket.query_params.get("token") or websocket.cookies.get(SESSION_COOKIE)
    header = websocket.headers.get("authorization", "")
    if header[:7].lower() == "bearer ":
        token = header[7:].strip()
    client = websocket.client
    with websocket.app.state.session_factory() as session:
        who = principal_for_token(session, token, client.host if client else "")
        if who is None:
            return None, set()
        return who, who.enterprise_scope(session, websocket.app.state.config.timezone)  # resolved once


def _filter(scope: set[str] | None) -> Any:
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
    allowed = POLICY["alerts_feed"]
    if who is None:
        await websocket.close(code=CLOSE_UNAUTHENTICATED, reason="log in first")
        return
    if not isinstance(allowed, frozenset) or who.role not in allowed:
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
