"""The README's demo command, run as a user would: broker + center + edge, alerts, Ctrl-C."""

from __future__ import annotations

import email
import email.policy
import json
import signal
import sys
import time
from pathlib import Path

import httpx
import pytest
import yaml

from tests.support.ports import free_port
from tests.support.procs import ManagedProcess

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def _json_lines(path: Path) -> list[dict]:
    lines = path.read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.startswith("{")]


@pytest.mark.e2e
@pytest.mark.parametrize("broker", ["mosquitto", "amqtt"])
def test_demo_shows_alerts_and_stops_cleanly(tmp_workdir: Path, broker: str) -> None:
    mqtt_port, http_port = free_port(), free_port()
    center = yaml.safe_load((REPO / "configs" / "demo-center.yaml").read_text(encoding="utf-8"))
    center["database"]["url"] = f"sqlite:///{tmp_workdir / 'center.db'}"
    center["evidence_dir"] = str(tmp_workdir / "center-evidence")
    center["mqtt"]["port"] = mqtt_port
    center["http"]["port"] = http_port
    center["notify"]["channels"][0]["smtp"]["port"] = free_port()  # the demo's mailbox
    edge = yaml.safe_load((REPO / "configs" / "demo-edge.yaml").read_text(encoding="utf-8"))
    edge["mqtt"]["port"] = mqtt_port
    edge["models"]["manifest"] = str(REPO / "models" / "manifest.yaml")
    edge["models"]["threads"] = 1
    edge["cameras"][0]["url"] = str(REPO / "samples" / "vtest-walkway.mp4")
    edge["evidence_dir"] = str(tmp_workdir / "edge-evidence")
    edge["state_dir"] = str(tmp_workdir / "edge-state")
    edge["center"]["url"] = f"http://127.0.0.1:{http_port}"  # evidence uploads go to this center
    edge["warning"]["voice"]["cache_dir"] = str(tmp_workdir / "voice")
    sink = tmp_workdir / "warning-played.wav"
    edge["warning"]["outputs"][0]["file"] = str(sink)
    (tmp_workdir / "center.yaml").write_text(yaml.safe_dump(center, allow_unicode=True), encoding="utf-8")
    (tmp_workdir / "edge.yaml").write_text(yaml.safe_dump(edge, allow_unicode=True), encoding="utf-8")

    demo = ManagedProcess(
        [
            BIN / "parkguard-center",
            "demo",
            "--config",
            tmp_workdir / "center.yaml",
            "--edge-config",
            tmp_workdir / "edge.yaml",
            "--broker",
            broker,
            "--workdir",
            tmp_workdir / "demo",
        ],
        name=f"demo-{broker}",
        log_dir=tmp_workdir,
        ready_line=r"\[demo\] ready: open http://",
        ready_timeout=90,
        stop_signal=signal.SIGINT,
        stop_grace=60,  # the demo gives the edge up to 30 s to send its last clips and events
    )
    with demo:
        base = f"http://127.0.0.1:{http_port}"
        login = {"username": "operator", "password": "operator-demo"}  # a seeded demo user (README)
        auth = {"Authorization": "Bearer " + httpx.post(f"{base}/api/auth/login", json=login).json()["token"]}
        # the seeded park: enterprises with scores in every colour
        levels = {r["level"] for r in httpx.get(f"{base}/api/risk", headers=auth, timeout=10).json()}
        assert len(levels) >= 3, levels
        deadline = time.monotonic() + 45  # someone is in the junction zone 1 s into the clip
        items: list[dict] = []
        since = {"since": str(int(time.time() * 1000) - 120_000), "camera": "cam-yard-01"}
        while time.monotonic() < deadline and not items:
            items = httpx.get(f"{base}/api/alerts", params=since, headers=auth, timeout=5).json()["items"]
            items = [a for a in items if a["rule_id"] == "junction-intrusion"]
            time.sleep(0.5)
        assert items, demo.log_tail()
        assert items[0]["rule_id"] == "junction-intrusion" and items[0]["camera"] == "cam-yard-01"
        # its evidence: the snapshot with the new, the clip a few seconds later, both uploaded by the
        # node with the token the demo made for it, and readable by the operator
        url = f"{base}/api/alerts/{items[-1]['event_id']}"
        kinds: dict[str, dict] = {}
        deadline = time.monotonic() + 45
        while time.monotonic() < deadline and len(kinds) < 2:
            kinds = {e["kind"]: e for e in httpx.get(url, headers=auth, timeout=5).json()["evidence"]}
            time.sleep(0.5)
        assert set(kinds) == {"snapshot", "clip"}, (kinds, demo.log_tail())
        for kind, content_type in [("snapshot", "image/jpeg"), ("clip", "video/mp4")]:
            sha = kinds[kind]["sha256"]
            deadline = time.monotonic() + 30  # the upload queue may still be working
            got = httpx.get(f"{base}/api/evidence/{sha}", headers=auth, timeout=10)
            while got.status_code == 404 and time.monotonic() < deadline:
                time.sleep(0.5)
                got = httpx.get(f"{base}/api/evidence/{sha}", headers=auth, timeout=10)
            assert got.status_code == 200 and got.headers["content-type"] == content_type, (kind, got.text)
        # the junction rule warned at the post (the WAV file sink) and the center knows what was played
        first = f"{base}/api/alerts/{items[0]['event_id']}"
        deadline = time.monotonic() + 20
        alert = httpx.get(first, headers=auth, timeout=5).json()
        while (alert["warning"] or {}).get("outcome") in (None, "queued") and time.monotonic() < deadline:
            time.sleep(0.5)
            alert = httpx.get(first, headers=auth, timeout=5).json()
        assert alert["warning"]["outcome"] == "played", alert["warning"]
        assert alert["warning"]["message"] == "危险区域，请勿进入" and alert["warning_label"] == "已播放"
        assert alert["warning_outputs"] == "工控机音频 主通道岗位 (WAV 文件输出)"
        assert sink.read_bytes()[:4] == b"RIFF"
        # the demo's e-mail channel: the park's safety office and 毅佳金属's officer got the alert,
        # in the mailbox the demo started (var/demo/mail)
        wanted = {"safety@yijia-park.example.cn", "anquan@yj-metal.example.cn"}
        mails: dict[str, email.message.EmailMessage] = {}
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not wanted <= set(mails):
            for path in sorted((tmp_workdir / "demo" / "mail").glob("*.eml")):
                msg = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
                if items[0]["event_id"] in msg.get_content():
                    mails[str(msg["To"])] = msg  # type: ignore[assignment]
            time.sleep(0.5)
        assert wanted <= set(mails), (sorted(mails), demo.log_tail())
        assert all("厂区主通道" in str(m["Subject"]) for m in mails.values())
        code = demo.stop()
    assert code == 0, demo.log_tail()
    assert any("[demo] stopped" in line for line in demo.lines("any"))
    # the edge stopped first, while the center and the broker still took its last messages/uploads
    logs = tmp_workdir / "demo" / "logs"
    edge_lines = [
        json.loads(line) for line in (logs / "edge.log").read_text().splitlines() if line.startswith("{")
    ]
    stopped = [e for e in edge_lines if e["msg"].startswith("edge node stopped")]
    assert stopped and stopped[-1]["msg"].endswith("left queued: 0 message(s), 0 upload(s)"), stopped
    center_lines = [
        json.loads(line) for line in (logs / "center.log").read_text().splitlines() if line.startswith("{")
    ]
    assert center_lines and center_lines[-1]["ts"] >= stopped[-1]["ts"], center_lines[-3:]
