"""The console in Chromium against ``parkguard-center serve`` (issue 12): login.js never leaves
the site after login (item 7); a page of another origin can neither open the live feed nor
send the console's state-changing requests with the session cookie (item 8)."""

from __future__ import annotations

import functools
import json
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import quote

import pytest
from playwright.sync_api import Page, expect

from tests.center.auth.test_login_security import OFFSITE_NEXT, SITE_NEXT
from tests.center.web import test_web as web
from tests.center.web.test_web import OPERATOR, PASSWORD, Center
from tests.support.ports import free_port

center, browser, page = web.center, web.browser, web.page

pytestmark = [pytest.mark.browser, pytest.mark.e2e]


def log_in(page: Page, url: str, next_value: str) -> None:
    page.goto(f"{url}/login?next={quote(next_value, safe='')}")
    page.fill("#username", OPERATOR)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")


def test_login_goes_only_to_paths_of_the_site(center: Center, page: Page) -> None:
    page.goto(f"{center.url}/login")
    assert page.evaluate("(values) => values.map((v) => safeNext(v))", OFFSITE_NEXT) == [None] * len(
        OFFSITE_NEXT
    )
    assert page.evaluate("(values) => values.map((v) => safeNext(v))", SITE_NEXT) == SITE_NEXT
    log_in(page, center.url, "/%5Cevil.example/x")
    expect(page).to_have_url(f"{center.url}/")  # the operator's landing page, on this site
    # leave the console first: once the cookie is gone its requests answer 401 and it goes to the
    # login page by itself, which would abort the navigation below
    page.goto("about:blank")
    page.context.clear_cookies()
    log_in(page, center.url, "/nodes")
    expect(page).to_have_url(f"{center.url}/nodes")


@contextmanager
def other_origin(folder: Path) -> Iterator[str]:
    """A plain web server on another port of the same host: another origin, the same site (the
    browser sends the center's SameSite=Strict cookie with its requests)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "index.html").write_text("<!doctype html><title>another page</title>", encoding="utf-8")
    handler = functools.partial(SimpleHTTPRequestHandler, directory=str(folder))
    server = ThreadingHTTPServer(("127.0.0.1", free_port()), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


ATTACK = """async (center) => {
  const out = {};
  const ws = new WebSocket(center.replace("http", "ws") + "/ws/alerts");
  out.feed = await new Promise((done) => {
    ws.onmessage = (ev) => done("message: " + ev.data);
    ws.onclose = (ev) => done("closed " + ev.code);
    setTimeout(() => done("timeout"), 5000);
  });
  for (const path of ["/api/risk/snapshot", "/api/auth/logout"]) {
    // what a page can send with the cookie and without a CORS preflight
    await fetch(center + path, { method: "POST", mode: "no-cors", credentials: "include" });
  }
  return out;
}"""


def test_a_page_of_another_origin_cannot_use_the_login(center: Center, page: Page, tmp_workdir: Path) -> None:
    log_in(page, center.url, "/")
    expect(page).to_have_url(f"{center.url}/")
    expect(page.locator("#conn")).to_have_attribute("data-state", "live")  # the console's own feed
    with other_origin(tmp_workdir / "other") as other:
        page.goto(f"{other}/index.html")
        result = page.evaluate(ATTACK, center.url)
    assert not result["feed"].startswith("message"), result  # no hello, no alert
    records = [json.loads(line) for line in center.proc.lines("stderr")]
    assert any("/ws/alerts" in r["msg"] and "403" in r["msg"] for r in records)
    assert page.request.get(f"{center.url}/api/auth/me").status == 200  # the logout was refused
    page.goto(f"{center.url}/")
    expect(page.locator("#conn")).to_have_attribute("data-state", "live")
    page.click("#logout")  # the console's own logout still works (its feed, closed with 4401, may
    expect(page).to_have_url(re.compile(re.escape(center.url) + r"/login(\?next=/)?$"))  # win the race)
    assert page.request.get(f"{center.url}/api/auth/me").status == 401
