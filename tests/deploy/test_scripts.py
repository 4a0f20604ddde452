"""The install scripts parse and pass shellcheck; the systemd unit passes ``systemd-analyze verify``
as the installer renders it (every path it names, executables included, must exist for that)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPTS = [
    REPO / "scripts" / "install-edge.sh",
    REPO / "scripts" / "uninstall-edge.sh",
    REPO / "scripts" / "setup.sh",
]
UNIT = REPO / "scripts" / "systemd" / "parkguard-edge.service"


def render_unit(prefix: Path, config_dir: Path, state_dir: Path) -> str:
    """The unit with this install's paths, as install-edge.sh's ``render`` writes it."""
    text = UNIT.read_text(encoding="utf-8")
    return (
        text.replace("/opt/parkguard", str(prefix))
        .replace("/etc/parkguard", str(config_dir))
        .replace("/var/lib/parkguard", str(state_dir))
    )


def unit_settings(text: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith(("#", "[")):
            key, _, value = line.partition("=")
            out.setdefault(key, []).append(value)
    return out


def verify_unit(path: Path) -> list[str]:
    """``systemd-analyze verify`` of ``path``: its complaints about this unit (it exits 0 on many)."""
    proc = subprocess.run(
        ["systemd-analyze", "verify", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=path.parent,
    )
    lines = [ln for ln in (proc.stdout + proc.stderr).splitlines() if path.name in ln]
    if proc.returncode != 0:
        lines.append(f"exit status {proc.returncode}")
    return lines


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_scripts_parse(script: Path) -> None:
    proc = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert os.access(script, os.X_OK), f"{script} is not executable"


@pytest.mark.skipif(shutil.which("shellcheck") is None, reason="shellcheck not installed (apt shellcheck)")
def test_shellcheck_is_clean() -> None:
    proc = subprocess.run(["shellcheck", *map(str, SCRIPTS)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_unit_is_hardened_and_watched() -> None:
    s = unit_settings(UNIT.read_text(encoding="utf-8"))
    assert s["Type"] == ["notify"] and s["NotifyAccess"] == ["main"]
    assert s["Restart"] == ["on-failure"] and s["WatchdogSec"] == ["30s"]
    assert s["ExecStartPre"] == [
        "/opt/parkguard/current/venv/bin/parkguard-edge check --config /etc/parkguard/edge.yaml"
    ]
    assert s["ExecStart"] == [
        "/opt/parkguard/current/venv/bin/parkguard-edge run --config /etc/parkguard/edge.yaml"
    ]
    for key, value in {
        "NoNewPrivileges": "yes",
        "ProtectSystem": "strict",
        "PrivateTmp": "yes",
        "ProtectHome": "yes",
        "ReadWritePaths": "/var/lib/parkguard",
        "User": "parkguard",
        "CapabilityBoundingSet": "",
    }.items():
        assert s[key] == [value], key
    # nothing but the state folder is writable: the config's state and evidence folders lie in it
    example = (REPO / "configs" / "edge.example.yaml").read_text(encoding="utf-8")
    assert "state_dir: /var/lib/parkguard/state" in example
    assert "evidence_dir: /var/lib/parkguard/evidence" in example


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="no systemd-analyze (apt systemd)")
def test_systemd_analyze_verifies_the_rendered_unit(tmp_path: Path) -> None:
    prefix, config_dir, state_dir = tmp_path / "opt", tmp_path / "etc", tmp_path / "var"
    bindir = prefix / "current" / "venv" / "bin"
    bindir.mkdir(parents=True)
    (bindir / "parkguard-edge").symlink_to(Path(sys.executable).parent / "parkguard-edge")
    config_dir.mkdir()
    state_dir.mkdir()
    unit = tmp_path / "parkguard-edge.service"
    unit.write_text(render_unit(prefix, config_dir, state_dir), encoding="utf-8")
    assert verify_unit(unit) == []

    # the check can fail: a misspelt key and a missing program are reported
    bad = tmp_path / "bad" / "parkguard-edge.service"
    bad.parent.mkdir()
    bad.write_text(
        render_unit(tmp_path / "nowhere", config_dir, state_dir).replace("WatchdogSec=", "WatchdogSecs="),
        encoding="utf-8",
    )
    complaints = "\n".join(verify_unit(bad))
    assert "Unknown key 'WatchdogSecs'" in complaints and "is not executable" in complaints, complaints
