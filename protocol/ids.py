"""Identifiers: the one pattern every configured id follows, and UUIDv7 event ids (RFC 9562).

Site, node, camera, zone, rule, enterprise … ids are 1–64 characters of ``A-Z a-z 0-9 _ . -``
(safe in an MQTT topic level, a URL path segment and a file name). Event ids are UUIDv7,
time-ordered so they sort by creation time.
"""

from __future__ import annotations

import os
import re
import threading
import time
import uuid
from typing import Annotated

from pydantic import StringConstraints

#: the pattern of every configured id (also one MQTT topic level)
ID_PATTERN = r"^[A-Za-z0-9_.\-]{1,64}$"
ID_RE = re.compile(ID_PATTERN)
#: a pydantic string type for ids
Id = Annotated[str, StringConstraints(pattern=ID_PATTERN)]


def valid_id(value: str) -> bool:
    """True if ``value`` is a well-formed id (usable as one topic level: no wildcard, no slash)."""
    return bool(ID_RE.match(value))


_lock = threading.Lock()
_last_ms = 0
_counter = 0


def new_event_id(ts_ms: int | None = None) -> str:
    """Return a new UUIDv7 string; ids made in one process are strictly increasing."""
    global _last_ms, _counter
    with _lock:
        ms = int(time.time() * 1000) if ts_ms is None else int(ts_ms)
        if ts_ms is not None and ms < _last_ms:
            # an explicit time in the past: encode it as given (no ordering promise against later ids)
            rand_b = int.from_bytes(os.urandom(8), "big") & ((1 << 62) - 1)
            counter = int.from_bytes(os.urandom(2), "big") & 0xFFF
            return _pack(ms, counter, rand_b)
        if ms <= _last_ms:
            ms = _last_ms
            _counter += 1
            if _counter > 0xFFF:  # 12-bit counter exhausted: borrow the next millisecond
                ms += 1
                _counter = 0
        else:
            _counter = int.from_bytes(os.urandom(2), "big") & 0x3FF
        _last_ms = ms
        counter = _counter
    rand_b = int.from_bytes(os.urandom(8), "big") & ((1 << 62) - 1)
    return _pack(ms, counter, rand_b)


def _pack(ms: int, counter: int, rand_b: int) -> str:
    value = (ms & ((1 << 48) - 1)) << 80
    value |= 0x7 << 76
    value |= counter << 64
    value |= 0b10 << 62
    value |= rand_b
    return str(uuid.UUID(int=value))


def event_id_ms(event_id: str) -> int:
    """The creation time (epoch ms) encoded in a UUIDv7."""
    return uuid.UUID(event_id).int >> 80
