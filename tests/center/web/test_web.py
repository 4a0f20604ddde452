"""The console pages in Chromium: alerts published over MQTT appear live, in Chinese; the
alert's detail shows its evidence; the nodes page shows the edge nodes' health."""

from __future__ import annotations

import hashlib
import json
import os
import re
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

import httpx
import paho.mqtt.client as mqtt
import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from center.domain.vocabulary import CAMERA_STATE_LABELS
from protocol import (
    CameraHealth,
    CameraState,
    Heartbeat,
    NodeState,
    NodeStatus,
    Topic,
    TopicKind,
    WarningHealth,
    new_event_id,
    now_ms,
)
from tests.centerkit import register_cameras_at
from tests.support.ports import free_port
from tests.support.procs import ManagedProcess

pytestmark = [pytest.mark.browser, pytest.mark.e2e]

REPO = Path(__file__).resolve().parents[3]
BIN = Path(sys.executable).parent / "parkguard-center"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOT = Path("/tmp/center-page.png")


MQTT_CONNECTED = r'"msg": "connected to MQTT broker'
OPERATOR, PASSWORD = "op", "op-password-1"
CAMERAS = ["cam-gate", "cam-yard", "cam-stairs", "cam-office"]


@dataclass
class Center:
    proc: ManagedProcess  # stop()/start() keep the port
    url: str


@pytest.fixture
def center(tmp_workdir: Path, mosquitto: Any) -> Iterator[Center]:
    """``parkguard-center serve`` as a real process."""
    port = free_port()
    config = tmp_workdir / "center.yaml"
    config.write_text(
        f"""site: yijia
site_name: 毅佳工业园
timezone: Asia/Shanghai
database: {{url: "sqlite:///var/center.db"}}
mqtt: {{host: {mosquitto.host}, port: {mosquitto.port}, client_id: test-web-{uuid.uuid4().hex[:8]}}}
http: {{host: 127.0.0.1, port: {port}}}
""",
        encoding="utf-8",
    )
    subprocess.run(
        [BIN, "user", "add", "--config", config, "--username", OPERATOR, "--role", "operator"],
        input=PASSWORD + "\n",
        text=True,
        check=True,
        capture_output=True,
        env=dict(os.environ),
    )
    # the cameras the tests' events come from, registered to the node that sends them
    register_cameras_at(
        f"sqlite:///{tmp_workdir / 'var' / 'center.db'}", {c: ("edge-01", "web-ent") for c in CAMERAS}
    )
    proc = ManagedProcess(
        [BIN, "serve", "--config", config],
        name="center",
        log_dir=tmp_workdir,
        ready_url=f"http://127.0.0.1:{port}/api/health",
        ready_line=MQTT_CONNECTED,
        ready_stream="stderr",
    )
    with proc:
        yield Center(proc, f"http://127.0.0.1:{port}")


@pytest.fixture
def publisher(mosquitto: Any) -> Iterator[mqtt.Client]:
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"test-pub-{uuid.uuid4().hex[:8]}")
    client.connect(mosquitto.host, mosquitto.port)
    client.loop_start()
    yield client
    client.loop_stop()
    client.disconnect()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.skip(f"no Chromium at {CHROMIUM}")
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1440, "height": 720}, locale="zh-CN")
    p = context.new_page()
    yield p
    context.close()


def send(client: mqtt.Client, event_id: str, phase: str = "new", seq: int = 0, **fields: Any) -> None:
    t0 = fields.pop("started_ms", now_ms() - 5000)
    msg: dict[str, Any] = {
        "event_id": event_id,
        "phase": phase,
        "seq": seq,
        "site": "yijia",
        "node": "edge-01",
        "camera": "cam-gate",
        "rule_id": "gate-zone",
        "rule_type": "intrusion",
        "rule_name": "大门禁区",
        "severity": "major",
        "started_ms": t0,
        "last_ms": t0 + 2000 * seq,
        "count": 1,
        "score": 0.91,
    }
    msg.update(fields)
    topic = Topic.of("yijia", msg["node"], "event")
    client.publish(topic, json.dumps(msg, ensure_ascii=False), qos=1).wait_for_publish(5)


def log_in(page: Page, url: str) -> None:
    """Open the console: it sends us to the login page first."""
    page.goto(url)
    expect(page).to_have_url(f"{url}/login?next=/")
    page.fill("#username", OPERATOR)
    page.fill("#password", PASSWORD)
    page.click("#submit")
    expect(page).to_have_url(f"{url}/")


def row(page: Page, event_id: str) -> Any:
    return page.locator(f'tr[data-event-id="{event_id}"]')


def test_alert_appears_live_in_the_table(center: Center, publisher: mqtt.Client, page: Page) -> None:
    earlier = new_event_id()
    send(
        publisher,
        earlier,
        camera="cam-yard",
        rule_type="overcrowding",
        rule_name="装卸区",
        severity="significant",
        count=12,
        started_ms=now_ms() - 600_000,
    )
    send(
        publisher,
        earlier,
        "end",
        1,
        camera="cam-yard",
        rule_type="overcrowding",
        rule_name="装卸区",
        severity="significant",
        count=9,
        started_ms=now_ms() - 600_000,
        ended_ms=now_ms() - 420_000,
    )
    time.sleep(0.5)

    log_in(page, center.url)
    expect(page).to_have_title("ParkGuard 园区安全监测平台 — 毅佳工业园")
    expect(page.locator("#conn")).to_have_text("实时连接")
    expect(row(page, earlier)).to_contain_text("超员")  # from the initial /api/alerts list
    expect(row(page, earlier)).to_contain_text("已结束")
    expect(row(page, earlier)).to_contain_text("较大")

    eid = new_event_id()
    send(publisher, eid, camera="cam-gate")  # published after the page loaded: arrives by WebSocket
    live = row(page, eid)
    expect(live).to_contain_text("区域闯入")
    expect(live).to_contain_text("大门禁区")
    expect(live).to_contain_text("重大")
    expect(live).to_contain_text("进行中")
    expect(page.locator("#alert-rows tr").first).to_have_attribute("data-event-id", eid)  # newest on top
    token = httpx.post(
        f"{center.url}/api/auth/login", json={"username": OPERATOR, "password": PASSWORD}
    ).json()
    auth = {"Authorization": f"Bearer {token['token']}"}
    started = httpx.get(f"{center.url}/api/alerts/{eid}", headers=auth).json()["started_ms"]
    shown = time.strftime("%Y/%m/%d %H:%M:%S", time.gmtime(started / 1000 + 8 * 3600))  # Asia/Shanghai
    expect(live.locator("td.time")).to_have_text(shown)

    for other, rule, sev in [("cam-stairs", "man_down", "major"), ("cam-office", "phone_use", "general")]:
        send(publisher, new_event_id(), camera=other, rule_type=rule, rule_name="", severity=sev)
    send(publisher, eid, "update", 1, camera="cam-gate", count=2, score=0.95)
    expect(live.locator("td.count")).to_have_text("2")
    expect(page.locator("#alert-rows tr")).to_have_count(4)
    expect(page.locator("#stat-active")).to_have_text("3")
    page.wait_for_timeout(2600)  # let the arrival highlight fade before the picture
    page.screenshot(path=str(SCREENSHOT), full_page=True)


def test_page_reconnects_when_the_center_restarts(center: Center, publisher: mqtt.Client, page: Page) -> None:
    log_in(page, center.url)
    expect(page.locator("#conn")).to_have_text("实时连接")
    center.proc.stop()
    expect(page.locator("#conn")).to_have_text("已断开")
    center.proc.start()
    expect(page.locator("#conn")).to_have_text("实时连接", timeout=20_000)
    eid = new_event_id()
    send(publisher, eid, rule_type="smoking", rule_name="", severity="general")
    expect(row(page, eid)).to_contain_text("吸烟")
    expect(row(page, eid)).to_contain_text("一般")


def test_escalating_an_alert_from_the_console(
    center: Center, tmp_workdir: Path, publisher: mqtt.Client, page: Page
) -> None:
    seeded = subprocess.run(  # registers the enterprises and their cameras (cam-yard-01 of yj-metal)
        [BIN, "seed", "--config", tmp_workdir / "center.yaml"], capture_output=True, text=True, timeout=120
    )
    assert seeded.returncode == 0, seeded.stderr
    eid = new_event_id()
    send(publisher, eid, camera="cam-yard-01")
    log_in(page, center.url)
    page.on("dialog", lambda dialog: dialog.accept())  # 转为一般隐患，整改期限7天？
    row(page, eid).locator("td.actions .btn-escalate").click()
    expect(row(page, eid).locator("td.actions")).to_have_text("已转隐患")
    expect(row(page, eid).locator("td.actions button")).to_have_count(0)


def test_risk_map_and_safety_code_pages(center: Center, tmp_workdir: Path, page: Page) -> None:
    seeded = subprocess.run(
        [BIN, "seed", "--config", tmp_workdir / "center.yaml"], capture_output=True, text=True, timeout=120
    )
    assert seeded.returncode == 0, seeded.stderr
    log_in(page, center.url)
    page.click("text=企业风险")
    expect(page).to_have_url(f"{center.url}/risk")
    rows = page.locator("#enterprise-rows tr")
    expect(rows).to_have_count(8 + 1)  # the seeded park and the fixture's web-ent (its cameras)
    expect(page.locator('#enterprise-rows tr[data-enterprise-id="yj-metal"] .level')).to_have_text("红")
    levels = {rows.nth(i).get_attribute("data-level") for i in range(8)}
    assert len(levels) >= 3, levels
    expect(page.locator("#map .ent-dot")).to_have_count(8)  # the enterprises on the park's plan
    page.screenshot(path="/tmp/center-risk.png", full_page=True)
    # the 全安码 page: a visitor who is not logged in sees the name and the colour only
    anon = page.context.browser.new_context(locale="zh-CN").new_page()  # type: ignore[union-attr]
    anon.goto(f"{center.url}/e/yj-metal")
    expect(anon.locator("#name")).to_have_text("佛山市南海毅佳金属制品有限公司")
    expect(anon.locator("#code")).to_have_attribute("data-level", "red")
    expect(anon.locator("#details")).to_be_hidden()
    anon.context.close()
    page.goto(f"{center.url}/e/yj-metal")  # the operator sees the score and the QR code
    expect(page.locator("#details")).to_contain_text("风险分")
    expect(page.locator("#code img")).to_be_visible()
    page.screenshot(path="/tmp/center-card.png", full_page=True)


def test_report_buttons_download_pdfs(center: Center, tmp_workdir: Path, page: Page) -> None:
    """风险诊断报告 with a period on the risk file, 服务报告 of a service, the park report on the risk
    map: each button gives a PDF the browser saves (issue 14)."""
    seeded = subprocess.run(
        [BIN, "seed", "--config", tmp_workdir / "center.yaml"], capture_output=True, text=True, timeout=120
    )
    assert seeded.returncode == 0, seeded.stderr
    log_in(page, center.url)
    page.goto(f"{center.url}/enterprises/yj-metal")
    expect(page.locator("#report-form")).to_be_visible()
    page.fill("#report-from", "2020-01-01")
    page.fill("#report-to", "2019-12-01")  # reversed: the center's reason is shown
    page.click("#report-button")
    expect(page.locator("#report-note")).to_contain_text("晚于截止日")
    page.fill("#report-to", time.strftime("%Y-%m-%d"))
    with page.expect_download(timeout=60_000) as got:
        page.click("#report-button")
    saved = tmp_workdir / "report.pdf"
    got.value.save_as(saved)
    assert got.value.suggested_filename.startswith("FXZD-")
    text = subprocess.run(["pdftotext", saved, "-"], capture_output=True, text=True, check=True).stdout
    assert "佛山市南海毅佳金属制品有限公司" in text and "风险诊断报告" in text
    expect(page.locator("#report-note")).to_contain_text("已生成 FXZD-")
    artifacts = REPO / "var" / "test-artifacts" / "reports"
    artifacts.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(artifacts / "console-risk-file.png"), full_page=True)
    with page.expect_download(timeout=60_000) as got:
        page.locator("#service-rows button").first.click()
    assert got.value.suggested_filename.startswith("FWBG-")
    page.click("text=企业风险")
    with page.expect_download(timeout=60_000) as got:
        page.click("#park-report")
    assert got.value.suggested_filename.startswith("YQBG-")
    with page.expect_download(timeout=60_000) as got:
        page.locator('#enterprise-rows tr[data-enterprise-id="hx-chem"] button').click()
    assert got.value.suggested_filename.startswith("FXZD-")
    page.screenshot(path=str(artifacts / "console-risk-map.png"), full_page=True)


# --- 节点与摄像头: status + heartbeats over MQTT, health on the page ----------------------------

DATA = REPO / "tests" / "data"
SAMPLE = REPO / "samples" / "vtest-walkway.mp4"


def add_user(center_dir: Path, username: str, role: str, password: str, *links: str) -> None:
    done = subprocess.run(
        [
            BIN,
            "user",
            "add",
            "--config",
            center_dir / "center.yaml",
            "--username",
            username,
            "--role",
            role,
            *links,
        ],
        input=password + "\n",
        text=True,
        capture_output=True,
        env=dict(os.environ),
    )
    assert done.returncode == 0, done.stderr


def log_in_as(page: Page, url: str, path: str, username: str, password: str) -> None:
    """Open a console page while logged out: log in on the page it sends us to, land back."""
    page.goto(f"{url}{path}")
    expect(page).to_have_url(f"{url}/login?next={path}")
    page.fill("#username", username)
    page.fill("#password", password)
    page.click("#submit")
    expect(page).to_have_url(f"{url}{path}")


def node_status(client: mqtt.Client, node: str, state: NodeState, **fields: Any) -> None:
    msg = NodeStatus(site="yijia", node=node, state=state, ts_ms=now_ms(), **fields)
    topic = Topic.of("yijia", node, TopicKind.STATUS)
    client.publish(topic, msg.model_dump_json(), qos=1, retain=True).wait_for_publish(5)


def heartbeat(client: mqtt.Client, node: str, cameras: list[CameraHealth], **fields: Any) -> None:
    msg = Heartbeat(site="yijia", node=node, ts_ms=now_ms(), uptime_s=120.0, cameras=cameras, **fields)
    client.publish(
        Topic.of("yijia", node, TopicKind.HEARTBEAT), msg.model_dump_json(), qos=1
    ).wait_for_publish(5)


class Beats:
    """A node's heartbeats every 0.3 s (its period says 1 s) until stopped: the center sees it alive."""

    def __init__(self, client: mqtt.Client, node: str, cameras: list[CameraHealth], **fields: Any) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(client, node, cameras, fields), daemon=True)

    def _run(
        self, client: mqtt.Client, node: str, cameras: list[CameraHealth], fields: dict[str, Any]
    ) -> None:
        while not self._stop.is_set():
            heartbeat(client, node, cameras, **fields)
            self._stop.wait(0.3)

    def __enter__(self) -> Beats:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)


def test_nodes_page_shows_health_cameras_and_missed_heartbeats(
    center: Center, publisher: mqtt.Client, page: Page
) -> None:
    node = "edge-07"
    node_status(
        publisher,
        node,
        NodeState.ONLINE,
        software="parkguard-edge 0.3.0",
        cameras=["cam-dock", "cam-gate-2", "cam-roof"],
        config_version=3,
        config_rejected=4,
        config_error="zones[0]: a polygon needs 3 points",
    )
    seen_ms = now_ms() - 1500
    cameras = [
        CameraHealth(
            camera="cam-dock",
            state=CameraState.ONLINE,
            fps_in=10.0,
            fps_out=9.5,
            infer_ms=42.5,
            dropped_frames=3,
            reconnects=1,
            last_frame_ms=seen_ms,
        ),
        CameraHealth(
            camera="cam-gate-2",
            state=CameraState.STALLED,
            fps_in=0.0,
            fps_out=0.0,
            infer_ms=0.0,
            dropped_frames=0,
            reconnects=4,
            error="no frame for 12 s",
        ),
    ]
    anon = page.context.browser.new_context(locale="zh-CN").new_page()  # type: ignore[union-attr]
    anon.goto(f"{center.url}/nodes")  # not logged in: the login page first
    expect(anon).to_have_url(f"{center.url}/login?next=/nodes")
    anon.context.close()

    warnings = WarningHealth(played=12, failed=1, rate_limited=4, outside_schedule=2, dropped=0)
    with Beats(
        publisher, node, cameras, outbox_depth=5, outbox_dropped=2, interval_s=1.0, warning=warnings
    ) as beats:
        log_in(page, center.url)
        page.click("text=节点与摄像头")
        expect(page).to_have_url(f"{center.url}/nodes")
        expect(page).to_have_title("节点与摄像头 — ParkGuard 园区安全监测平台 — 毅佳工业园")
        sec = page.locator(f'section.node[data-node="{node}"]')
        expect(sec).to_have_attribute("data-health", "online")
        expect(sec.locator(".health")).to_have_text("在线")
        dock = sec.locator('tr[data-camera="cam-dock"]')
        expect(dock.locator(".state")).to_have_text("在线")
        expect(dock.locator(".fps-in")).to_have_text(f"{cameras[0].fps_in:.1f}")
        expect(dock.locator(".fps-out")).to_have_text(f"{cameras[0].fps_out:.1f}")
        expect(dock.locator(".infer")).to_have_text(f"{cameras[0].infer_ms:.1f}")
        expect(dock.locator(".dropped")).to_have_text(str(cameras[0].dropped_frames))
        shown = time.strftime("%m/%d %H:%M:%S", time.gmtime(seen_ms / 1000 + 8 * 3600))  # Asia/Shanghai
        expect(dock.locator(".last-frame")).to_have_text(shown)
        gate = sec.locator('tr[data-camera="cam-gate-2"]')
        expect(gate.locator(".state")).to_have_text("卡顿")
        expect(gate.locator(".reconnects")).to_have_text("4")
        expect(gate.locator(".error")).to_have_text("no frame for 12 s")
        expect(sec.locator('tr[data-camera="cam-roof"] .state')).to_have_text("未上报")  # in the status only
        expect(sec.locator("dd.outbox")).to_have_text("待发 5 条 · 已丢弃 2 条")
        expect(sec.locator("dd.warnings")).to_have_text(
            "已播放 12 · 失败 1 · 频率限制 4 · 不在时段 2 · 设备繁忙丢弃 0"
        )
        expect(sec.locator("dd.warnings")).to_have_class("warnings warn")
        expect(sec.locator("dd.config")).to_have_text("v3")
        expect(sec.locator("dd.config-rejected")).to_have_text("v4：zones[0]: a polygon needs 3 points")
        expect(sec.locator("dd.heartbeat")).to_contain_text("周期 1 秒")
        expect(page.locator("#stat-online")).to_have_text("1")
        expect(page.locator("#stat-cameras")).to_have_text("1 / 3")
        page.screenshot(path="/tmp/center-nodes.png", full_page=True)
        beats.stop()  # the node freezes: connected (no last will), no heartbeats

    expect(sec).to_have_attribute("data-health", "stale", timeout=20_000)  # 3 periods of 1 s, then a refresh
    expect(sec.locator(".health")).to_have_text("心跳超时")
    expect(page.locator("#stat-bad")).to_have_text("1")
    expect(page.locator("#stat-cameras")).to_have_text("0 / 3")
    node_status(publisher, node, NodeState.OFFLINE)  # its last will
    expect(sec.locator(".health")).to_have_text("离线", timeout=15_000)
    node_status(publisher, node, NodeState.STOPPED, cameras=["cam-dock", "cam-gate-2", "cam-roof"])
    expect(sec.locator(".health")).to_have_text("已停止", timeout=15_000)
    expect(sec).to_have_attribute("data-health", "stopped")


def test_nodes_page_by_role(center: Center, tmp_workdir: Path, publisher: mqtt.Client, page: Page) -> None:
    """The government reads the nodes; an insurer gets no link, and the page sends it to its own."""
    node_status(publisher, "edge-08", NodeState.ONLINE, cameras=["cam-a"])
    add_user(tmp_workdir, "gov", "government", "Harbor-lantern-47")
    with sqlite3.connect(tmp_workdir / "var" / "center.db") as db:  # the insurer the account is of
        db.execute("INSERT INTO insurers (id, name) VALUES ('ins-1', '测试保险公司')")
    add_user(tmp_workdir, "ins", "insurer", "Copper-meadow-52", "--insurer", "ins-1")
    log_in_as(page, center.url, "/nodes", "gov", "Harbor-lantern-47")
    expect(page.locator('section.node[data-node="edge-08"] .health')).to_have_text("在线")

    ins = page.context.browser.new_context(locale="zh-CN").new_page()  # type: ignore[union-attr]
    log_in_as(ins, center.url, "/portfolio", "ins", "Copper-meadow-52")
    expect(ins.locator("#user")).to_contain_text("保险公司")
    expect(ins.locator('nav a[href="/nodes"]')).to_be_hidden()
    ins.goto(f"{center.url}/nodes")  # a page it may not open: sent to its own, no 403 on the way
    expect(ins).to_have_url(f"{center.url}/portfolio")
    expect(ins.locator("section.node")).to_have_count(0)
    sockets: list[str] = []
    ins.on("websocket", lambda ws: sockets.append(ws.url))
    ins.goto(f"{center.url}/")  # no alerts for an insurer: its landing page, no alert feed opened
    expect(ins).to_have_url(f"{center.url}/portfolio")
    expect(ins.locator("#portfolio-rows")).to_contain_text("暂无在保企业")  # it insures none in force
    assert sockets == []
    ins.context.close()


# --- the alert's detail: snapshot and clip fetched with the login --------------------------------


def sample_clip(frames: int = 20, side: int = 320) -> bytes:
    """An H.264 MP4 of the first frames of the sample footage, encoded as the edge encodes clips."""
    from fractions import Fraction

    import av

    from edge.evidence.clips import encode_h264

    def decoded() -> Iterator[tuple[int, Any]]:
        with av.open(str(SAMPLE)) as src:
            for i, frame in enumerate(src.decode(video=0)):
                if i >= frames:
                    return
                yield i * 100, frame.to_ndarray(format="bgr24")

    return encode_h264(decoded(), side, 28, Fraction(10))


def upload(url: str, auth: dict[str, str], data: bytes, content_type: str, camera: str) -> dict[str, Any]:
    sha = hashlib.sha256(data).hexdigest()
    resp = httpx.put(
        f"{url}/api/evidence/{sha}",
        params={"camera": camera},
        content=data,
        headers={**auth, "content-type": content_type},
        timeout=30,
    )
    assert resp.status_code in (200, 201), resp.text
    kind = "clip" if content_type == "video/mp4" else "snapshot"
    return {"kind": kind, "sha256": sha, "content_type": content_type, "size": len(data)}


def test_alert_detail_shows_snapshot_and_clip(center: Center, publisher: mqtt.Client, page: Page) -> None:
    import cv2

    token = httpx.post(
        f"{center.url}/api/auth/login", json={"username": OPERATOR, "password": PASSWORD}
    ).json()
    auth = {"Authorization": f"Bearer {token['token']}"}
    photo = (DATA / "messi5.jpg").read_bytes()
    height, width = cv2.imread(str(DATA / "messi5.jpg")).shape[:2]
    snapshot = upload(center.url, auth, photo, "image/jpeg", "cam-gate")
    clip = upload(center.url, auth, sample_clip(), "video/mp4", "cam-gate")
    eid = new_event_id()
    send(publisher, eid, camera="cam-gate", evidence=[snapshot, clip])
    gone = new_event_id()  # evidence named but never stored: no broken image, no block
    never = hashlib.sha256(b"never uploaded " + gone.encode()).hexdigest()
    send(
        publisher,
        gone,
        camera="cam-yard",
        rule_type="loitering",
        rule_name="",
        evidence=[{"kind": "snapshot", "sha256": never, "content_type": "image/jpeg", "size": 1000}],
    )

    log_in(page, center.url)
    expect(row(page, eid)).to_contain_text("区域闯入")
    detail = page.locator("#detail")
    expect(detail).to_be_hidden()
    row(page, eid).locator("td.time").click()  # the camera cell links to /wall
    expect(detail).to_be_visible()
    expect(detail).to_have_attribute("data-event-id", eid)
    expect(page.locator("#detail-title")).to_have_text("区域闯入 · 大门禁区")
    expect(page.locator("#detail-facts")).to_contain_text("cam-gate")
    img = detail.locator("img.snapshot")
    expect(img).to_be_visible()
    page.wait_for_function(
        "() => { const i = document.querySelector('#detail img.snapshot'); "
        "return i && i.complete && i.naturalWidth > 0; }"
    )
    assert img.evaluate("i => [i.naturalWidth, i.naturalHeight]") == [width, height]
    assert img.evaluate("i => i.src").startswith("blob:")  # fetched with the login, not a bare URL
    video = detail.locator("video.clip")
    expect(video).to_be_visible()
    page.wait_for_function(
        "() => { const v = document.querySelector('#detail video.clip'); "
        "return v && v.readyState >= 1 && v.videoWidth > 0; }"
    )
    assert video.evaluate("v => [v.videoWidth, v.videoHeight]") == [320, 240]  # 768x576 scaled to 320
    assert video.evaluate("v => v.duration") > 1.0  # 20 frames at 10 fps
    page.screenshot(path="/tmp/center-alert-detail.png")
    detail.locator("#detail-actions .btn-ack").click()  # handled from the panel too
    expect(row(page, eid).locator("td.actions")).to_contain_text("已确认")
    expect(page.locator("#detail-facts")).to_contain_text("已确认")
    expect(detail.locator("img.snapshot")).to_be_visible()  # the evidence stays (not fetched again)

    row(page, gone).locator("td.time").click()  # the camera cell links to /wall
    expect(detail).to_have_attribute("data-event-id", gone)
    expect(page.locator("#evidence-note")).to_have_text("部分证据暂不可用 (HTTP 404)")
    expect(page.locator("#evidence")).to_be_hidden()
    expect(detail.locator("img")).to_have_count(0)
    page.keyboard.press("Escape")
    expect(detail).to_be_hidden()


def test_alert_detail_shows_what_was_played_at_the_post(
    center: Center, publisher: mqtt.Client, page: Page
) -> None:
    from datetime import datetime
    from zoneinfo import ZoneInfo

    t0 = now_ms() - 8000
    played_ms = t0 + 1400
    queued = {
        "outcome": "queued",
        "message": "请佩戴安全帽",
        "reason": "the rule's event started",
        "decided_ms": t0 + 600,
    }
    played = {
        **queued,
        "outcome": "partial",
        "outputs": [
            {"output": "yard-01", "name": "yard-01", "kind": "speaker_http", "ok": True, "ms": played_ms},
            {
                "output": "strobe",
                "name": "大门声光报警器",
                "kind": "modbus",
                "ok": False,
                "error": "Modbus device 10.0.0.40:502 unreachable",
            },
        ],
    }
    eid = new_event_id(t0)
    send(publisher, eid, started_ms=t0, warning=queued)
    send(publisher, eid, "update", 1, started_ms=t0, warning=played)
    quiet = new_event_id()  # a rule without a warning: no line
    send(publisher, quiet, camera="cam-yard")
    limited = new_event_id()
    send(
        publisher,
        limited,
        camera="cam-stairs",
        warning={**queued, "outcome": "rate_limited", "reason": "repeat within 60 s (last played 14:02:11)"},
    )

    log_in(page, center.url)
    expect(row(page, limited)).to_be_visible()
    row(page, eid).locator("td.time").click()  # the camera cell links to /wall
    clock = datetime.fromtimestamp(played_ms / 1000, ZoneInfo("Asia/Shanghai")).strftime("%H:%M:%S")
    line = page.locator("#detail-facts dd.warning")
    expect(line).to_have_text(
        f"部分播放「请佩戴安全帽」 {clock} (扬声器 yard-01；失败 声光报警器 大门声光报警器："
        "Modbus device 10.0.0.40:502 unreachable)"
    )
    expect(page.locator("#detail-facts dt", has_text="现场提醒")).to_have_count(1)
    row(page, quiet).locator("td.time").click()  # the camera cell links to /wall
    expect(page.locator("#detail")).to_have_attribute("data-event-id", quiet)
    expect(page.locator("#detail-facts dd.warning")).to_have_count(0)
    row(page, limited).locator("td.time").click()  # the camera cell links to /wall
    decided = datetime.fromtimestamp((t0 + 600) / 1000, ZoneInfo("Asia/Shanghai")).strftime("%H:%M:%S")
    expect(line).to_have_text(f"未播放（频率限制）「请佩戴安全帽」 {decided}")


def test_nodes_page_knows_every_node_and_camera_state() -> None:
    script = (REPO / "center" / "web" / "nodes.js").read_text(encoding="utf-8")
    health = re.search(r"const HEALTH = \{([^}]*)\}", script)
    assert health
    for value in [*(s.value for s in NodeState), "stale"]:
        assert re.search(rf"\b{value}: \"[^\"]+\"", health.group(1)), f"nodes.js has no label for {value}"
    for state in [
        *(s.value for s in CameraState),
        "no_report",
        "unknown",
    ]:  # camera states: named by the server
        assert CAMERA_STATE_LABELS.get(state), f"no label for camera {state}"


# --- names, not ids: the alert table and the nodes page ------------------------------------------


def test_alert_table_and_nodes_page_show_names(
    center: Center, tmp_workdir: Path, publisher: mqtt.Client, page: Page
) -> None:
    seeded = subprocess.run(  # registers the enterprises, their cameras and the nodes edge-01..03
        [BIN, "seed", "--config", tmp_workdir / "center.yaml"], capture_output=True, text=True, timeout=120
    )
    assert seeded.returncode == 0, seeded.stderr
    status = NodeStatus(
        site="yijia", node="edge-01", state=NodeState.ONLINE, ts_ms=now_ms(), cameras=["cam-yard-01"]
    )
    topic = Topic.of("yijia", "edge-01", TopicKind.STATUS)
    publisher.publish(topic, status.model_dump_json(), qos=1).wait_for_publish(5)  # not retained
    yard = CameraHealth(
        camera="cam-yard-01",
        state=CameraState.ONLINE,
        fps_in=10.0,
        fps_out=9.0,
        infer_ms=30.0,
        dropped_frames=0,
        reconnects=0,
    )
    heartbeat(publisher, "edge-01", [yard], interval_s=60.0)
    eid = new_event_id()
    send(publisher, eid, camera="cam-yard-01", enterprise="yj-metal", rule_name="主通道禁区")

    log_in(page, center.url)
    live = row(page, eid)
    expect(live.locator("td.camera .label")).to_have_text("厂区主通道")
    expect(live.locator("td.camera .id")).to_have_text("cam-yard-01")
    expect(live.locator("td.enterprise")).to_have_text("佛山市南海毅佳金属制品有限公司")
    expect(live.locator("td.node .label")).to_have_text("A区机房 (zone A)")
    seeded_rows = page.locator("#alert-rows tr")
    expect(seeded_rows.nth(1).locator("td.camera .label")).not_to_be_empty()  # the seed's alerts too
    page.wait_for_timeout(2600)  # let the arrival highlight fade
    page.screenshot(path="/tmp/names-alerts.png")
    live.locator("td.rule").click()
    expect(page.locator("#detail-facts dd.camera")).to_contain_text("厂区主通道（cam-yard-01）")
    wall = page.locator("#detail-facts dd.camera a.live-link")
    expect(wall).to_have_attribute("href", "/wall?camera=cam-yard-01")
    expect(page.locator("#detail-facts dd.node")).to_have_text("A区机房 (zone A)（edge-01）")
    page.screenshot(path="/tmp/names-alert-detail.png")

    page.goto(f"{center.url}/nodes")
    edge1 = page.locator('section.node[data-node="edge-01"]')
    expect(edge1).to_have_attribute("data-health", "online")
    yard_row = edge1.locator('tr[data-camera="cam-yard-01"]')
    expect(yard_row.locator(".camera .label")).to_have_text("厂区主通道")
    expect(yard_row.locator(".state")).to_have_text("在线")
    expect(yard_row.locator(".fps-in")).to_have_text("10.0")
    expect(edge1.locator('tr[data-camera="cam-yj-melt"] .state')).to_have_text(
        "未上报"
    )  # registered, not told
    edge2 = page.locator('section.node[data-node="edge-02"]')  # never heard from
    expect(edge2.locator("dd.last-seen")).to_have_text("从未联系 Never")
    spray = edge2.locator('tr[data-camera="cam-lc-spray"]')
    expect(spray.locator(".camera .label")).to_have_text("喷漆房")
    expect(spray.locator(".enterprise")).to_have_text("佛山市南海林创家具有限公司")
    expect(spray.locator(".state")).to_have_text("状态未知")
    auth = {"Authorization": f"Bearer {bearer(center)}"}  # every seeded camera is on the page, under its node
    total = httpx.get(f"{center.url}/api/cameras", headers=auth, params={"limit": 1}).json()["total"]
    assert total == 30 + len(CAMERAS)  # the seeded park's and the fixture's
    seeded_nodes = ", ".join(f'section.node[data-node="edge-0{i}"] tbody tr' for i in (1, 2, 3))
    expect(page.locator(seeded_nodes)).to_have_count(total)
    page.screenshot(path="/tmp/names-nodes.png", full_page=True)


def bearer(center: Center) -> str:
    resp = httpx.post(f"{center.url}/api/auth/login", json={"username": OPERATOR, "password": PASSWORD})
    return str(resp.json()["token"])
