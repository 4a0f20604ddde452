"""How a request reached the center: the one place that decides whether it came over HTTPS
(the session cookie is marked ``Secure`` then, see :func:`cookie_secure`)."""

from __future__ import annotations

from starlette.requests import HTTPConnection

from center.config import CenterConfig

SECURE_SCHEMES = frozenset({"https", "wss"})


def request_is_https(conn: HTTPConnection) -> bool:
    """Did this request (or WebSocket) come over HTTPS? By the scheme the ASGI server gives:
    ``https`` when it terminates TLS itself, or when it takes ``X-Forwarded-Proto`` from a
    proxy it trusts (uvicorn: ``--proxy-headers`` with ``--forwarded-allow-ips``). A proxy list
    of the center's own config belongs here too, so every caller asks this one function."""
    return conn.url.scheme in SECURE_SCHEMES


def cookie_secure(config: CenterConfig, conn: HTTPConnection) -> bool:
    """Mark the session cookie ``Secure``: always with ``auth.cookie_secure: true`` (a site
    behind HTTPS whose proxy the center cannot see), else when this request came over HTTPS."""
    return config.auth.cookie_secure or request_is_https(conn)
