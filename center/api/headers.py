"""Security headers on every answer of the center (one pure ASGI middleware).

- ``Content-Security-Policy`` (:data:`CSP`): scripts and everything else only from the center
  itself; no inline script, ``eval`` or ``javascript:`` URL runs, no page may frame it. Images
  and clips may also be ``blob:`` (the console fetches evidence with the login and shows it
  from object URLs), images ``data:``. A route may set a stricter one of its own (the park
  plan's file: center/api/plan/routes.py); it is kept.
- ``X-Frame-Options: DENY`` for browsers that predate ``frame-ancestors``.
- ``X-Content-Type-Options: nosniff``: a file is never run as something other than its type.
- ``Referrer-Policy: same-origin``: addresses (enterprise ids, hazard ids) stay on the site.
- ``Cache-Control: no-store`` on ``/api`` answers that set none of their own (they are per
  caller and often personal); pages and ``/static`` keep theirs.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data: blob:; media-src 'self' blob:; connect-src 'self' ws: wss:; "
    "frame-ancestors 'none'; base-uri 'self'; form-action 'self'"
)
HEADERS: list[tuple[bytes, bytes]] = [
    (b"content-security-policy", CSP.encode()),
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
]
API_PREFIX = "/api/"


class SecurityHeaders:
    """Add :data:`HEADERS` to every HTTP answer (replacing any the route set), and
    ``Cache-Control: no-store`` to ``/api`` answers without a Cache-Control."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        api = scope["path"].startswith(API_PREFIX)

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                given = message.get("headers", ())
                # a route's own (stricter) Content-Security-Policy stays: the park plan's forbids everything
                own_csp = any(k.lower() == b"content-security-policy" for k, _ in given)
                ours = {name for name, _ in HEADERS if not (own_csp and name == b"content-security-policy")}
                headers = [(k, v) for k, v in given if k.lower() not in ours]
                headers += [(k, v) for k, v in HEADERS if k in ours]
                if api and not any(k.lower() == b"cache-control" for k, _ in headers):
                    headers.append((b"cache-control", b"no-store"))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, with_headers)
