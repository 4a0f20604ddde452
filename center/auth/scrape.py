"""Who may read ``GET /metrics``: a scraper on the center's own machine (a loopback peer that
no proxy forwarded), or one that sends the scrape token (``metrics.token_env`` /
``metrics.token_file``) as ``Authorization: Bearer …``. A login session of any role does not
count: the figures are for monitoring, not for people."""

from __future__ import annotations

import hmac
import ipaddress

from starlette.requests import HTTPConnection

from center.auth.sessions import token_and_source

FORWARDING_HEADERS = ("x-forwarded-for", "forwarded", "x-real-ip")


def local_unforwarded(conn: HTTPConnection) -> bool:
    """The peer is a loopback address and the request carries no proxy's forwarding header
    (a reverse proxy on the same machine would otherwise make every outside caller local)."""
    host = conn.client.host if conn.client else ""
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
    return loopback and not any(h in conn.headers for h in FORWARDING_HEADERS)


def scrape_refusal(conn: HTTPConnection) -> tuple[int, str] | None:
    """None when the caller may scrape; else (status, reason): 404 when metrics are off, 401
    without a token, 403 with a wrong one."""
    config = conn.app.state.config.metrics
    if not config.enabled:
        return 404, "metrics are off (metrics.enabled: false)"
    expected: str | None = conn.app.state.metrics_token
    token, source = token_and_source(conn)
    if token and source == "header" and expected is not None:
        if hmac.compare_digest(token.encode(), expected.encode()):
            return None
        return 403, "wrong scrape token"
    if config.allow_loopback and local_unforwarded(conn):
        return None
    if token:
        return 403, "metrics need the scrape token (metrics.token_env / token_file), not a login"
    return 401, "metrics need the scrape token or a request from this machine"
