"""A WAN link that can be cut for real: a network namespace joined to the host by a veth pair.

    with Wan() as wan:                       # root and iproute2 needed (Wan.available())
        run(wan.exec_prefix + ["mosquitto", "-c", conf])   # listens on wan.remote_ip
        wan.cut(); ...; wan.restore()        # the host's end of the veth down / up

Whatever runs in the namespace reaches only the namespace (its own loopback, up) and the host
through the pair; the host reaches it at ``remote_ip``. ``cut()`` sets the host's end down: the
route goes with it, packets stop both ways, established TCP connections see nothing more
(no FIN, no RST) until their keepalive gives up, as when a WAN line drops.
"""

from __future__ import annotations

import os
import random
import shutil
import subprocess
from typing import Self


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", *args], capture_output=True, text=True, timeout=15, check=check)


class Wan:
    def __init__(self) -> None:
        tag = f"{os.getpid() % 10000}{random.randrange(1000):03d}"
        self.ns = f"pgwan{tag}"
        self.host_if, self.ns_if = f"pgh{tag}", f"pgn{tag}"  # at most 15 characters
        a, b = random.randrange(200, 250), random.randrange(0, 64) * 4
        self.host_ip, self.remote_ip = f"10.{a}.{b // 256}.{b % 256 + 1}", f"10.{a}.{b // 256}.{b % 256 + 2}"
        self._made = False

    @staticmethod
    def available() -> str | None:
        """None when namespaces can be made here, else why not."""
        if shutil.which("ip") is None:
            return "iproute2 (`ip`) is not installed"
        if os.geteuid() != 0:
            return "network namespaces need root"
        probe = f"pgprobe{os.getpid() % 100000}"
        made = _ip("netns", "add", probe, check=False)
        if made.returncode != 0:
            return f"`ip netns add` failed: {made.stderr.strip()}"
        _ip("netns", "del", probe, check=False)
        return None

    @property
    def exec_prefix(self) -> list[str]:
        return ["ip", "netns", "exec", self.ns]

    def up(self) -> Self:
        _ip("netns", "add", self.ns)
        self._made = True
        _ip("link", "add", self.host_if, "type", "veth", "peer", "name", self.ns_if)
        _ip("link", "set", self.ns_if, "netns", self.ns)
        _ip("addr", "add", f"{self.host_ip}/30", "dev", self.host_if)
        _ip("link", "set", self.host_if, "up")
        inside = ["netns", "exec", self.ns, "ip"]
        _ip(*inside, "addr", "add", f"{self.remote_ip}/30", "dev", self.ns_if)
        _ip(*inside, "link", "set", self.ns_if, "up")
        _ip(*inside, "link", "set", "lo", "up")
        return self

    def cut(self) -> None:
        _ip("link", "set", self.host_if, "down")

    def restore(self) -> None:
        _ip("link", "set", self.host_if, "up")

    def close(self) -> None:
        if self._made:
            _ip("link", "del", self.host_if, check=False)  # takes its peer along
            _ip("netns", "del", self.ns, check=False)
            self._made = False

    def __enter__(self) -> Self:
        return self.up()

    def __exit__(self, *exc: object) -> None:
        self.close()
