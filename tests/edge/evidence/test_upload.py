"""Evidence uploads: the edge's durable queue against a real ``parkguard-center serve``.

The center runs as a process on the seeded demo park (``edge-01`` watches ``cam-yard-01``,
``edge-02`` watches ``cam-lc-dust``); the edge uploads with a machine-account token made by
``parkguard-center user token``. Center down then up → each file stored once; a camera of
another node → refused (403) and dropped; a queue row survives ``kill -9`` of its writer.
"""

from __future__ import annotations

import hashlib
import logging
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import av
import cv2
import httpx
import pytest

from edge.config import CenterLinkConfig, EdgeConfig
from edge.evidence.clips import encode_h264
from edge.evidence.store import EvidenceStore
from edge.evidence.upload import Uploader, UploadQueue
from protocol import EvidenceItem, now_ms
from tests.photos import photo
from tests.support.ports import free_port
from tests.support.procs import ManagedProcess

BIN = Path(sys.executable).parent
REPO = Path(__file__).resolve().parents[3]
TOKEN_ENV = "PARKGUARD_TEST_EDGE_TOKEN"
OP_PASSWORD = "op-password-1"


@dataclass
class Center:
    proc: ManagedProcess
    base: str
    token: str
    db: Path
    workdir: Path

    def op_headers(self) -> dict[str, str]:
        resp = httpx.post(
            f"{self.base}/api/auth/login", json={"username": "op", "password": OP_PASSWORD}, timeout=10
        )
        assert resp.status_code == 200, resp.text
        return {"Authorization": f"Bearer {resp.json()['token']}"}

    def uploads_of(self, sha: str) -> int:
        with sqlite3.connect(self.db) as db:
            return db.execute(
                "SELECT count(*) FROM audit_log WHERE action = 'upload_evidence' AND target = ?",
                (f"evidence:{sha}",),
            ).fetchone()[0]

    def stored(self, sha: str) -> tuple[str, str] | None:
        with sqlite3.connect(self.db) as db:
            return db.execute(
                "SELECT content_type, uploaded_by FROM evidence_files WHERE sha256 = ?", (sha,)
            ).fetchone()


def center_cli(config: Path, *args: str, stdin: str | None = None) -> str:
    res = subprocess.run(
        [str(BIN / "parkguard-center"), *args, "--config", str(config)],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert res.returncode == 0, res.stderr
    return res.stdout


@pytest.fixture
def center(tmp_workdir: Path, mosquitto_session: Any) -> Iterator[Center]:
    """A seeded center, not started (tests start and stop it)."""
    port = free_port()
    cfg = tmp_workdir / "center.yaml"
    cfg.write_text(
        f"""site: yijia
site_name: 毅佳工业园
database: {{url: "sqlite:///center.db"}}
mqtt: {{host: 127.0.0.1, port: {mosquitto_session.port}, client_id: up-{uuid.uuid4().hex[:6]}}}
http: {{host: 127.0.0.1, port: {port}}}
evidence_dir: evidence
""",
        encoding="utf-8",
    )
    center_cli(cfg, "seed")
    center_cli(cfg, "user", "add", "--username", "edge-01-up", "--role", "edge", "--node", "edge-01",
               stdin="machine-password-1\n")  # fmt: skip
    center_cli(cfg, "user", "add", "--username", "op", "--role", "operator", stdin=OP_PASSWORD + "\n")
    token = center_cli(cfg, "user", "token", "--username", "edge-01-up").strip()
    base = f"http://127.0.0.1:{port}"
    proc = ManagedProcess(
        [BIN / "parkguard-center", "serve", "--config", cfg],
        name="center",
        log_dir=tmp_workdir,
        ready_url=f"{base}/api/health",
        ready_timeout=60,
    )
    yield Center(proc, base, token, tmp_workdir / "center.db", tmp_workdir)
    proc.stop()


def link(center: Center, **over: Any) -> CenterLinkConfig:
    return CenterLinkConfig(
        url=center.base, token_env=TOKEN_ENV, backoff_initial_s=0.2, backoff_max_s=1.0, **over
    )


def evidence_files(store: EvidenceStore) -> list[EvidenceItem]:
    """A real snapshot (JPEG of a photo) and a real clip (H.264 MP4 of it panned)."""
    img = cv2.imread(str(photo("bus.jpg")))
    snap = store.save_snapshot(img)
    frames = [(1000 + 100 * i, img[i * 10 : i * 10 + 480, :640]) for i in range(20)]
    clip = store.save_bytes(encode_h264(frames, 640, 30, None), "mp4", "clip", "video/mp4")
    return [snap, clip]


def wait_for(cond: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def test_center_down_then_up_each_file_uploaded_once(
    center: Center, tmp_workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(TOKEN_ENV, center.token)
    queue = UploadQueue(tmp_workdir / "edge-state" / "uploads.sqlite")
    uploader = Uploader(link(center), queue)
    store = EvidenceStore(tmp_workdir / "edge-ev", uploader=uploader)
    items = evidence_files(store)
    for item in items:
        store.queue_upload(item, "cam-yard-01")
    uploader.start()
    try:
        # the center is down: tries fail, nothing is lost
        wait_for(lambda: uploader.failures >= 3, 20, "failed tries while the center is down")
        assert queue.depth == 2 and uploader.sent == 0
        center.proc.start()
        assert uploader.wait_idle(30), f"queue not emptied: {queue.depth}\n{center.proc.log_tail()}"
        assert uploader.sent == 2 and uploader.refused == 0
        headers = center.op_headers()
        for item in items:
            ext = "jpg" if item.kind == "snapshot" else "mp4"
            resp = httpx.get(f"{center.base}/api/evidence/{item.sha256}", headers=headers, timeout=10)
            assert resp.status_code == 200, resp.text
            assert resp.content == store.path_for(item.sha256, ext).read_bytes()
            assert hashlib.sha256(resp.content).hexdigest() == item.sha256
            assert center.stored(item.sha256) == (item.content_type, "edge-01-up")
            assert center.uploads_of(item.sha256) == 1
        # queued again (a replay after a crash): harmless, still one upload on record
        store.queue_upload(items[0], "cam-yard-01")
        assert uploader.wait_idle(10)
        assert center.uploads_of(items[0].sha256) == 1
    finally:
        uploader.stop()


def test_camera_of_another_node_is_refused_and_dropped(
    center: Center, tmp_workdir: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv(TOKEN_ENV, center.token)
    center.proc.start()
    queue = UploadQueue(tmp_workdir / "uploads.sqlite")
    uploader = Uploader(link(center), queue)
    store = EvidenceStore(tmp_workdir / "edge-ev", uploader=uploader)
    snap, _clip = evidence_files(store)
    store.queue_upload(snap, "cam-lc-dust")  # edge-02's camera
    with caplog.at_level(logging.ERROR, logger="parkguard.edge.upload"):
        uploader.run_once()
    assert uploader.refused == 1 and uploader.sent == 0 and queue.depth == 0
    assert "HTTP 403" in caplog.text and "not watched by node 'edge-01'" in caplog.text
    assert center.stored(snap.sha256) is None


def test_center_checks_the_camera_of_edge_uploads(center: Center, tmp_workdir: Path) -> None:
    center.proc.start()
    data = cv2.imencode(".jpg", cv2.imread(str(photo("messi5.jpg"))))[1].tobytes()
    sha = hashlib.sha256(data).hexdigest()
    url = f"{center.base}/api/evidence/{sha}"
    edge = {"Authorization": f"Bearer {center.token}", "Content-Type": "image/jpeg"}

    def put(headers: dict[str, str], **params: str) -> httpx.Response:
        return httpx.put(url, content=data, headers=headers, params=params, timeout=10)

    missing = put(edge)
    assert missing.status_code == 422 and "camera" in missing.text
    for camera in ("cam-lc-dust", "cam-nowhere"):
        resp = put(edge, camera=camera)
        assert resp.status_code == 403, resp.text
    assert center.stored(sha) is None
    ok = put(edge, camera="cam-yard-01")
    assert ok.status_code == 201 and ok.json()["created"] is True  # stored now
    # people (an operator's rectification photo) upload as before, no camera needed
    op = {**center.op_headers(), "Content-Type": "image/jpeg"}
    assert put(op).status_code == 200  # already stored


def test_queue_row_survives_kill_9(
    center: Center, tmp_workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = EvidenceStore(tmp_workdir / "edge-ev")
    snap, _ = evidence_files(store)
    db = tmp_workdir / "state" / "uploads.sqlite"
    code = (
        "import os, signal; from pathlib import Path; from edge.evidence.upload import UploadQueue; "
        f"q = UploadQueue(Path({str(db)!r})); "
        f"q.add({snap.sha256!r}, Path({str(store.path_for(snap.sha256, 'jpg'))!r}), 'image/jpeg', "
        f"'cam-yard-01', {snap.size}); "
        "os.kill(os.getpid(), signal.SIGKILL)"
    )
    res = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, timeout=60)
    assert res.returncode == -9, res.stderr
    queue = UploadQueue(db)
    assert [u.sha256 for u in queue.due(now_ms())] == [snap.sha256]
    monkeypatch.setenv(TOKEN_ENV, center.token)
    center.proc.start()
    uploader = Uploader(link(center), queue)
    uploader.run_once()
    assert queue.depth == 0 and uploader.sent == 1 and center.uploads_of(snap.sha256) == 1


def test_no_token_keeps_the_queue(
    tmp_workdir: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.delenv(TOKEN_ENV, raising=False)
    queue = UploadQueue(tmp_workdir / "uploads.sqlite")
    cfg = CenterLinkConfig(url="http://127.0.0.1:9", token_env=TOKEN_ENV)
    uploader = Uploader(cfg, queue)
    queue.add("a" * 64, tmp_workdir / "a.jpg", "image/jpeg", "cam-1", 10)
    with caplog.at_level(logging.ERROR, logger="parkguard.edge.upload"):
        uploader.run_once()
    assert queue.depth == 1 and f"environment variable {TOKEN_ENV} is empty" in caplog.text


def test_queue_is_bounded_oldest_first(tmp_workdir: Path) -> None:
    queue = UploadQueue(tmp_workdir / "uploads.sqlite", max_rows=10)
    for i in range(12):
        queue.add(f"{i:064x}", tmp_workdir / f"{i}.jpg", "image/jpeg", "cam-1", 10)
        time.sleep(0.002)
    assert queue.depth == 10 and queue.dropped == 2
    left = {u.sha256 for u in queue.due(now_ms(), limit=100)}
    assert f"{0:064x}" not in left and f"{1:064x}" not in left and f"{11:064x}" in left


def test_missing_file_is_dropped(tmp_workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(TOKEN_ENV, "x")
    queue = UploadQueue(tmp_workdir / "uploads.sqlite")
    uploader = Uploader(CenterLinkConfig(url="http://127.0.0.1:9", token_env=TOKEN_ENV), queue)
    queue.add("b" * 64, tmp_workdir / "gone.jpg", "image/jpeg", "cam-1", 10)
    uploader.run_once()
    assert queue.depth == 0 and uploader.sent == 0


def test_center_url_must_be_http() -> None:
    with pytest.raises(ValueError, match="is not an http:// or https:// URL"):
        CenterLinkConfig(url="ftp://center")
    assert CenterLinkConfig(url="https://center.example:8443/").url == "https://center.example:8443"


# --------------------------------------------------------------------------- the whole node


def test_node_uploads_its_snapshot_and_clip(
    center: Center, tmp_workdir: Path, monkeypatch: pytest.MonkeyPatch, mosquitto_session: Any,
    sample_clip: Path,
) -> None:  # fmt: skip
    """A real node on the sample footage (a file camera, in real time): the alert reaches the
    center over MQTT with a snapshot and a clip, and both files are at the center."""
    from edge.node import EdgeNode

    monkeypatch.setenv(TOKEN_ENV, center.token)
    center.proc.start()
    cfg = EdgeConfig.model_validate(
        {
            "site": "yijia",
            "node": "edge-01",
            "analysis_fps": 4,
            "heartbeat_s": 5,
            "metrics_port": 0,
            "evidence_dir": str(tmp_workdir / "edge-ev"),
            "state_dir": str(tmp_workdir / "edge-state"),
            "mqtt": {"host": "127.0.0.1", "port": mosquitto_session.port, "client_id": "edge-up-test"},
            "models": {"manifest": str(REPO / "models" / "manifest.yaml"), "threads": 1},
            # the walkway is never empty: the clip follows the event up to clip_max_s
            "evidence": {"pre_s": 1, "post_s": 2, "clip_max_s": 6},
            "center": {"url": center.base, "token_env": TOKEN_ENV, "backoff_initial_s": 0.2},
            "cameras": [
                {
                    "id": "cam-yard-01",
                    "enterprise": "yj-metal",
                    "url": str(sample_clip),
                    "zones": [
                        {"id": "walkway", "points": [[0.0, 0.25], [1.0, 0.2], [1.0, 0.75], [0.0, 0.8]]}
                    ],
                    "rules": [
                        {
                            "id": "yard-intrusion",
                            "type": "intrusion",
                            "zone": "walkway",
                            "confirm_frames": 2,
                            "update_interval_s": 1,
                        },
                    ],
                }
            ],
        }
    )
    node = EdgeNode(cfg)
    thread = threading.Thread(target=node.run, daemon=True)
    thread.start()
    headers = center.op_headers()
    kinds: dict[str, str] = {}
    try:
        deadline = time.monotonic() + 40
        while time.monotonic() < deadline and set(kinds.values()) != {"snapshot", "clip"}:
            alerts = httpx.get(
                f"{center.base}/api/alerts", params={"camera": "cam-yard-01"}, headers=headers, timeout=10
            ).json()["items"]
            kinds = {e["sha256"]: e["kind"] for a in alerts if a["node"] == "edge-01" for e in a["evidence"]}
            time.sleep(0.5)
    finally:
        node.stop()
        thread.join(30)
    assert set(kinds.values()) == {"snapshot", "clip"}, (kinds, center.proc.log_tail())
    # every file the alerts name is at the center (the uploader may lag the MQTT message a little)
    for sha, kind in kinds.items():
        wait_for(lambda sha=sha: center.stored(sha) is not None, 20, f"{kind} {sha} at the center")
        resp = httpx.get(f"{center.base}/api/evidence/{sha}", headers=headers, timeout=10)
        assert resp.status_code == 200 and hashlib.sha256(resp.content).hexdigest() == sha
        if kind == "clip":
            path = tmp_workdir / "clip.mp4"
            path.write_bytes(resp.content)
            with av.open(str(path)) as c:
                assert c.streams.video[0].codec_context.name == "h264"
                assert sum(1 for _ in c.decode(video=0)) >= 20  # ≥ 2 s at 10 fps
