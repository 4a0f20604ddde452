"""Live video on the camera wall (视频墙), end to end with real parts: an RTSP camera served by
GstRtspServer, a private Mosquitto, ``parkguard-edge run`` (aiortc) and ``parkguard-center
serve`` as processes, Debian's Chromium driven by Playwright.

- an operator opens a camera from ``/wall?camera=…``: the ``<video>`` decodes frames
  (``getStats().framesDecoded``), the node passed the camera's H.264 through (its encoder never
  ran: ``live_frames_encoded_total`` stays 0 in its /metrics while ``live_packets_passed_total``
  grows), the overlay draws the node's boxes; the camera stopped mid-session → the tile says so;
  started again → the picture comes back;
- an enterprise officer sees only its own cameras and cannot open another enterprise's (404 at the
  center, and nothing is published towards the node: an MQTT spy on ``…/live-request`` hears only
  the officer's own offer); an insurer gets no wall and no video;
- bad offers (not SDP, no video, too long, an unknown camera) get a clear 4xx and reach no node.

Screenshots go to var/test-artifacts/live/.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import paho.mqtt.client as mqtt
import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from center.store import db
from center.store.models import Camera, Insurer
from tests.centerkit import register_cameras_at
from tests.support.edgeproc import CLIP, REPO, edge_process
from tests.support.ports import free_port
from tests.support.procs import ManagedProcess
from tests.support.rtsp import RtspCameraServer

pytestmark = [pytest.mark.browser, pytest.mark.e2e, pytest.mark.slow]

BIN = Path(sys.executable).parent / "parkguard-center"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--autoplay-policy=no-user-gesture-required",
]
ARTIFACTS = REPO / "var" / "test-artifacts" / "live"
NODE = "edge-lv"
CAM_A, CAM_B = "cam-lv-a", "cam-lv-b"
NAME_A, NAME_B = "厂区主通道", "仓库东门"
USERS = {"op": ("operator", None), "ent-a-officer": ("enterprise", "ent-lv-a"), "ins": ("insurer", None)}
PASSWORD = "Lv7tQ!pZ2-wall-9x"
LIVE_REQUESTS = f"parkguard/v1/yijia/{NODE}/live-request"


@dataclass
class Stack:
    url: str
    metrics: str  # the edge node's /metrics
    rtsp: RtspCameraServer
    edge: ManagedProcess
    spy: list[str]  # "action:camera" of each live request the broker carried towards the node


def _user(config: Path, name: str, role: str, enterprise: str | None) -> None:
    args = [BIN, "user", "add", "--config", config, "--username", name, "--role", role]
    if enterprise:
        args += ["--enterprise", enterprise]
    if role == "insurer":
        args += ["--insurer", "ins-lv"]
    subprocess.run(
        args, input=PASSWORD + "\n", text=True, check=True, capture_output=True, env=dict(os.environ)
    )


def _edge_config(workdir: Path, mqtt_port: int, metrics_port: int, rtsp_url: str) -> Path:
    path = workdir / "edge-live.yaml"
    path.write_text(
        f"""site: yijia
node: {NODE}
analysis_fps: 4
heartbeat_s: 1
metrics_port: {metrics_port}
evidence_dir: ev
state_dir: state-live
mqtt: {{host: 127.0.0.1, port: {mqtt_port}, keepalive: 60}}
models: {{manifest: {REPO / "models" / "manifest.yaml"}, threads: 1}}
motion: {{enabled: false}}
stream: {{open_timeout_s: 2, read_timeout_s: 3, backoff_initial_s: 0.5, backoff_max_s: 1}}
live: {{max_viewers: 4}}
cameras:
  - id: {CAM_A}
    url: {rtsp_url}
    zones:
      - {{id: walk, name: 人行道, points: [[0.05, 0.45], [0.95, 0.45], [0.95, 0.98], [0.05, 0.98]]}}
  - {{id: {CAM_B}, url: {CLIP}}}
""",
        encoding="utf-8",
    )
    return path


@pytest.fixture
def stack(tmp_workdir: Path, mosquitto: Any, rtsp_server: Callable[..., RtspCameraServer]) -> Iterator[Stack]:
    port = free_port()
    config = tmp_workdir / "center.yaml"
    db_path = tmp_workdir / "var" / "center.db"
    config.write_text(
        f"""site: yijia
site_name: 毅佳工业园
timezone: Asia/Shanghai
database: {{url: "sqlite:///var/center.db"}}
mqtt: {{host: {mosquitto.host}, port: {mosquitto.port}, client_id: test-live-{uuid.uuid4().hex[:8]}}}
http: {{host: 127.0.0.1, port: {port}}}
live: {{answer_timeout_s: 8}}
""",
        encoding="utf-8",
    )
    db_path.parent.mkdir(parents=True, exist_ok=True)
    url = f"sqlite:///{db_path}"
    register_cameras_at(url, {CAM_A: (NODE, "ent-lv-a"), CAM_B: (NODE, "ent-lv-b")})
    engine = db.make_engine(url)
    with db.make_session_factory(engine).begin() as s:
        s.add(Insurer(id="ins-lv", name="测试保险"))
        for cid, name in ((CAM_A, NAME_A), (CAM_B, NAME_B)):
            row = s.get(Camera, cid)
            assert row is not None
            row.name = name
    engine.dispose()
    for name, (role, enterprise) in USERS.items():
        _user(config, name, role, enterprise)

    # the MQTT spy: every live request the broker carries towards the node
    spy: list[str] = []
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"spy-{uuid.uuid4().hex[:6]}")

    def heard(_c: Any, _u: Any, m: mqtt.MQTTMessage) -> None:
        body = json.loads(m.payload)
        spy.append(f"{body['action']}:{body['camera']}")

    client.on_message = heard
    client.connect(mosquitto.host, mosquitto.port)
    client.subscribe(LIVE_REQUESTS, qos=1)
    client.loop_start()

    cams = rtsp_server({"cam1": CLIP})
    metrics_port = free_port()
    edge = edge_process(
        tmp_workdir, _edge_config(tmp_workdir, mosquitto.port, metrics_port, cams.url("cam1"))
    )
    center = ManagedProcess(
        [BIN, "serve", "--config", config],
        name="center",
        log_dir=tmp_workdir,
        ready_url=f"http://127.0.0.1:{port}/api/health",
        ready_line=r"live signaling connected",
        ready_stream="stderr",
    )
    try:
        with center, edge:
            yield Stack(
                f"http://127.0.0.1:{port}", f"http://127.0.0.1:{metrics_port}/metrics", cams, edge, spy
            )
    finally:
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


def login(browser: Browser, url: str, user: str, path: str) -> Page:
    context = browser.new_context(viewport={"width": 1440, "height": 900}, locale="zh-CN")
    page = context.new_page()
    page.goto(f"{url}/login?next={path}")
    page.fill("#username", user)
    page.fill("#password", PASSWORD)
    page.click("#submit")
    return page


def token(url: str, user: str) -> dict[str, str]:
    resp = httpx.post(f"{url}/api/auth/login", json={"username": user, "password": PASSWORD})
    assert resp.status_code == 200, resp.text
    return {"Authorization": f"Bearer {resp.json()['token']}"}


def metric(url: str, name: str) -> float:
    text = httpx.get(url, timeout=20).text
    found = re.search(rf"^{name}(?:{{[^}}]*}})? ([0-9.e+-]+)$", text, re.M)
    assert found, f"{name} not in the node's /metrics"
    return float(found.group(1))


def wait_until(check: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.25)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def cameras_live(url: str, auth: dict[str, str]) -> dict[str, Any]:
    return {c["id"]: c for c in httpx.get(f"{url}/api/live/cameras", headers=auth).json()["items"]}


STATS = """async (i) => {
  const t = window.PGWall.tiles[i];
  if (!t || !t.pc) return null;
  const stats = await t.pc.getStats();
  let out = null;
  stats.forEach((r) => { if (r.type === "inbound-rtp" && r.kind === "video") out = r; });
  if (!out) return null;
  const codec = out.codecId ? stats.get(out.codecId) : null;
  const mime = codec ? codec.mimeType : "";
  return { framesDecoded: out.framesDecoded || 0, width: out.frameWidth || 0, codec: mime };
}"""


def test_operator_watches_live_with_boxes_passthrough_and_camera_outage(
    stack: Stack, browser: Browser
) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    op = token(stack.url, "op")
    wait_until(lambda: cameras_live(stack.url, op)[CAM_A]["live"], 90, "the camera online at the center")
    page = login(browser, stack.url, "op", f"/wall?camera={CAM_A}")
    expect(page).to_have_url(re.compile(r"/wall\?camera="))
    expect(page.locator("nav.nav a[data-page=wall]")).to_have_count(1)
    tile = page.locator(".tile").first
    expect(tile).to_have_attribute("data-state", "live", timeout=30_000)
    expect(tile.locator(".tile-head .name")).to_have_text(NAME_A)  # the name, not the id
    expect(tile).to_have_attribute("data-mode", "passthrough")
    expect(tile.locator(".tile-head .mode")).to_contain_text("原码直通")
    stats = wait_until(
        lambda: (s := page.evaluate(STATS, 0)) and s["framesDecoded"] > 5 and s, 20, "frames decoded"
    )
    assert stats["codec"] == "video/H264", stats
    assert stats["width"] == 768, stats  # the camera's own picture size: nothing scaled on the node
    first_ms = float(tile.get_attribute("data-first-frame-ms") or "nan")
    assert 0 < first_ms < 15_000, first_ms

    # pass-through, from the node's own figures: packets passed, no frame ever encoded
    assert metric(stack.metrics, "parkguard_edge_live_packets_passed_total") > 5
    assert metric(stack.metrics, "parkguard_edge_live_frames_encoded_total") == 0
    assert metric(stack.metrics, 'parkguard_edge_live_sessions{mode="passthrough"}') == 1

    # the heartbeat carries the session count to the center
    def heartbeat_live() -> dict[str, Any]:
        nodes = httpx.get(f"{stack.url}/api/nodes", headers=op).json()
        node = next(x for x in nodes if x["node"] == NODE)
        return dict((node.get("heartbeat") or {}).get("live") or {})

    wait_until(lambda: heartbeat_live().get("sessions") == 1, 10, "the live session in the heartbeat")

    # the node's detections drawn over the picture (people walk on this footage)
    overlay = (
        "() => { const t = window.PGWall.tiles[0]; return {first: t.firstTs, rtp0: t.rtp0, "
        "frameTs: t.node.dataset.frameTs, dets: t.dets.map((d) => [d.ts_ms, d.objs.length]).slice(-5)}; }"
    )
    try:
        wait_until(lambda: int(tile.get_attribute("data-boxes-drawn") or 0) > 0, 30, "boxes on the overlay")
    except AssertionError as exc:
        raise AssertionError(f"{exc}: {page.evaluate(overlay)}") from None
    page.screenshot(path=str(ARTIFACTS / "wall-live.png"), full_page=True)
    assert stack.spy == [f"offer:{CAM_A}"]

    # the camera goes away mid-session: the tile says so within seconds
    stack.rtsp.stop()
    t0 = time.monotonic()
    expect(tile).to_have_attribute("data-state", re.compile("offline|stalled"), timeout=10_000)
    expect(tile.locator(".tile-msg")).to_contain_text(re.compile("离线|中断"))
    said_s = time.monotonic() - t0
    page.screenshot(path=str(ARTIFACTS / "wall-camera-offline.png"), full_page=True)
    assert said_s < 10

    # and the picture comes back when the camera does
    stack.rtsp.start()
    decoded = page.evaluate(STATS, 0)
    before = decoded["framesDecoded"] if decoded else 0
    expect(tile).to_have_attribute("data-state", "live", timeout=45_000)
    wait_until(
        lambda: (s := page.evaluate(STATS, 0)) and s["framesDecoded"] > before + 5, 30, "frames decoded again"
    )
    assert metric(stack.metrics, "parkguard_edge_live_frames_encoded_total") == 0
    page.screenshot(path=str(ARTIFACTS / "wall-camera-back.png"), full_page=True)

    # closing the page ends the session on the node
    page.context.close()
    wait_until(
        lambda: metric(stack.metrics, 'parkguard_edge_live_sessions{mode="passthrough"}') == 0,
        30,
        "the session closed on the node after the page closed",
    )


def test_scope_and_bad_offers_are_refused_at_the_center(stack: Stack, browser: Browser) -> None:
    officer = token(stack.url, "ent-a-officer")
    wait_until(lambda: cameras_live(stack.url, officer).get(CAM_A, {}).get("live"), 90, "the camera online")
    assert set(cameras_live(stack.url, officer)) == {CAM_A}  # only its own enterprise's cameras
    page = login(browser, stack.url, "ent-a-officer", "/wall")
    expect(page.locator("#cams li")).to_have_count(1)
    expect(page.locator("#cams li").first).to_contain_text(NAME_A)
    page.screenshot(path=str(ARTIFACTS / "wall-enterprise-officer.png"), full_page=True)

    sdp = page.evaluate(
        """async () => { const pc = new RTCPeerConnection();
        pc.addTransceiver("video", {direction: "recvonly"});
        pc.createDataChannel("overlay"); await pc.setLocalDescription(await pc.createOffer());
        const sdp = pc.localDescription.sdp; pc.close(); return sdp; }"""
    )
    offer = f"{stack.url}/api/live/offer"
    # another enterprise's camera: 404 (not even confirmed to exist), nothing reaches the node
    resp = httpx.post(offer, headers=officer, json={"camera_id": CAM_B, "sdp": sdp})
    assert resp.status_code == 404, resp.text
    # bad offers: a clear 422 with the reason, nothing published
    for body, reason in [
        ({"camera_id": CAM_A, "sdp": "hello there, not sdp"}, "v=0"),
        ({"camera_id": CAM_A, "sdp": "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\n"}, "m=video"),
        ({"camera_id": CAM_A, "sdp": "v=0\r\n" + "a=x\r\n" * 6000}, "sdp"),
        ({"camera_id": "no such id!", "sdp": sdp}, "camera_id"),
    ]:
        resp = httpx.post(offer, headers=officer, json=body)
        assert resp.status_code == 422, (body, resp.text)
        assert reason in resp.text, resp.text
    resp = httpx.post(offer, headers=officer, json={"camera_id": "cam-nobody", "sdp": sdp})
    assert resp.status_code == 404, resp.text
    time.sleep(1.0)
    assert stack.spy == [], stack.spy

    # its own camera opens (the node answers through the center)
    resp = httpx.post(offer, headers=officer, json={"camera_id": CAM_A, "sdp": sdp}, timeout=15)
    assert resp.status_code == 200, resp.text
    answer = resp.json()
    assert answer["mode"] == "passthrough" and answer["sdp"].startswith("v=0"), answer
    assert answer["camera_name"] == NAME_A
    wait_until(lambda: stack.spy == [f"offer:{CAM_A}"], 5, "the officer's own offer on the node's topic")
    # the session was never connected (this browser closed its side): the node drops it
    httpx.post(
        f"{stack.url}/api/live/close",
        headers=officer,
        json={"camera_id": CAM_A, "session_id": answer["session_id"]},
    )

    # an insurer: no wall in its navigation, sent to its own page, no video API
    insurer = token(stack.url, "ins")
    assert httpx.get(f"{stack.url}/api/live/cameras", headers=insurer).status_code == 403
    assert httpx.post(offer, headers=insurer, json={"camera_id": CAM_A, "sdp": sdp}).status_code == 403
    ins_page = login(browser, stack.url, "ins", "/wall")
    expect(ins_page).not_to_have_url(re.compile(r"/wall"))
    expect(ins_page.locator("nav.nav a[data-page=portfolio]")).to_have_count(1)
    expect(ins_page.locator("nav.nav a[data-page=wall]")).to_have_count(0)
    assert stack.spy == [f"offer:{CAM_A}", f"close:{CAM_A}"]
