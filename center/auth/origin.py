"""Requests from other web origins: the live feed checks the ``Origin`` of a WebSocket, and a
state-changing request authenticated by the session cookie must show it comes from the
console's own scripts (cross-site request forgery).

Browsers send the session cookie (SameSite=Strict) with requests from any page of the same
*site*, which includes another port of the same host. So for a cookie-authenticated POST, PUT,
PATCH or DELETE the center also wants the ``X-Requested-With`` header, which a page of another
origin can only send after a CORS preflight that the center never grants, and an ``Origin``,
when the browser sends one, of the center itself or of ``security.allowed_origins``. Clients
that send ``Authorization: Bearer …`` are not affected: no browser adds that header by itself.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from starlette.requests import HTTPConnection

from center.config import CenterConfig

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
CSRF_HEADER = "x-requested-with"
DEFAULT_PORTS = {"http": "80", "https": "443", "ws": "80", "wss": "443"}


def _host_port(scheme: str, netloc: str) -> str:
    netloc = netloc.lower().rsplit("@", 1)[-1]
    default = DEFAULT_PORTS.get(scheme, "")
    if default and netloc.endswith(f":{default}"):
        netloc = netloc[: -len(default) - 1]
    return netloc


def origin_allowed(conn: HTTPConnection, origin: str) -> bool:
    """Is ``origin`` the center itself (the host:port the request was sent to, or the config's
    ``public_url``) or one of ``security.allowed_origins``?"""
    config: CenterConfig = conn.app.state.config
    parts = urlsplit(origin.strip().lower())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return False  # "null" (a sandboxed frame, a file), or garbage
    if f"{parts.scheme}://{parts.netloc}" in config.security.allowed_origins:
        return True
    theirs = _host_port(parts.scheme, parts.netloc)
    host = conn.headers.get("host", "")
    if host and theirs in (_host_port(parts.scheme, host), host.lower()):
        return True
    if config.public_url:
        public = urlsplit(config.public_url.lower())
        if public.netloc and theirs == _host_port(public.scheme, public.netloc):
            return True
    return False


def websocket_origin_problem(conn: HTTPConnection) -> str | None:
    """Why a WebSocket from this origin is refused (None: allowed). No Origin: not a browser."""
    origin = conn.headers.get("origin")
    if origin is None or origin_allowed(conn, origin):
        return None
    return f"origin {origin[:100]} is not allowed"


def csrf_problem(conn: HTTPConnection, method: str) -> str | None:
    """Why a state-changing request authenticated by the session cookie is refused (None: fine)."""
    if method.upper() in SAFE_METHODS:
        return None
    origin = conn.headers.get("origin")
    if origin is not None and not origin_allowed(conn, origin):
        return f"origin {origin[:100]} is not allowed"
    if conn.headers.get("sec-fetch-site", "") in ("cross-site", "same-site") and origin is None:
        return "a request from another site"
    if not conn.headers.get(CSRF_HEADER):
        return "the X-Requested-With header is missing"
    return None
