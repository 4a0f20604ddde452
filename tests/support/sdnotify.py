"""What systemd listens on for sd_notify: a bound unix datagram socket that keeps every message."""

from __future__ import annotations

import os
import socket
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager


class NotifySocket:
    """What systemd listens on: a bound AF_UNIX datagram socket; every message as it came."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(path)
        self.sock.settimeout(0.1)
        self.messages: list[tuple[float, str]] = []

    def pump(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            try:
                data = self.sock.recv(4096)
            except TimeoutError:
                continue
            self.messages.append((time.monotonic(), data.decode()))

    def wait_for(self, line: str, timeout: float) -> bool:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if any(line in m.splitlines() for _, m in self.messages):
                return True
            self.pump(0.2)
        return False

    def count(self, line: str, since: float = 0.0) -> int:
        return sum(1 for t, m in self.messages if t >= since and line in m.splitlines())

    def close(self) -> None:
        self.sock.close()


@contextmanager
def notify_socket_bound() -> Iterator[NotifySocket]:
    """A fresh socket in a short temporary folder, removed after."""
    folder = tempfile.mkdtemp(prefix="pg-sd-")  # short: a socket path has 107 bytes at most
    sock = NotifySocket(os.path.join(folder, "notify"))
    try:
        yield sock
    finally:
        sock.close()
        os.unlink(sock.path)
        os.rmdir(folder)
