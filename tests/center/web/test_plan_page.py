"""园区一张图 in Chromium (issue 16, item 3): the seeded demo's drawn plan of 毅佳工业园 as the map's
base, enterprises coloured by level, cameras with their state, open hazards and a live alert
(published over a real Mosquitto) pulsing; clicks go to the risk file and to the camera's live
picture; the admin places an enterprise by clicking and uploads a plan (an unsafe SVG is refused
with the reason). Screenshots under var/test-artifacts/map/."""

from __future__ import annotations

import re
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import paho.mqtt.client as mqtt
import pytest
from playwright.sync_api import Page, Response, expect

from protocol import new_event_id
from tests.center.web import test_web as web
from tests.center.web.test_web import BIN, Center, log_in, send

center, publisher, browser, page = web.center, web.publisher, web.browser, web.page

pytestmark = [pytest.mark.browser, pytest.mark.e2e]

REPO = Path(__file__).resolve().parents[3]
ARTIFACTS = REPO / "var" / "test-artifacts" / "map"


def seed(tmp_workdir: Path) -> None:
    done = subprocess.run(
        [BIN, "seed", "--config", tmp_workdir / "center.yaml"], capture_output=True, text=True, timeout=180
    )
    assert done.returncode == 0, done.stderr


def plan_data(url: str, user: str, password: str) -> Any:
    token = httpx.post(f"{url}/api/auth/login", json={"username": user, "password": password}).json()["token"]
    return httpx.get(f"{url}/api/plan", headers={"Authorization": f"Bearer {token}"}).json()


def test_the_park_on_its_plan(center: Center, tmp_workdir: Path, publisher: mqtt.Client, page: Page) -> None:
    seed(tmp_workdir)
    live = new_event_id()
    send(publisher, live, camera="cam-yj-melt", rule_type="intrusion", severity="major", rule_name="炉前禁区")
    images: list[Response] = []
    page.on("response", lambda r: images.append(r) if "/api/plan/image" in r.url else None)
    log_in(page, center.url)
    page.goto(f"{center.url}/risk")
    plan = page.locator("#map image.plan-image")
    expect(plan).to_be_attached()
    expect(page.locator("#map")).to_have_attribute("data-loaded", re.compile(r"\d+"))
    data = plan_data(center.url, web.OPERATOR, web.PASSWORD)
    assert data["plan"]["width"] == 1200 and data["plan"]["uploaded_by"] == "seed"
    placed = [e for e in data["enterprises"] if e["map_x"] is not None]
    assert len(placed) == 8
    expect(page.locator("#map g.ent")).to_have_count(len(placed))
    for e in placed:  # each in its level's colour
        expect(page.locator(f'#map g.ent[data-enterprise-id="{e["enterprise_id"]}"]')).to_have_attribute(
            "data-level", e["level"]
        )
    expect(page.locator('#map g.ent[data-enterprise-id="yj-metal"]')).to_have_attribute("data-level", "red")
    hazards = [e for e in placed if e["open_hazards"]]
    assert hazards
    expect(page.locator("#map g.ent circle.pulse")).to_have_count(len(hazards))
    cams = [c for c in data["cameras"] if c["map_x"] is not None]
    expect(page.locator("#map g.cam")).to_have_count(len(cams))
    melt = page.locator('#map g.cam[data-camera="cam-yj-melt"]')
    expect(melt).to_have_attribute("data-live-alerts", "1")  # the alert just published pulses
    expect(melt.locator("circle.pulse.major")).to_have_count(1)
    expect(melt).to_have_attribute("data-state", "unknown")  # its node never reported
    page.wait_for_load_state("networkidle")
    ok = [r for r in images if r.status == 200]
    assert ok and ok[0].headers["content-type"].startswith("image/svg+xml")
    assert "default-src 'none'" in ok[0].headers["content-security-policy"]
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.locator("#map").screenshot(path=str(ARTIFACTS / "park-plan.png"))
    page.screenshot(path=str(ARTIFACTS / "risk-page.png"), full_page=True)
    # the alert list of the seeded park: names where people think in names
    page.goto(f"{center.url}/")
    melt_row = page.locator(f'tr[data-event-id="{live}"]')
    expect(melt_row.locator("td.camera")).to_contain_text("熔铸车间炉前")
    expect(melt_row.locator("td.enterprise")).to_contain_text("毅佳金属")
    expect(melt_row.locator("td.node")).not_to_contain_text("–")
    (ARTIFACTS.parent / "alerts").mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS.parent / "alerts" / "alert-list-seeded.png"))
    page.goto(f"{center.url}/risk")
    melt = page.locator('#map g.cam[data-camera="cam-yj-melt"]')
    # a camera opens its live picture; an enterprise its risk file
    melt.locator("rect.cam-body").click()  # (the group itself pulses: never "stable")
    expect(page).to_have_url(f"{center.url}/wall?camera=cam-yj-melt")
    page.goto(f"{center.url}/risk")
    page.locator('#map g.ent[data-enterprise-id="hx-chem"] circle.ent-dot').click()
    expect(page).to_have_url(f"{center.url}/enterprises/hx-chem")
    # the alert ends: the next refresh stops its pulse
    send(
        publisher,
        live,
        "end",
        1,
        camera="cam-yj-melt",
        rule_type="intrusion",
        severity="major",
        rule_name="炉前禁区",
        ended_ms=time.time_ns() // 1_000_000,
    )
    page.goto(f"{center.url}/risk")
    expect(page.locator('#map g.cam[data-camera="cam-yj-melt"]')).to_have_attribute("data-live-alerts", "0")


SCRIPTED = b"""<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 100 80"><script>alert(1)</script></svg>"""


def test_the_admin_places_and_uploads(center: Center, tmp_workdir: Path, page: Page) -> None:
    seed(tmp_workdir)
    page.goto(f"{center.url}/login?next=/admin/plan")
    page.fill("#username", "admin")
    page.fill("#password", "admin-demo")
    page.click("#submit")
    expect(page).to_have_url(f"{center.url}/admin/plan")
    expect(page.locator("#map g.ent")).to_have_count(8)
    page.locator('#pick-enterprises li[data-id="hf-trade"]').click()
    expect(page.locator("#chosen")).to_contain_text("和丰")
    box = page.locator("#map").bounding_box()
    assert box is not None
    # the plan fills the SVG's width (4:3 in a wider box: centred); click at 25 % / 50 % of the plan
    scale = min(box["width"] / 1200, box["height"] / 900)
    left = box["x"] + (box["width"] - 1200 * scale) / 2
    top = box["y"] + (box["height"] - 900 * scale) / 2
    page.mouse.click(left + 0.25 * 1200 * scale, top + 0.5 * 900 * scale)
    expect(page.locator("#note")).to_contain_text("已放置")
    hf = next(
        e
        for e in plan_data(center.url, "admin", "admin-demo")["enterprises"]
        if e["enterprise_id"] == "hf-trade"
    )
    assert abs(hf["map_x"] - 0.25) < 0.01 and abs(hf["map_y"] - 0.5) < 0.01, hf
    bad = tmp_workdir / "scripted.svg"
    bad.write_bytes(SCRIPTED)
    page.set_input_files("#plan-file", str(bad))
    page.click("#plan-upload")
    expect(page.locator("#note")).to_contain_text("<script> is not allowed")
    before = page.locator("#map").get_attribute("data-plan")
    page.set_input_files("#plan-file", str(REPO / "tests" / "data" / "basketball1.png"))
    page.click("#plan-upload")
    expect(page.locator("#note")).to_contain_text("底图已更新")
    expect(page.locator("#map")).not_to_have_attribute("data-plan", before or "")
    expect(page.locator("#map image.plan-image")).to_have_attribute(
        "href", re.compile(r"/api/plan/image\?v=")
    )
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "plan-admin.png"))
