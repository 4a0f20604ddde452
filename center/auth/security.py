"""Passwords (argon2id), session tokens and the login rate limit."""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from collections import deque

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher()  # argon2id with the library's (RFC 9106 low-memory) parameters
# Verified against when the user does not exist, so a wrong name costs as long as a wrong password.
_DUMMY_HASH = _hasher.hash("parkguard-no-such-user")

TOKEN_BYTES = 32
MIN_PASSWORD_LENGTH = 8


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def new_token() -> str:
    """A bearer token for the client; the server stores only :func:`token_hash` of it."""
    return secrets.token_urlsafe(TOKEN_BYTES)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()


class LoginLimiter:
    """Failed logins counted per key in a sliding window of ``window_s``; each key has its
    own limit (the login counts the user name at its address, the address whatever the names,
    the user name whatever the addresses).

    Kept in memory per replica: behind a load balancer with N replicas an attacker gets at
    most N times the budget, which still turns a guessing attack into a crawl.
    """

    def __init__(self, max_failures: int, window_s: float) -> None:
        self.max_failures = max_failures  # the limit of a key given without one
        self.window_s = window_s
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, key: str, now: float) -> deque[float]:
        q = self._failures.setdefault(key, deque())
        while q and q[0] <= now - self.window_s:
            q.popleft()
        return q

    def retry_after(self, keys: list[str] | list[tuple[str, int]]) -> float:
        """Seconds to wait before another try, 0 when allowed; ``keys``: names, or (name, limit)."""
        now = time.monotonic()
        wait = 0.0
        with self._lock:
            for item in keys:
                key, limit = item if isinstance(item, tuple) else (item, self.max_failures)
                q = self._recent(key, now)
                if len(q) >= limit:
                    wait = max(wait, q[-limit] + self.window_s - now)
        return wait

    def failed(self, keys: list[str]) -> None:
        now = time.monotonic()
        with self._lock:
            for key in keys:
                self._recent(key, now).append(now)
            if len(self._failures) > 10_000:  # forget idle keys so memory stays bounded
                for k in [k for k, q in self._failures.items() if not q or q[-1] <= now - self.window_s]:
                    del self._failures[k]

    def succeeded(self, keys: list[str]) -> None:
        with self._lock:
            for key in keys:
                self._failures.pop(key, None)
