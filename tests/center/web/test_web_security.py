"""The console in Chromium against ``parkguard-center serve`` (issue 12): login.js never leaves
the site after login (item 7); a page of another origin can neither open the live feed nor
send the console's state-changing requests with the session cookie (item 8)."""

from __future__ import annotations

from urllib.parse import quote

import pytest
from playwright.sync_api import Page, expect

from tests.center.auth.test_login_security import OFFSITE_NEXT, SITE_NEXT
from tests.center.web import test_web as web
from tests.center.web.test_web import OPERATOR, PASSWORD, Center

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
    page.context.clear_cookies()
    log_in(page, center.url, "/nodes")
    expect(page).to_have_url(f"{center.url}/nodes")
