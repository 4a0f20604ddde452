"""Config errors: one clear line naming the file and the field, exit code 2, no traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from common.configfile import ConfigError
from edge.config import load_edge_config
from edge.rules.schedule import ScheduleClock

REPO = Path(__file__).resolve().parents[3]
DEMO = REPO / "configs" / "demo-edge.yaml"


def demo_dict() -> dict:
    data = yaml.safe_load(DEMO.read_text(encoding="utf-8"))
    data["models"]["manifest"] = str(REPO / "models" / "manifest.yaml")
    data["cameras"][0]["url"] = str(REPO / "samples" / "vtest-walkway.mp4")
    return data


def write(tmp_path: Path, data: dict) -> Path:
    p = tmp_path / "edge.yaml"
    p.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return p


def run_check(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "edge.cli", "check", "--config", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
    )


def test_demo_config_is_valid() -> None:
    cfg = load_edge_config(DEMO)
    assert cfg.cameras[0].zones[0].id == "junction"
    assert Path(cfg.cameras[0].url).exists(), "relative paths resolve against the config's folder"


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda d: d["cameras"][0].update(bogus=1), "cameras[0].bogus: unknown key"),
        (
            lambda d: d["cameras"][0]["zones"][0].update(points=[[0, 0], [1, 1]]),
            "cameras[0].zones[0].points: need at least 3 points",
        ),
        (
            lambda d: d["cameras"][0]["zones"][0].update(points=[[0, 0], [1.5, 0], [1, 1]]),
            "cameras[0].zones[0].points: point (1.5, 0.0) is outside 0–1",
        ),
        (lambda d: d["cameras"][0].update(url="ftp://cam/1"), "cameras[0].url: unsupported URL scheme 'ftp'"),
        (lambda d: d["cameras"][0]["rules"][0].update(zone="nowhere"), "names zone 'nowhere'"),
        (lambda d: d["cameras"][0]["rules"].append(dict(d["cameras"][0]["rules"][0])), "used twice"),
        (lambda d: d["cameras"][0]["rules"][0]["schedule"].update(times=["25:00-26:00"]), "impossible time"),
        (lambda d: d["cameras"][0]["rules"][0]["schedule"].update(weekdays=["funday"]), "unknown weekday"),
        (lambda d: d.update(timezone="Mars/Olympus"), "timezone: unknown time zone"),
        (lambda d: d["mqtt"].update(port="eighty"), "mqtt.port:"),
    ],
)
def test_bad_config_gives_one_clear_line(tmp_path: Path, mutate, expected: str) -> None:
    data = demo_dict()
    mutate(data)
    path = write(tmp_path, data)
    with pytest.raises(ConfigError) as exc:
        load_edge_config(path)
    assert str(path) in str(exc.value)
    assert expected in str(exc.value)


def test_cli_exit_code_2_without_traceback(tmp_path: Path) -> None:
    data = demo_dict()
    data["cameras"][0]["zones"][0]["points"] = [[0, 0], [1, 1]]
    res = run_check(write(tmp_path, data))
    assert res.returncode == 2
    assert "Traceback" not in res.stderr
    assert "cameras[0].zones[0].points: need at least 3 points" in res.stderr


def test_cli_missing_file_and_broken_yaml(tmp_path: Path) -> None:
    res = run_check(tmp_path / "nope.yaml")
    assert res.returncode == 2 and "no such file" in res.stderr and "Traceback" not in res.stderr
    bad = tmp_path / "bad.yaml"
    bad.write_text("site: [unclosed\n", encoding="utf-8")
    res = run_check(bad)
    assert res.returncode == 2 and "not valid YAML (line" in res.stderr and "Traceback" not in res.stderr


def test_rule_class_no_model_gives_is_refused(tmp_path: Path) -> None:
    data = demo_dict()
    data["cameras"][0]["rules"][0]["classes"] = ["helmet"]
    res = run_check(write(tmp_path, data))
    assert res.returncode == 2, res.stderr
    assert "cameras[cam-yard-01].rules[0].classes: ['helmet'] not provided by any loaded model" in res.stderr


def test_model_hash_mismatch_is_refused(tmp_path: Path) -> None:
    manifest = yaml.safe_load((REPO / "models" / "manifest.yaml").read_text(encoding="utf-8"))
    for m in manifest["models"]:
        m["sha256"] = "0" * 64
        m["file"] = str(REPO / "models" / m["file"])
        if m.get("labels"):
            m["labels"] = str(REPO / "models" / (m["labels"] if "." in m["labels"] else m["labels"] + ".txt"))
    mpath = tmp_path / "manifest.yaml"
    mpath.write_text(yaml.safe_dump(manifest), encoding="utf-8")
    data = demo_dict()
    data["models"]["manifest"] = str(mpath)
    res = run_check(write(tmp_path, data))
    assert res.returncode == 2 and "refusing to load" in res.stderr and "Traceback" not in res.stderr


def test_schedule_weekdays_ranges_overnight_and_exceptions() -> None:
    from edge.rules.schedule import Schedule

    # Asia/Shanghai is UTC+8 all year. 2026-11-30 is a Monday.
    def ms(iso: str) -> int:
        from datetime import datetime

        return int(datetime.fromisoformat(iso).timestamp() * 1000)

    day = ScheduleClock(Schedule(weekdays=["mon", "tue"], times=["08:00-18:00"]), "Asia/Shanghai")
    assert day.armed(ms("2026-11-30T08:00:00+08:00"))
    assert not day.armed(ms("2026-11-30T18:00:00+08:00"))
    assert not day.armed(ms("2026-12-02T10:00:00+08:00"))  # Wednesday
    night = ScheduleClock(Schedule(weekdays=["mon"], times=["22:00-06:00"]), "Asia/Shanghai")
    assert night.armed(ms("2026-11-30T23:00:00+08:00"))
    assert night.armed(ms("2026-12-01T05:59:00+08:00"))  # Tuesday morning, the Monday night shift
    assert not night.armed(ms("2026-11-30T05:00:00+08:00"))  # Monday morning belongs to Sunday night
    off = ScheduleClock(Schedule(except_dates=["2026-11-30"]), "Asia/Shanghai")
    assert not off.armed(ms("2026-11-30T12:00:00+08:00"))
    assert off.armed(ms("2026-12-01T12:00:00+08:00"))
