"""Free TCP ports for private servers."""

from __future__ import annotations

import random
import socket
import threading
from pathlib import Path

# Ports we pick are drawn from below the kernel's ephemeral range, so that an outgoing
# connection never takes the port of a server we stopped and want to start again on the
# same port (broker and camera outage tests).
_FALLBACK_EPHEMERAL = (32768, 60999)
_LOW = 20000
_handed_out: set[int] = set()
_lock = threading.Lock()


def _ephemeral_range() -> tuple[int, int]:
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return _FALLBACK_EPHEMERAL


def _bindable(port: int, host: str) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on now, never the same twice in this process.

    Chosen at random outside the ephemeral range where that range leaves room, so that
    parallel test processes rarely collide and a stopped server can take its port back.
    """
    eph_low, eph_high = _ephemeral_range()
    if eph_low - _LOW >= 2000:
        candidates = (_LOW, eph_low - 1)
    elif 65535 - eph_high >= 2000:
        candidates = (eph_high + 1, 65535)
    else:
        candidates = None
    with _lock:
        if candidates is not None:
            for _ in range(200):
                port = random.randint(*candidates)
                if port not in _handed_out and _bindable(port, host) and _bindable(port, "0.0.0.0"):
                    _handed_out.add(port)
                    return port
        # No room outside the ephemeral range: let the kernel choose.
        while True:
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
                sock.bind((host, 0))
                port = int(sock.getsockname()[1])
            if port not in _handed_out:
                _handed_out.add(port)
                return port
