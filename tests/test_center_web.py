"""The operator page in Chromium: alerts published over MQTT appear live, in Chinese."""

from __future__ import annotations

import json
import os
import subprocess
import sys
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

from protocol import Topic, new_event_id, now_ms
from tests.support.ports import free_port
from tests.support.procs import ManagedProcess

pytestmark = [pytest.mark.browser, pytest.mark.e2e]

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


def test_risk_map_and_safety_code_pages(center: Center, tmp_workdir: Path, page: Page) -> None:
    seeded = subprocess.run(
        [BIN, "seed", "--config", tmp_workdir / "center.yaml"], capture_output=True, text=True, timeout=120
    )
    assert seeded.returncode == 0, seeded.stderr
    log_in(page, center.url)
    page.click("text=企业风险")
    expect(page).to_have_url(f"{center.url}/risk")
    rows = page.locator("#enterprise-rows tr")
    expect(rows).to_have_count(8)
    expect(page.locator('#enterprise-rows tr[data-enterprise-id="yj-metal"] .level')).to_have_text("红")
    levels = {rows.nth(i).get_attribute("data-level") for i in range(8)}
    assert len(levels) >= 3, levels
    expect(page.locator("#map circle")).to_have_count(8)
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
