"""The operator's alert list in Chromium with alerts flowing over a real Mosquitto (issue 16, item
4): the filters, the search and the pages show what the API returns; after a dropped WebSocket the
page catches up without a gap or a double; a 重大 alert raises a banner and a sound, muted by
choice (remembered); acknowledge and false alarm from the keyboard. Screenshots of the list are
kept under var/test-artifacts/alerts/."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import paho.mqtt.client as mqtt
import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from protocol import new_event_id, now_ms
from tests.center.web import test_web as web
from tests.center.web.test_web import CHROMIUM, CHROMIUM_ARGS, OPERATOR, PASSWORD, Center, log_in, row, send
from tests.centerkit import wait_for

center, publisher = web.center, web.publisher  # the console's browser-test fixtures

pytestmark = [pytest.mark.browser, pytest.mark.e2e]

ARTIFACTS = Path(__file__).resolve().parents[3] / "var" / "test-artifacts" / "alerts"
RULES = [("intrusion", "major"), ("smoking", "general"), ("man_down", "major"), ("phone_use", "significant")]


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Chromium that may play a sound without a click first (the 重大 alert's tone is checked)."""
    if not Path(CHROMIUM).exists():
        pytest.skip(f"no Chromium at {CHROMIUM}")
    with sync_playwright() as pw:
        b = pw.chromium.launch(
            executable_path=CHROMIUM, args=[*CHROMIUM_ARGS, "--autoplay-policy=no-user-gesture-required"]
        )
        yield b
        b.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1600, "height": 900}, locale="zh-CN")
    p = context.new_page()
    yield p
    context.close()


class Api:
    def __init__(self, url: str) -> None:
        token = httpx.post(f"{url}/api/auth/login", json={"username": OPERATOR, "password": PASSWORD}).json()
        self.url, self.headers = url, {"Authorization": f"Bearer {token['token']}"}

    def get(self, path: str, **params: Any) -> Any:
        resp = httpx.get(f"{self.url}{path}", params=params, headers=self.headers, timeout=10)
        assert resp.status_code == 200, resp.text
        return resp.json()

    def ids(self, **params: Any) -> list[str]:
        return [a["event_id"] for a in self.get("/api/alerts", **params)["items"]]


def shown(page: Page) -> list[str]:
    return page.eval_on_selector_all("#alert-rows tr", "rows => rows.map(r => r.dataset.eventId)")  # type: ignore[no-any-return]


def publish_many(client: mqtt.Client, n: int, t0: int) -> list[str]:
    ids = []
    for i in range(n):
        eid = new_event_id()
        rule, severity = RULES[i % len(RULES)]
        camera = web.CAMERAS[i % len(web.CAMERAS)]
        send(
            client,
            eid,
            camera=camera,
            rule_type=rule,
            severity=severity,
            rule_name=f"巡检规则{i:03d}",
            started_ms=t0 + i * 1000,
            phase="end",
            ended_ms=t0 + i * 1000 + 500,
        )
        ids.append(eid)
    return ids


def test_filters_search_and_pages_show_what_the_api_returns(
    center: Center, publisher: mqtt.Client, page: Page
) -> None:
    t0 = now_ms() - 3_600_000
    publish_many(publisher, 130, t0)
    api = Api(center.url)
    wait_for(lambda: api.get("/api/alerts", limit=1)["total"] == 130, 30, "130 alerts ingested")
    log_in(page, center.url)
    expect(page.locator("#alert-rows tr")).to_have_count(100)
    assert shown(page) == api.ids(limit=100)
    expect(page.locator("#page-info")).to_have_attribute("data-total", "130")
    page.click("#page-next")  # the second page: by cursor, after the last row shown
    expect(page.locator("#page-info")).to_have_attribute("data-page", "2")
    first = api.get("/api/alerts", limit=100)
    assert shown(page) == api.ids(limit=100, cursor=first["next_cursor"]) and len(shown(page)) == 30
    expect(page.locator("#page-next")).to_be_disabled()
    page.click("#page-prev")
    expect(page.locator("#page-info")).to_have_attribute("data-page", "1")

    page.select_option("#f-severity", "major")  # a filter applies at once
    expect(page.locator("#page-info")).to_have_attribute("data-total", "65")
    assert shown(page) == api.ids(severity="major", limit=100)
    page.select_option("#f-camera", "cam-yard")
    expect(page.locator("#page-info")).to_have_attribute(
        "data-total", str(len(api.ids(severity="major", camera="cam-yard", limit=1000)))
    )
    assert shown(page) == api.ids(severity="major", camera="cam-yard", limit=100)
    page.click("#f-reset")
    page.fill("#f-q", "巡检规则01")  # the search runs on the server
    page.press("#f-q", "Enter")
    expect(page.locator("#page-info")).to_have_attribute("data-total", "10")
    assert shown(page) == api.ids(q="巡检规则01", limit=100)
    assert "q=" in page.url  # the filters are in the address: a reload keeps them
    page.reload()
    expect(page.locator("#alert-rows tr")).to_have_count(10)
    page.fill("#f-q", "")
    page.select_option("#f-rule", "man_down")
    since = time.strftime("%Y-%m-%dT%H:%M", time.gmtime((t0 + 8 * 3_600_000 + 60_000) / 1000))  # park time
    page.fill("#f-since", since)
    page.click("#f-apply")
    expected = api.ids(rule_type="man_down", since=f"{since}:00", limit=1000)  # read in the site's time zone
    assert 10 < len(expected) < 32
    expect(page.locator("#page-info")).to_have_attribute("data-total", str(len(expected)))
    assert shown(page) == expected
    page.fill("#f-q", "x" * 64)
    page.press("#f-q", "Enter")
    expect(page.locator("#empty")).to_be_visible()
    page.click("#f-reset")
    expect(page.locator("#alert-rows tr")).to_have_count(100)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "alert-list.png"), full_page=False)


def test_a_dropped_feed_catches_up_without_gap_or_double(
    center: Center, publisher: mqtt.Client, page: Page
) -> None:
    api = Api(center.url)
    before = publish_many(publisher, 5, now_ms() - 60_000)
    log_in(page, center.url)
    expect(page.locator("#alert-rows tr")).to_have_count(5)
    expect(page.locator("#conn")).to_have_text("实时连接")
    page.evaluate("() => window.parkguardDropFeed(5000)")  # the feed drops; back in 5 s
    expect(page.locator("#conn")).to_have_text("已断开")
    missed = [new_event_id() for _ in range(20)]
    for i, eid in enumerate(missed):  # while it is down: 20 new alerts …
        send(
            publisher,
            eid,
            camera="cam-stairs",
            rule_type="smoking",
            severity="general",
            rule_name=f"断线期间{i}",
        )
    send(
        publisher,
        before[0],
        "update",
        1,
        camera=web.CAMERAS[0],
        rule_type="intrusion",
        severity="major",
        rule_name="巡检规则000",
        count=7,
        started_ms=api.get(f"/api/alerts/{before[0]}")["started_ms"],
    )
    httpx.post(f"{center.url}/api/alerts/{before[1]}/acknowledge", headers=api.headers).raise_for_status()
    wait_for(lambda: api.get("/api/alerts", limit=1)["total"] == 25, 10, "the missed alerts ingested")
    assert page.locator("#conn").inner_text() == "已断开"  # all of it happened while the page was deaf
    assert not set(missed) & set(shown(page))
    expect(page.locator("#conn")).to_have_text("实时连接", timeout=10_000)
    expect(page.locator("#conn")).to_have_attribute("data-caught-up", re.compile(r"\d+"))
    expect(page.locator("#alert-rows tr")).to_have_count(25)
    ids = shown(page)
    assert len(ids) == len(set(ids)) == 25 and set(ids) == set(api.ids(limit=100))  # no gap, no double
    assert ids == api.ids(limit=100)  # in the same order as the API's
    expect(row(page, before[0]).locator("td.count")).to_have_text("7")
    expect(row(page, before[1]).locator("td.actions")).to_contain_text("已确认")
    page.evaluate("() => window.parkguardDropFeed(300)")  # again, with nothing missed: nothing doubles
    expect(page.locator("#conn")).to_have_text("实时连接", timeout=10_000)
    page.wait_for_timeout(800)
    assert len(shown(page)) == 25


def test_major_banner_sound_mute_and_keyboard(center: Center, publisher: mqtt.Client, page: Page) -> None:
    log_in(page, center.url)
    expect(page.locator("#conn")).to_have_text("实时连接")
    general = new_event_id()
    send(publisher, general, camera="cam-office", rule_type="phone_use", severity="general", rule_name="")
    expect(row(page, general)).to_be_visible()
    expect(page.locator("#major-banner")).to_be_hidden()  # an 一般 alert raises none
    major = new_event_id()
    send(publisher, major, camera="cam-gate", rule_type="intrusion", severity="major", rule_name="大门禁区")
    banner = page.locator("#major-banner")
    expect(banner).to_be_visible()
    expect(banner).to_contain_text("重大告警")
    expect(banner).to_contain_text("区域闯入")
    expect(banner).to_have_attribute("data-sound", "played")
    expect(row(page, major)).to_have_class(re.compile(r"\bmajor\b"))
    page.wait_for_timeout(400)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "alert-list-major.png"))
    page.click("#major-close")
    expect(banner).to_be_hidden()
    page.click("#mute")  # muted, and remembered after a reload
    expect(page.locator("#mute")).to_have_attribute("data-muted", "1")
    page.reload()
    expect(page.locator("#mute")).to_have_attribute("data-muted", "1")
    expect(page.locator("#conn")).to_have_text("实时连接")
    again = new_event_id()
    send(publisher, again, camera="cam-stairs", rule_type="man_down", severity="major", rule_name="")
    expect(banner).to_be_visible()
    expect(banner).to_have_attribute("data-sound", "muted")
    page.click("#major-close")

    # the keyboard: J to the first row (the newest), A acknowledges it; J, F asks the reason: 误报
    page.keyboard.press("j")
    expect(row(page, again)).to_have_class(re.compile(r"\bcursor\b"))
    page.keyboard.press("a")
    expect(row(page, again).locator("td.actions")).to_contain_text("已确认")
    page.once("dialog", lambda d: d.accept("误检：人员蹲下作业"))
    page.keyboard.press("j")
    page.keyboard.press("f")
    expect(row(page, major).locator("td.actions")).to_have_text("误报")
    api = Api(center.url)
    assert api.get(f"/api/alerts/{again}")["status"] == "acknowledged"
    got = api.get(f"/api/alerts/{major}")
    assert (got["status"], got["dismiss_reason"]) == ("dismissed", "误检：人员蹲下作业")
    expect(page.locator("#shortcuts")).to_contain_text("确认所选告警")  # the keys are on the page
    # the detail says why there is no snapshot or clip, and links to the camera's live picture
    row(page, general).locator("td.time").click()
    expect(page.locator("#detail-facts dd.evidence-snapshot")).to_contain_text("节点未发送抓拍")
    expect(page.locator("#detail-facts dd.camera a.live-link")).to_have_attribute(
        "href", "/wall?camera=cam-office"
    )
