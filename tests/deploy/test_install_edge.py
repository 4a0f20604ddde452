"""scripts/install-edge.sh for real, into a scratch root (--root, --no-systemd, --no-user): the venv
with the runtime install, the models, the config from the example, the unit; the installed
``parkguard-edge check`` passes on the installed config; the unit's ExecStart runs the node as
systemd would (NOTIFY_SOCKET, WATCHDOG_USEC): READY, WATCHDOG, STOPPING; an upgrade keeps the
config and the outbox; a rollback; an uninstall that keeps config and state, then --purge.
Two pip installs of the runtime: minutes (slow)."""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tests.deploy.test_scripts import unit_settings, verify_unit
from tests.support.ports import free_port
from tests.support.procs import ManagedProcess
from tests.support.sdnotify import NotifySocket

REPO = Path(__file__).resolve().parents[2]
INSTALL = REPO / "scripts" / "install-edge.sh"
UNINSTALL = REPO / "scripts" / "uninstall-edge.sh"
BASE_PYTHON = getattr(sys, "_base_executable", sys.executable)  # the interpreter under .venv

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]  # three pip installs of the runtime


def run(argv: list[str | Path], timeout: float = 900) -> subprocess.CompletedProcess[str]:
    # cwd /: python -c must not find this checkout's packages on its path
    proc = subprocess.run([str(a) for a in argv], capture_output=True, text=True, timeout=timeout, cwd="/")
    assert proc.returncode == 0, f"{argv} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}"
    return proc


def install(root: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return run(
        ["bash", INSTALL, "--root", root, "--no-systemd", "--no-user", "--python", BASE_PYTHON, *extra]
    )


def node_config(root: Path, broker_port: int, metrics_port: int) -> str:
    """The installed example, edited as an integrator would: the sample clip as its camera."""
    text = (root / "etc/parkguard/edge.yaml").read_text(encoding="utf-8")
    text = text.replace("host: 192.0.2.10", "host: 127.0.0.1").replace("port: 1883", f"port: {broker_port}")
    text = text.replace("url: https://pg.example.cn", f"url: http://127.0.0.1:{free_port()}")
    text = text.replace("metrics_port: 9108", f"metrics_port: {metrics_port}")
    clip = REPO / "samples" / "vtest-walkway.mp4"
    return text.replace("url: rtsp://192.0.2.64:554/Streaming/Channels/102", f"url: {clip}")


def outbox_rows(path: Path) -> int:
    with sqlite3.connect(path) as db:
        tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        return sum(db.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] for t in tables)


def test_install_run_upgrade_rollback_uninstall(tmp_path: Path, notify_socket: NotifySocket) -> None:
    root = tmp_path / "root"
    first = install(root)
    prefix, etc, var = root / "opt/parkguard", root / "etc/parkguard", root / "var/lib/parkguard"

    # -- files --------------------------------------------------------------------------------
    current = prefix / "current"
    assert current.is_symlink() and (current / ".complete").is_file()
    rel1 = os.readlink(current)
    models = current / "models"
    for name in ("manifest.yaml", "nanodet-coco-416.onnx", "blazeface.onnx", "coco80.txt"):
        assert (models / name).is_file(), name
    assert (models / "LICENSES").is_dir() and not (models / "train_ppe.py").exists()
    config = etc / "edge.yaml"
    example = (REPO / "configs/edge.example.yaml").read_text(encoding="utf-8")
    assert config.read_text(encoding="utf-8") == example.replace("/opt/parkguard", str(prefix)).replace(
        "/etc/parkguard", str(etc)
    ).replace("/var/lib/parkguard", str(var))
    assert (etc / "edge.env").stat().st_mode & 0o777 == 0o640
    assert (var / "state").is_dir() and (var / "evidence").is_dir()
    unit_path = root / "etc/systemd/system/parkguard-edge.service"
    unit = unit_settings(unit_path.read_text(encoding="utf-8"))
    exec_start = unit["ExecStart"][0].split()
    assert exec_start == [str(current / "venv/bin/parkguard-edge"), "run", "--config", str(config)]
    assert unit["ReadWritePaths"] == [str(var)]
    assert "/opt/parkguard" not in unit_path.read_text(encoding="utf-8").replace(str(prefix), "")
    if shutil.which("systemd-analyze"):
        assert verify_unit(unit_path) == []  # every path it names exists in the scratch root
    # the runtime install only: no test, dev or training packages in the venv
    vpy = current / "venv/bin/python"
    probe = run(
        [
            vpy,
            "-c",
            "import importlib.util as u; print(*[m for m in ('pytest','torch','ultralytics','playwright',"
            "'onnx','ruff','edge','center','protocol','common','av','onnxruntime') if u.find_spec(m)])",
        ]
    )
    assert probe.stdout.split() == ["edge", "center", "protocol", "common", "av", "onnxruntime"]
    # not an editable install: the code lives in the venv, not in this checkout
    where = run([vpy, "-c", "import edge; print(edge.__file__)"]).stdout.strip()
    assert where.startswith(str(current.resolve())) or where.startswith(str(prefix)), where
    # the installed check passes on the installed config (the installer ran it too)
    check = run([current / "venv/bin/parkguard-edge", "check", "--config", config])
    assert "OK (1 camera(s), model nanodet-coco)" in check.stdout
    assert "checking" in first.stderr and "OK (1 camera(s)" in first.stdout

    # -- the unit's ExecStart as systemd runs it ----------------------------------------------
    metrics = free_port()
    config.write_text(node_config(root, free_port(), metrics), encoding="utf-8")  # no broker: outbox
    my_config = config.read_bytes()
    node = ManagedProcess(
        exec_start,
        name="installed-edge",
        log_dir=tmp_path,
        extra_env={"NOTIFY_SOCKET": notify_socket.path, "WATCHDOG_USEC": "2000000"},
        ready_url=f"http://127.0.0.1:{metrics}/healthz",
        ready_timeout=90,
        cwd=var,
    )
    with node:
        assert notify_socket.wait_for("READY=1", 30), notify_socket.messages
        assert notify_socket.wait_for("WATCHDOG=1", 10)
        notify_socket.pump(3)
        assert notify_socket.count("WATCHDOG=1") >= 3  # every second (WatchdogSec=2)
        node.signal(signal.SIGTERM)
        assert node.wait(30) == 0
    assert notify_socket.wait_for("STOPPING=1", 5)
    outbox = var / "state" / "outbox.sqlite"
    rows = outbox_rows(outbox)
    assert rows > 0  # the broker never answered: the node's messages wait in the outbox
    assert any(line.startswith("{") and '"level"' in line for line in node.lines("stderr")), "JSON logs"

    # -- upgrade: a new release, the config and the outbox kept --------------------------------
    second = install(root)
    rel2 = os.readlink(current)
    assert rel2 != rel1 and (prefix / rel1).is_dir()
    assert config.read_bytes() == my_config
    assert "kept" in second.stderr and (etc / "edge.yaml.example").is_file()
    assert outbox_rows(outbox) == rows
    assert "OK (1 camera(s)" in second.stdout  # checked with the new release before the switch

    # a config the new release refuses: nothing switched, the running release stays
    config.write_text(my_config.decode().replace("analysis_fps: 5", "analysis_fps: -1"), encoding="utf-8")
    refused = subprocess.run(
        ["bash", INSTALL, "--root", root, "--no-systemd", "--no-user", "--python", BASE_PYTHON],
        capture_output=True,
        text=True,
        timeout=900,
        cwd="/",
    )
    assert refused.returncode != 0 and "check failed" in refused.stderr, refused.stderr
    assert os.readlink(current) == rel2 and len(list((prefix / "releases").iterdir())) == 2
    config.write_bytes(my_config)

    # -- rollback ------------------------------------------------------------------------------
    back = run(["bash", INSTALL, "--root", root, "--no-systemd", "--no-user", "--rollback"])
    assert os.readlink(current) == rel1, back.stderr

    # -- uninstall: config and state kept; --purge removes them --------------------------------
    run(["bash", UNINSTALL, "--root", root, "--no-systemd", "--no-user"])
    assert not prefix.exists() and not unit_path.exists()
    assert config.read_bytes() == my_config and outbox_rows(outbox) == rows
    run(["bash", UNINSTALL, "--root", root, "--no-systemd", "--no-user", "--purge"])
    assert not etc.exists() and not var.exists()
