"""The one body-size limit of the center, applied before a body is read, and 422 answers that
do not echo what was sent.

:class:`BodyLimit` is a pure ASGI middleware (no ``BaseHTTPMiddleware``: that one would buffer
and hide the stream). Each request gets the limit of its route class (``http.limits`` of the
config): a ``Content-Length`` above it is answered 413 at once, without reading a byte; a body
without one (chunked, streamed) is counted as it arrives and the request is refused with 413
as soon as the count passes the limit, whoever is reading it at the time (FastAPI's body
parsing or a route's ``request.stream()``). Nothing here buffers the body.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from center.config import BodyLimits

KIB = 1024
MIB = 1024 * 1024
EVIDENCE_PREFIX = "/api/evidence/"
PHOTO_PATH = "/api/evidence"  # POST: a photo from the console (upload_photo)
PHOTO_MAX_BYTES = 10 * MIB  # a phone's photo; at most the evidence limit
LOGIN_PATH = "/api/auth/login"
PLAN_PATH = "/api/plan/image"  # PUT: the park's plan (center/api/plan/image.py checks it again)
PLAN_MAX_BYTES = 2 * MIB
MAX_LOC_CHARS = 64  # a 422's loc may hold keys the client sent
MAX_MSG_CHARS = 300


def _size(n: int) -> str:
    return f"{n // MIB} MiB" if n >= MIB and n % MIB == 0 else f"{n // KIB} KiB" if n >= KIB else f"{n} B"


def too_large_detail(limit: int) -> str:
    return f"请求内容过大，上限 {_size(limit)} (request body too large: at most {_size(limit)})"


class BodyTooLarge(HTTPException):
    """Raised from ``receive`` when a streamed body passes its limit (an HTTPException, so
    FastAPI's body parsing lets it through and the app answers 413)."""

    def __init__(self, limit: int) -> None:
        super().__init__(status_code=413, detail=too_large_detail(limit), headers={"Connection": "close"})


def limit_for(limits: BodyLimits, method: str, path: str) -> int:
    """The largest body (bytes) a request to ``path`` may carry."""
    if method == "PUT" and path.startswith(EVIDENCE_PREFIX):
        return int(limits.evidence_mib * MIB)
    if method == "POST" and path.rstrip("/") == PHOTO_PATH:
        return min(PHOTO_MAX_BYTES, int(limits.evidence_mib * MIB))
    if method == "PUT" and path.rstrip("/") == PLAN_PATH:
        return PLAN_MAX_BYTES
    if path.rstrip("/") == LOGIN_PATH:
        return limits.login_kib * KIB
    return limits.api_kib * KIB


def _header(scope: Scope, name: bytes) -> list[bytes]:
    return [value for key, value in scope.get("headers", ()) if key.lower() == name]


class BodyLimit:
    """Refuse (413) any HTTP request whose body is over its route's limit, before reading it."""

    def __init__(self, app: ASGIApp, limits: BodyLimits) -> None:
        self.app = app
        self.limits = limits

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = limit_for(self.limits, scope["method"], scope["path"])
        lengths = _header(scope, b"content-length")
        if lengths:
            text = lengths[0].strip()
            if len(lengths) > 1 or not text.isdigit() or len(text) > 18:
                await _answer(send, 400, "Content-Length 无效 (invalid Content-Length)")
                return
            if int(text) > limit:
                await _answer(send, 413, too_large_detail(limit))
                return
        received = 0
        started = False

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        async def watched(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counted, watched)
        except BodyTooLarge:
            if started:
                raise
            await _answer(send, 413, too_large_detail(limit))


async def _answer(send: Send, status: int, detail: str) -> None:
    """A JSON error, and the connection closed after it (the rest of the body is never read)."""
    body = json.dumps({"detail": detail}, ensure_ascii=False).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def _short(value: Any, limit: int) -> Any:
    if isinstance(value, str) and len(value) > limit:
        return value[:limit] + "…"
    return value


def public_errors(errors: Any) -> list[dict[str, Any]]:
    """A validation error's list as the client gets it: where, what, which kind, never the
    input (a 5 MB password would come back whole, and a secret has no place in an answer)."""
    out: list[dict[str, Any]] = []
    for error in errors:
        loc = [_short(part, MAX_LOC_CHARS) for part in error.get("loc", ())]
        out.append(
            {
                "type": str(error.get("type", "value_error")),
                "loc": loc,
                "msg": _short(str(error.get("msg", "")), MAX_MSG_CHARS),
            }
        )
    return out


async def validation_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    return JSONResponse({"detail": public_errors(exc.errors())}, status_code=422)
