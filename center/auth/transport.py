"""How a request reached the center: the one place that decides whether it came over HTTPS
(the session cookie is marked ``Secure`` then, see :func:`cookie_secure`)."""

from __future__ import annotations

from starlette.requests import HTTPConnection

from center.auth.sessions import from_trusted_proxy
from center.config import CenterConfig

SECURE_SCHEMES = frozenset({"https", "wss"})


def request_is_https(conn: HTTPConnection) -> bool:
    """Did this request (or WebSocket) come over HTTPS? By the scheme the ASGI server gives
    (``https`` when it terminates TLS itself), or by ``X-Forwarded-Proto: https`` from one of
    ``security.trusted_proxies`` (uvicorn's own proxy headers are off: the config decides)."""
    if conn.url.scheme in SECURE_SCHEMES:
        return True
    proto = conn.headers.get("x-forwarded-proto", "").split(",")[0].strip().lower()
    return proto in SECURE_SCHEMES and from_trusted_proxy(conn)


def cookie_secure(config: CenterConfig, conn: HTTPConnection) -> bool:
    """Mark the session cookie ``Secure``: always with ``auth.cookie_secure: true`` (a site
    behind HTTPS whose proxy the center cannot see), else when this request came over HTTPS."""
    return config.auth.cookie_secure or request_is_https(conn)
