"""``parkguard-center serve`` as a real process: startup, health, logs, clean shutdown, errors."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.ports import free_port
from tests.support.procs import ManagedProcess

BIN = Path(sys.executable).parent / "parkguard-center"
MQTT_CONNECTED = r'"msg": "connected to MQTT broker'


def write_config(
    folder: Path, broker: Any, db_url: str = "sqlite:///var/center.db", http_port: int = 1
) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "center.yaml"
    path.write_text(
        f"""site: yijia
site_name: 毅佳工业园
database: {{url: "{db_url}"}}
mqtt: {{host: {broker.host}, port: {broker.port}, client_id: test-cli-{uuid.uuid4().hex[:8]}}}
http: {{host: 127.0.0.1, port: {http_port}}}
""",
        encoding="utf-8",
    )
    return path


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BIN), *args], cwd=cwd, capture_output=True, text=True, timeout=60)


def test_config_error_is_one_line_and_exit_2(tmp_workdir: Path) -> None:
    path = tmp_workdir / "center.yaml"
    path.write_text("site: yijia\nmqtt: {port: abc}\n", encoding="utf-8")
    result = run_cli("serve", "--config", str(path), cwd=tmp_workdir)
    assert result.returncode == 2
    expected = f"{path}: mqtt.port: Input should be a valid integer, unable to parse string as an integer"
    assert result.stderr == f"parkguard-center: {expected}\n"
    missing = run_cli("serve", "--config", "nope.yaml", cwd=tmp_workdir)
    assert (missing.returncode, missing.stderr) == (2, "parkguard-center: nope.yaml: no such file\n")


def test_unreachable_database_is_one_line_and_exit_1(tmp_workdir: Path, mosquitto: Any) -> None:
    url = f"postgresql+psycopg://nobody:secret@127.0.0.1:{free_port()}/x"
    result = run_cli("serve", "--config", str(write_config(tmp_workdir, mosquitto, url)), cwd=tmp_workdir)
    assert result.returncode == 1
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(
        "parkguard-center: database postgresql+psycopg://nobody:***@"
    )
    assert "secret" not in result.stderr and "Traceback" not in result.stderr


def test_serve_health_json_logs_and_clean_sigterm(tmp_workdir: Path, mosquitto: Any) -> None:
    config = write_config(tmp_workdir / "etc", mosquitto)
    port = free_port()
    center = ManagedProcess(
        [BIN, "serve", "--config", config, "--port", str(port)],  # --port overrides the config's
        name="center",
        log_dir=tmp_workdir,
        cwd="/",  # relative paths follow the config file, not the working directory
        ready_url=f"http://127.0.0.1:{port}/api/health",
        ready_line=MQTT_CONNECTED,
        ready_stream="stderr",
    )
    with center:
        body = httpx.get(f"http://127.0.0.1:{port}/api/health").json()
        assert body == {"status": "ok", "database": "ok", "mqtt": "connected", "version": body["version"]}
        assert (tmp_workdir / "etc" / "var" / "center.db").exists()
    assert center.returncode == 0  # SIGTERM: a clean shutdown
    records = [json.loads(line) for line in center.lines("stderr")]  # every line is one JSON object
    messages = [r["msg"] for r in records]
    assert "ingest stopped" in messages
    assert not [r for r in records if r["level"] in ("error", "critical")]
    assert center.lines("stdout") == []


@pytest.mark.parametrize("argv", [["--help"], ["serve", "--help"]])
def test_help(argv: list[str], tmp_workdir: Path) -> None:
    result = run_cli(*argv, cwd=tmp_workdir)
    assert result.returncode == 0 and "parkguard-center" in result.stdout
