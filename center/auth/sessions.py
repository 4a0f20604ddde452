"""Login sessions: the token a request or WebSocket carries, and the user behind it.

Only the SHA-256 of a token is stored (:func:`center.auth.security.token_hash`); a token is
shown once, to the client that logged in (or to the administrator who issued it).

A session is valid while it has not expired, its user is active, and the user's
``session_epoch`` is the one the session was opened in. Changing a user's password or its
``active`` flag raises the epoch (an ORM attribute event below, so no code path that changes
them can forget it): every older session ends at once, on every replica, and enabling an
account again does not revive the tokens it had before it was disabled.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from typing import Any

from sqlalchemy import delete, event
from sqlalchemy.orm import Session, object_session, sessionmaker
from sqlalchemy.orm.base import NEVER_SET, NO_VALUE
from starlette.requests import HTTPConnection

from center.auth.policy import Principal
from center.auth.security import new_token, token_hash
from center.domain.vocabulary import Role
from center.store.models import AuthSession, User
from protocol import now_ms

SESSION_COOKIE = "pg_session"
MAX_TOKEN_CHARS = 256
_ENDED = "parkguard_sessions_ended"  # Session.info flag: this transaction ended login sessions


def token_and_source(conn: HTTPConnection, *, query: bool = False) -> tuple[str | None, str]:
    """The caller's token and where it came from: ``Authorization: Bearer …`` ("header"), else
    ``?token=`` ("query"; ``query``: the WebSocket, for API clients), else the session cookie
    ("cookie"; the browser's way, the live feed included); (None, "") without one."""
    header = conn.headers.get("authorization", "")
    if header[:7].lower() == "bearer ":
        return header[7:].strip() or None, "header"
    if query and conn.query_params.get("token"):
        return conn.query_params["token"], "query"
    cookie = conn.cookies.get(SESSION_COOKIE)
    return (cookie, "cookie") if cookie else (None, "")


def connection_token(conn: HTTPConnection, *, query: bool = False) -> str | None:
    """The caller's token (see :func:`token_and_source`)."""
    return token_and_source(conn, query=query)[0]


def client_ip(conn: HTTPConnection) -> str:
    """The caller's address: the peer's, or, when the peer is one of the config's
    ``security.trusted_proxies``, the last address of ``X-Forwarded-For`` that is not a trusted
    proxy (a client can write anything at the start of that header, never at its end)."""
    peer = (conn.client.host if conn.client else "")[:64]
    trusted = _trusted_proxies(conn)
    if not trusted or not _in(peer, trusted):
        return peer
    hops = [h.strip() for h in ",".join(conn.headers.getlist("x-forwarded-for")).split(",") if h.strip()]
    for hop in reversed(hops[-32:]):
        try:
            ipaddress.ip_address(hop)
        except ValueError:
            return peer  # not an address: believe none of it
        if not _in(hop, trusted):
            return hop[:64]
    return hops[0][:64] if hops else peer


def from_trusted_proxy(conn: HTTPConnection) -> bool:
    """Does the request come straight from one of ``security.trusted_proxies`` (whose
    ``X-Forwarded-*`` headers may then be believed, e.g. ``X-Forwarded-Proto`` for HTTPS)?"""
    trusted = _trusted_proxies(conn)
    return bool(trusted) and conn.client is not None and _in(conn.client.host, trusted)


def _trusted_proxies(conn: HTTPConnection) -> list[Any]:
    config = getattr(getattr(conn.scope.get("app"), "state", None), "config", None)
    return list(config.security.trusted_proxies) if config is not None else []


def _in(address: str, networks: list[Any]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip.version == net.version and ip in net for net in networks)


def principal_of(user: User, ip: str = "") -> Principal:
    return Principal(
        username=user.username,
        role=Role(user.role),
        user_id=user.id,
        display_name=user.display_name,
        enterprise_id=user.enterprise_id,
        insurer_id=user.insurer_id,
        node=user.node,
        ip=ip,
    )


def principal_for_token(session: Session, token: str | None, ip: str = "") -> Principal | None:
    """The user behind a token (None for a missing, unknown or expired one, or a disabled user)."""
    if not token or len(token) > MAX_TOKEN_CHARS:
        return None
    row = session.get(AuthSession, token_hash(token))
    if row is None or row.expires_ms <= now_ms():
        return None
    user = session.get(User, row.user_id)
    if user is None or not user.active or row.epoch != user.session_epoch:
        return None
    return principal_of(user, ip)


def caller(session: Session, conn: HTTPConnection, *, query: bool = False) -> Principal | None:
    """Who sends this request or WebSocket (the one session check of both)."""
    return principal_for_token(session, connection_token(conn, query=query), client_ip(conn))


def open_session(session: Session, user_id: int, valid_ms: int) -> tuple[str, int]:
    """A new session of the user: (its bearer token, when it expires in epoch ms)."""
    user = session.get(User, user_id)
    if user is None:
        raise ValueError(f"no user {user_id}")
    token = new_token()
    now = now_ms()
    expires = now + valid_ms
    session.add(
        AuthSession(
            token_hash=token_hash(token),
            user_id=user_id,
            created_ms=now,
            expires_ms=expires,
            epoch=user.session_epoch or 0,
        )
    )
    return token, expires


def end_session(session: Session, token: str) -> None:
    session.execute(delete(AuthSession).where(AuthSession.token_hash == token_hash(token)))
    session.info[_ENDED] = True


def end_user_sessions(session: Session, user: User) -> None:
    """End every session of ``user`` (its epoch goes up, so a token stops working even where its
    row survived) and delete their rows."""
    user.session_epoch = (user.session_epoch or 0) + 1
    session.execute(delete(AuthSession).where(AuthSession.user_id == user.id))
    session.info[_ENDED] = True


def on_sessions_ended(factory: sessionmaker[Session], callback: Callable[[], None]) -> None:
    """Call ``callback`` after each commit (of a session made by ``factory``) that ended login
    sessions: the live feed checks its sockets again at once (other replicas by their timer)."""

    def after_commit(session: Session) -> None:
        if session.info.pop(_ENDED, False):
            callback()

    event.listen(factory, "after_commit", after_commit)


def _credentials_changed(target: User, value: Any, oldvalue: Any, _initiator: Any) -> None:
    """A new password, or the account disabled or enabled: the user's sessions end."""
    if oldvalue is NO_VALUE or oldvalue is NEVER_SET or value == oldvalue:
        return  # a new user, or no change
    target.session_epoch = (target.session_epoch or 0) + 1
    owner = object_session(target)
    if owner is not None:
        owner.info[_ENDED] = True


event.listen(User.password_hash, "set", _credentials_changed, active_history=True)
event.listen(User.active, "set", _credentials_changed, active_history=True)
