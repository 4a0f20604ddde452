"""The console and the API's documentation in Chromium under the center's Content-Security-Policy
(issue 12, item 12; issue 16, item 5): every page works with it, nothing is refused by it, no
request leaves the center (no CDN, no web font: every page of every role, Swagger UI and ReDoc,
the favicon from the center), and the policy is really enforced (an injected inline script is
refused)."""

from __future__ import annotations

import subprocess
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, Request, expect

from center.api.headers import CSP
from tests.center.web import test_web as web
from tests.center.web.test_web import BIN, OPERATOR, PASSWORD, Center

center, browser = web.center, web.browser  # the console's browser-test fixtures

pytestmark = [pytest.mark.browser, pytest.mark.e2e]

PAGES = {  # what shows each page works
    "/": "#alert-rows",
    "/overview": "#attention-rows tr",
    "/risk": "#enterprise-rows tr",
    "/nodes": "#nodes",
    "/e/yj-metal": "#code img",
    "/hazards": "#board .hz-card",
    "/enterprises": "#enterprise-rows tr",
    "/enterprises/yj-metal": "#term-rows tr",
    "/notify": "#sub-rows tr",
}
ADMIN_PAGES = {  # the admin's own pages (demo account admin / admin-demo)
    "/admin/users": "#user-rows tr",
    "/admin/audit": "#audit-rows tr",
    "/admin/notify": "#channel-rows tr",
    "/admin/plan": "#map g.ent",
    "/risk": "#map image.plan-image",
}


class Watch:
    """Console errors, CSP refusals and requests to any other host, as they come."""

    def __init__(self, page: Page, host: str) -> None:
        self.host = host
        self.errors: list[str] = []
        self.outside: list[str] = []
        self.urls: list[str] = []
        page.on("console", self._console)
        page.on("pageerror", lambda err: self.errors.append(f"page error: {err}"))
        page.on("request", self._request)

    def _console(self, msg: ConsoleMessage) -> None:
        if msg.type == "error" and ("Content Security Policy" in msg.text or "Refused" in msg.text):
            self.errors.append(msg.text)

    @property
    def requested(self) -> int:
        return len(self.urls)

    def _request(self, request: Request) -> None:
        self.urls.append(request.url)
        url = urlsplit(request.url)
        if url.scheme not in ("data", "blob") and url.netloc != self.host:
            self.outside.append(request.url)


def test_pages_and_api_docs_work_under_the_csp(center: Center, tmp_workdir: Path, browser: Browser) -> None:
    seeded = subprocess.run(
        [BIN, "seed", "--config", tmp_workdir / "center.yaml"], capture_output=True, text=True, timeout=180
    )
    assert seeded.returncode == 0, seeded.stderr
    context = browser.new_context(viewport={"width": 1440, "height": 900}, locale="zh-CN")
    page = context.new_page()
    watch = Watch(page, urlsplit(center.url).netloc)
    first = page.goto(f"{center.url}/login")
    assert first is not None and first.headers["content-security-policy"] == CSP
    page.fill("#username", OPERATOR)
    page.fill("#password", PASSWORD)
    page.click("#submit")
    expect(page).to_have_url(f"{center.url}/")
    expect(page.locator("#conn")).to_have_text("实时连接")  # the WebSocket (connect-src ws:)
    for path, content in PAGES.items():
        page.goto(f"{center.url}{path}")
        expect(page.locator(content).first).to_be_attached()
        page.wait_for_load_state("networkidle")
    page.goto(f"{center.url}/api/docs")  # Swagger UI, from the center's own files
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("ParkGuard center")
    expect(page.locator(".opblock-tag-section").first).to_be_visible()
    page.wait_for_load_state("networkidle")
    page.screenshot(path="/tmp/center-api-docs.png")
    page.goto(f"{center.url}/api/redoc")  # ReDoc, from the center's own files too
    expect(page.locator(".api-info h1, h1").first).to_contain_text("ParkGuard center", timeout=30_000)
    page.wait_for_load_state("networkidle")
    page.screenshot(path="/tmp/center-api-redoc.png")
    assert watch.errors == [] and watch.outside == [], (watch.errors, watch.outside)
    assert watch.requested >= 20, watch.requested  # the check saw the pages' requests
    icons = [u for u in watch.urls if u.endswith("/static/favicon.svg")]
    assert icons, "no page asked for the favicon"

    # the admin's pages: the same (no request leaves the center)
    admin = browser.new_context(viewport={"width": 1440, "height": 900}, locale="zh-CN").new_page()
    admin_watch = Watch(admin, urlsplit(center.url).netloc)
    admin.goto(f"{center.url}/login?next=/admin/users")
    admin.fill("#username", "admin")
    admin.fill("#password", "admin-demo")
    admin.click("#submit")
    expect(admin).to_have_url(f"{center.url}/admin/users")
    for path, content in ADMIN_PAGES.items():
        admin.goto(f"{center.url}{path}")
        expect(admin.locator(content).first).to_be_attached()
        admin.wait_for_load_state("networkidle")
    assert admin_watch.errors == [] and admin_watch.outside == [], (admin_watch.errors, admin_watch.outside)
    admin.context.close()

    # the control: an inline script injected into a page is refused (and would be reported above)
    page.goto(f"{center.url}/risk")
    page.evaluate(
        "() => { const s = document.createElement('script'); s.textContent = 'window.pwned = 1';"
        " document.body.append(s); }"
    )
    expect(page.locator("#enterprise-rows tr").first).to_be_attached()
    assert page.evaluate("() => window.pwned") is None
    page.wait_for_timeout(300)
    assert any("Content Security Policy" in e for e in watch.errors), watch.errors
    context.close()
