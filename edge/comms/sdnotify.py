"""systemd's notify protocol in pure Python: one datagram to ``$NOTIFY_SOCKET`` a message.

Under ``Type=notify`` the node says ``READY=1`` once its cameras are started, ``WATCHDOG=1``
from its main loop while that loop turns (``WatchdogSec=`` in the unit: a loop stuck for longer
gets the service killed and restarted) and ``STOPPING=1`` when it stops. Outside systemd
(``NOTIFY_SOCKET`` unset) every call does nothing. Reference: sd_notify(3), sd_watchdog_enabled(3).
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Mapping

log = logging.getLogger("parkguard.edge.sdnotify")


class SystemdNotifier:
    """Sends notify messages to the socket named by ``NOTIFY_SOCKET`` (path or ``@abstract``)."""

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ
        raw = env.get("NOTIFY_SOCKET", "")
        self.address: str | None = None
        if raw.startswith("@"):  # an abstract socket: a leading NUL byte
            self.address = "\0" + raw[1:]
        elif raw.startswith("/"):
            self.address = raw
        self.watchdog_s = _watchdog_interval(env)
        self._next_watchdog = 0.0
        self._warned = False

    @property
    def enabled(self) -> bool:
        return self.address is not None

    def notify(self, message: str) -> bool:
        """Send one message (``KEY=value`` lines); False when not under systemd or it failed."""
        if self.address is None:
            return False
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
                sock.sendto(message.encode(), self.address)
        except OSError as exc:  # systemd gone or the socket unreachable: say it once, go on
            if not self._warned:
                log.warning("sd_notify to %s failed: %s", self.address.lstrip("\0"), exc)
                self._warned = True
            return False
        return True

    def ready(self, status: str = "") -> bool:
        return self.notify("READY=1" + (f"\nSTATUS={status}" if status else ""))

    def stopping(self) -> bool:
        return self.notify("STOPPING=1")

    def watchdog(self, now: float | None = None) -> bool:
        """``WATCHDOG=1`` at most twice per watchdog period (every second when systemd gave none);
        call it from the loop whose liveness it vouches for."""
        if self.address is None:
            return False
        now = time.monotonic() if now is None else now
        if now < self._next_watchdog:
            return False
        self._next_watchdog = now + (self.watchdog_s / 2 if self.watchdog_s else 1.0)
        return self.notify("WATCHDOG=1")


def _watchdog_interval(env: Mapping[str, str]) -> float | None:
    """``WATCHDOG_USEC`` in seconds when it is meant for this process (``WATCHDOG_PID``)."""
    usec = env.get("WATCHDOG_USEC", "")
    pid = env.get("WATCHDOG_PID", "")
    if pid and pid != str(os.getpid()):
        return None
    try:
        value = int(usec)
    except ValueError:
        return None
    return value / 1e6 if value > 0 else None
