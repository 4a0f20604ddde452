"""systemd's notify protocol: a real unix datagram socket stands in for systemd's, a real node
on the sample clip feeds it (READY once its cameras start, WATCHDOG only while its loop turns,
STOPPING at the end), and its /healthz says the same."""

from __future__ import annotations

import json
import os
import socket
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from edge.comms.sdnotify import SystemdNotifier
from edge.node import EdgeNode
from tests.support.nodes import demo_detector, node_config, running, wait_until
from tests.support.ports import free_port
from tests.support.sdnotify import NotifySocket

REPO = Path(__file__).resolve().parents[3]


def _healthz(port: int) -> tuple[int, dict[str, Any]]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_notifier_is_silent_outside_systemd() -> None:
    notifier = SystemdNotifier({})
    assert not notifier.enabled
    assert not notifier.ready() and not notifier.watchdog() and not notifier.stopping()


def test_watchdog_period_is_for_this_process_only(notify_socket: NotifySocket) -> None:
    mine = SystemdNotifier(
        {"NOTIFY_SOCKET": notify_socket.path, "WATCHDOG_USEC": "4000000", "WATCHDOG_PID": str(os.getpid())}
    )
    assert mine.watchdog_s == 4.0
    other = SystemdNotifier(
        {"NOTIFY_SOCKET": notify_socket.path, "WATCHDOG_USEC": "4000000", "WATCHDOG_PID": "1"}
    )
    assert other.watchdog_s is None
    # at most twice per period: the second call within 2 s sends nothing
    assert mine.watchdog(100.0) and not mine.watchdog(101.0) and mine.watchdog(102.0)
    notify_socket.pump(0.3)
    assert notify_socket.count("WATCHDOG=1") == 2


def test_abstract_socket_address() -> None:
    name = f"pg-sd-test-{os.getpid()}-{time.monotonic_ns()}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as server:
        server.bind("\0" + name)
        server.settimeout(2)
        assert SystemdNotifier({"NOTIFY_SOCKET": "@" + name}).ready("2 camera(s)")
        assert server.recv(1024).decode() == "READY=1\nSTATUS=2 camera(s)"


def test_unreachable_socket_is_reported_not_raised(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    notifier = SystemdNotifier({"NOTIFY_SOCKET": str(tmp_path / "gone")})
    assert not notifier.ready() and not notifier.stopping()
    assert sum("sd_notify" in r.getMessage() for r in caplog.records) == 1  # said once


@pytest.mark.footage
def test_node_feeds_the_watchdog_only_while_its_loop_turns(
    tmp_path: Path, mosquitto: Any, notify_socket: NotifySocket, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NOTIFY_SOCKET", notify_socket.path)
    monkeypatch.setenv("WATCHDOG_USEC", "1000000")  # WatchdogSec=1: WATCHDOG=1 every 0.5 s
    monkeypatch.setenv("WATCHDOG_PID", str(os.getpid()))
    port = free_port()
    clip = REPO / "samples" / "vtest-walkway.mp4"
    cfg = node_config(
        tmp_path,
        mosquitto.port,
        [{"id": "cam-yard", "url": str(clip), "analysis_fps": 2}],
        metrics_port=port,
    )
    node = EdgeNode(cfg, demo_detector())
    node.loop_stall_s = 2.0
    assert node.notifier.watchdog_s == 1.0
    with running(node):
        assert notify_socket.wait_for("READY=1", 60), notify_socket.messages
        assert wait_until(lambda: _healthz(port)[0] == 200, 10)
        t0 = time.monotonic()
        notify_socket.pump(3.0)
        fed = notify_socket.count("WATCHDOG=1", since=t0)
        assert 4 <= fed <= 8, fed  # every 0.5 s while healthy
        status, body = _healthz(port)
        assert status == 200 and body["status"] == "ok" and body["cameras"] == 1, body

        # the main loop stuck (its lock held, as a hung inference would): no WATCHDOG=1 at all
        with node._lock:
            time.sleep(0.3)  # an iteration that had begun ends
            notify_socket.pump(0.1)
            stuck = time.monotonic()
            notify_socket.pump(3.0)
            assert notify_socket.count("WATCHDOG=1", since=stuck) == 0
            status, body = _healthz(port)
            assert status == 503 and body["status"] == "stalled" and body["loop_age_s"] >= 2.0, body
        # the loop turns again: so does the watchdog, and the probe is healthy
        again = time.monotonic()
        notify_socket.pump(1.5)
        assert notify_socket.count("WATCHDOG=1", since=again) >= 2
        assert _healthz(port)[0] == 200
    assert notify_socket.wait_for("STOPPING=1", 5)
    lines = [m for _, m in notify_socket.messages]
    assert lines[0].startswith("READY=1\nSTATUS=1 camera(s) started"), lines[:3]
    assert lines[-1] == "STOPPING=1"
