"""Passwords (argon2id) and their policy (zxcvbn), session tokens and the login rate limit."""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from collections import deque

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from zxcvbn import zxcvbn

_hasher = PasswordHasher()  # argon2id with the library's (RFC 9106 low-memory) parameters
# Verified against when the user does not exist, so a wrong name costs as long as a wrong password.
_DUMMY_HASH = _hasher.hash("parkguard-no-such-user")

TOKEN_BYTES = 32
MIN_PASSWORD_LENGTH = 10
MIN_PASSWORD_SCORE = 3  # zxcvbn's 0–4: 3 is "safely unguessable" (about 10^10 guesses)
MIN_NAME_IN_PASSWORD = 3  # a shorter user name ("op") is inside too many ordinary words to refuse
_ZXCVBN_MAX = 72  # zxcvbn's own limit on what it rates; the rest of a longer password only adds

# zxcvbn's warnings, as people read them here
_WARNINGS_ZH = {
    "Straight rows of keys are easy to guess.": "键盘上连成一排的键很容易被猜到",
    "Short keyboard patterns are easy to guess.": "短的键盘图案很容易被猜到",
    'Repeats like "aaa" are easy to guess.': "“aaa”这样的重复很容易被猜到",
    'Repeats like "abcabcabc" are only slightly harder to guess than "abc".': (
        "“abcabcabc”这样的重复并不比“abc”难猜多少"
    ),
    'Sequences like "abc" or "6543" are easy to guess.': "“abc”“6543”这样的序列很容易被猜到",
    "Recent years are easy to guess.": "最近的年份很容易被猜到",
    "Dates are often easy to guess.": "日期往往很容易被猜到",
    "This is a top-10 common password.": "这是最常用的 10 个密码之一",
    "This is a top-100 common password.": "这是最常用的 100 个密码之一",
    "This is a very common password.": "这是非常常用的密码",
    "This is similar to a commonly used password.": "这和常用密码很相似",
    "A word by itself is easy to guess.": "单个单词很容易被猜到",
    "Names and surnames by themselves are easy to guess.": "单独的姓名很容易被猜到",
    "Common names and surnames are easy to guess.": "常见的姓名很容易被猜到",
}


def password_problem(password: str, username: str) -> str | None:
    """Why ``password`` may not be used by ``username`` (a message in Chinese, the English
    beside it), or None. The same policy for every role, at creation, reset and change."""
    if len(password) < MIN_PASSWORD_LENGTH:
        return f"密码太短：至少 {MIN_PASSWORD_LENGTH} 个字符 (at least {MIN_PASSWORD_LENGTH} characters)"
    name, lowered = username.strip().lower(), password.lower()
    if name and lowered.strip() == name:
        return "密码不能与用户名相同 (the password equals the user name)"
    if len(name) >= MIN_NAME_IN_PASSWORD and name in lowered:
        return "密码不能包含用户名 (the password contains the user name)"
    result = zxcvbn(password[:_ZXCVBN_MAX], user_inputs=[name] if name else [])
    if result["score"] >= MIN_PASSWORD_SCORE:
        return None
    warning = str(result["feedback"].get("warning") or "")
    why = _WARNINGS_ZH.get(warning, "容易被猜到")
    return (
        f"密码强度不足：{why}；请用更长、不易猜到的密码，例如几个不相关的词组合 "
        f"(too weak: zxcvbn score {result['score']} of 4, need {MIN_PASSWORD_SCORE}"
        + (f"; {warning}" if warning else "")
        + ")"
    )


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
