"""Each role in Chromium: after login ``/`` takes it to its own page, and every page of its
navigation opens without one answer >= 400 or a console error, showing its content."""

from __future__ import annotations

import subprocess
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, Response, expect

from protocol import NodeState
from tests.center.web import test_web as web
from tests.center.web.test_web import BIN, Center, node_status

# the fixtures of the console's browser tests: the center with its broker, Chromium, an MQTT client
center, browser, publisher = web.center, web.browser, web.publisher

pytestmark = [pytest.mark.browser, pytest.mark.e2e]

SHOTS = Path("/tmp/parkguard-roles")

# the seeded demo users (password <name>-demo): where each lands, the pages of its navigation
ROLES = {
    "admin": ("/", ["/alerts", "/risk", "/nodes"]),
    "operator": ("/", ["/alerts", "/risk", "/nodes"]),
    "gov": ("/risk", ["/alerts", "/risk", "/nodes"]),
    "yjmetal": ("/e/yj-metal", ["/alerts", "/risk", "/e/yj-metal"]),
    "picc": ("/risk", ["/risk"]),
}
CONTENT = {  # what shows the page is not blank
    "/": "#alert-rows tr",
    "/alerts": "#alert-rows tr",
    "/risk": "#enterprise-rows tr",
    "/nodes": "section.node",
    "/e/yj-metal": "#details dt",
}


class Watch:
    """Every answer >= 400 and every console error of a page, as they come."""

    def __init__(self, page: Page) -> None:
        self.bad: list[str] = []
        page.on("response", self._response)
        page.on("console", self._console)
        page.on("pageerror", lambda err: self.bad.append(f"page error: {err}"))

    def _response(self, resp: Response) -> None:
        if resp.status >= 400:
            self.bad.append(f"{resp.status} {resp.request.method} {resp.url}")

    def _console(self, msg: ConsoleMessage) -> None:
        if msg.type == "error":
            self.bad.append(f"console error: {msg.text} at {msg.location.get('url', '')}")


@pytest.fixture
def seeded_center(center: Center, tmp_workdir: Path, publisher: mqtt.Client) -> Center:
    done = subprocess.run(
        [BIN, "seed", "--config", tmp_workdir / "center.yaml"], capture_output=True, text=True, timeout=180
    )
    assert done.returncode == 0, done.stderr
    node_status(publisher, "edge-01", NodeState.ONLINE, cameras=["cam-yard-01"])
    return center


def test_each_role_lands_on_its_page_and_opens_its_navigation(
    seeded_center: Center, browser: Browser
) -> None:
    for user in ROLES:
        visit_as(seeded_center.url, browser, user)


def visit_as(url: str, browser: Browser, user: str) -> None:
    landing, pages = ROLES[user]
    context = browser.new_context(viewport={"width": 1440, "height": 900}, locale="zh-CN")
    page = context.new_page()
    watch = Watch(page)
    page.goto(f"{url}/")
    expect(page).to_have_url(f"{url}/login?next=/")
    page.fill("#username", user)
    page.fill("#password", f"{user}-demo")
    page.click("#submit")
    expect(page).to_have_url(f"{url}{landing}")
    expect(page.locator(CONTENT[landing]).first).to_be_visible()
    expect(page.locator("#user")).to_contain_text("退出")
    nav = page.locator("nav.nav a")
    expect(nav).to_have_count(len(pages))
    assert [a.get_attribute("href") for a in nav.all()] == pages
    SHOTS.mkdir(exist_ok=True)
    page.screenshot(path=SHOTS / f"{user}-landing.png", full_page=False)
    for path in pages:
        page.goto(f"{url}{path}")
        expect(page).to_have_url(f"{url}{path}")
        expect(page.locator(CONTENT[path]).first).to_be_visible()
        expect(page.locator("nav.nav a.active")).to_have_attribute("href", path)
        page.wait_for_load_state("networkidle")
    for path in {"/alerts", "/risk", "/nodes"} - set(pages):  # asked for directly: sent home, no 403
        page.goto(f"{url}{path}")
        expect(page).to_have_url(f"{url}{landing}")
        expect(page.locator(CONTENT[landing]).first).to_be_visible()
    page.wait_for_load_state("networkidle")
    assert watch.bad == [], (user, watch.bad)
    context.close()
