"""The ``warning`` section and a rule's ``warning``: every mistake is one line naming the file and
the field path; relative paths are the config file's."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from common.configfile import ConfigError
from edge.config import load_edge_config


def write(tmp_path: Path, warning: dict[str, Any], rule_warning: dict[str, Any]) -> Path:
    data = {
        "site": "yijia",
        "node": "edge-01",
        "warning": warning,
        "cameras": [
            {
                "id": "cam-gate",
                "url": "clip.mp4",
                "zones": [{"id": "all", "points": [[0, 0], [1, 0], [1, 1]]}],
                "rules": [{"id": "gate-zone", "type": "intrusion", "zone": "all", "warning": rule_warning}],
            }
        ],
    }
    path = tmp_path / "edge.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


SPEAKER = {"id": "yard-01", "type": "speaker_http", "url": "http://10.0.0.31/api/play"}
STROBE = {"id": "strobe", "type": "modbus", "host": "10.0.0.40", "coil": 3}


def test_a_good_warning_config_resolves_its_paths(tmp_path: Path) -> None:
    sink = {"id": "ipc", "type": "audio", "player": "file", "file": "played/post.wav"}
    cfg = load_edge_config(
        write(
            tmp_path,
            {"outputs": [SPEAKER, STROBE, sink], "voice": {"cache_dir": "voice"}},
            {
                "message": "危险区域，请勿进入",
                "audio": "rec/zone.wav",
                "outputs": ["yard-01", "strobe", "ipc"],
            },
        )
    )
    w = cfg.cameras[0].rules[0].warning
    assert w is not None and w.min_interval_s == 60 and w.max_per_hour == 30
    assert w.audio == tmp_path / "rec" / "zone.wav"
    assert cfg.warning.voice.cache_dir == tmp_path / "voice"
    assert cfg.warning.outputs[2].file == tmp_path / "played" / "post.wav"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("warning", "rule_warning", "error"),
    [
        (
            {"outputs": [SPEAKER]},
            {"message": "请佩戴安全帽", "outputs": ["yard-02"]},
            "cameras[0].rules[0].warning.outputs[0]: no output 'yard-02' in warning.outputs (have: yard-01)",
        ),
        (
            {"outputs": [SPEAKER]},
            {"outputs": ["yard-01"]},
            "cameras[0].rules[0].warning.message: a speaker or audio output needs a message",
        ),
        (
            {"outputs": [{**SPEAKER, "url": "http://10.0.0.31/play?t={text}&v={volume}"}]},
            {"message": "请佩戴安全帽", "outputs": ["yard-01"]},
            "warning.outputs[0].url: URL template names unknown field(s) ['volume'] (known: text, file, "
            "sha256, rule, camera)",
        ),
        (
            {"outputs": [{**SPEAKER, "headers": {"Authorization": "Basic abc"}}]},
            {"message": "请佩戴安全帽", "outputs": ["yard-01"]},
            "put the Authorization header in an environment variable (auth_env)",
        ),
        (
            {"outputs": [{**SPEAKER, "url": "http://10.0.0.31/play?t={text"}]},
            {"message": "请佩戴安全帽", "outputs": ["yard-01"]},
            "warning.outputs[0].url: URL template 'http://10.0.0.31/play?t={text': expected '}' before end "
            "of string",
        ),
        (
            {"outputs": [STROBE]},
            {"outputs": ["strobe"], "volume": 3},
            "cameras[0].rules[0].warning.volume: unknown key",
        ),
        (
            {"outputs": [{"id": "ipc", "type": "audio", "player": "file"}]},
            {"message": "请佩戴安全帽", "outputs": ["ipc"]},
            "player: file needs `file`",
        ),
        (
            {"outputs": [STROBE, STROBE]},
            {"outputs": ["strobe"]},
            "warning: output id(s) ['strobe'] used twice",
        ),
        (
            {"outputs": [{**STROBE, "coil": 70000}]},
            {"outputs": ["strobe"]},
            "warning.outputs[0].coil: Input should be less than or equal to 65535",
        ),
        (
            {"outputs": [STROBE]},
            {"outputs": ["strobe"], "schedule": {"times": ["8-18"]}},
            "cameras[0].rules[0].warning.schedule.times: Value error, time range '8-18' is not HH:MM-HH:MM",
        ),
    ],
)
def test_mistakes_name_the_field(tmp_path: Path, warning: dict, rule_warning: dict, error: str) -> None:
    path = write(tmp_path, warning, rule_warning)
    with pytest.raises(ConfigError) as err:
        load_edge_config(path)
    assert str(err.value).startswith(f"{path}: "), err.value
    assert error.replace("Value error, ", "") in str(err.value), err.value


@pytest.mark.slow  # a fresh interpreter loads the models
def test_check_without_espeak_ng_exits_2_with_what_to_install(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    repo = Path(__file__).resolve().parents[3]
    data = yaml.safe_load((repo / "configs" / "demo-edge.yaml").read_text(encoding="utf-8"))
    data["models"]["manifest"] = str(repo / "models" / "manifest.yaml")
    data["cameras"][0]["url"] = str(repo / "samples" / "vtest-walkway.mp4")
    data["state_dir"] = str(tmp_path / "state")
    data["warning"]["voice"]["cache_dir"] = str(tmp_path / "voice")
    path = tmp_path / "edge.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    env = {**os.environ, "PATH": str(tmp_path / "empty")}  # no espeak-ng (nor anything else) on it
    res = subprocess.run(
        [sys.executable, "-m", "edge.cli", "check", "--config", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=repo,
        env=env,
    )
    assert res.returncode == 2, res.stdout + res.stderr
    assert "Traceback" not in res.stderr
    assert (
        "parkguard-edge: config error: rule junction-intrusion: warning: message '危险区域，请勿进入': "
        "espeak-ng not found: install the Debian package espeak-ng" in res.stderr
    ), res.stderr
    env["PATH"] = os.environ["PATH"]
    ok = subprocess.run(
        [sys.executable, "-m", "edge.cli", "check", "--config", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=repo,
        env=env,
    )
    assert ok.returncode == 0 and "1 warning output(s)" in ok.stdout, ok.stdout + ok.stderr
    assert len(list((tmp_path / "voice").glob("*.wav"))) == 1  # made at check time, cached for the node
