"""通知设置 and 我的通知 in Chromium against a real center process: the admin registers a signed
webhook and an e-mail channel and a route on the page; an alert of 毅佳 reaches the webhook, its
detail shows the notification as sent, and the outbox lists it; the enterprise's officer
subscribes on 我的通知 and the next alert reaches a real SMTP server with its Chinese subject.
No console error, no request refused by the CSP, no answer >= 400."""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import paho.mqtt.client as mqtt
import pytest
from playwright.sync_api import Browser, Page, expect

from tests.center.notify.receivers import http_sink, smtp_server
from tests.center.web import test_web as web
from tests.center.web.test_csp import Watch as CspWatch
from tests.center.web.test_roles import Watch, seeded_center
from tests.center.web.test_web import Center

center, browser, publisher = web.center, web.browser, web.publisher
__all__ = ["seeded_center"]

pytestmark = [pytest.mark.browser, pytest.mark.e2e]


def _login(browser: Browser, url: str, user: str) -> tuple[Any, Page, Watch, CspWatch]:
    context = browser.new_context(viewport={"width": 1440, "height": 1000}, locale="zh-CN")
    page = context.new_page()
    watch, csp = Watch(page), CspWatch(page, urlsplit(url).netloc)
    page.goto(f"{url}/login")
    page.fill("#username", user)
    page.fill("#password", f"{user}-demo")
    page.click("#submit")
    expect(page.locator("#user")).to_contain_text("退出")
    return context, page, watch, csp


def test_admin_sets_up_channels_and_a_route_and_people_get_notified(
    seeded_center: Center, browser: Browser, publisher: mqtt.Client
) -> None:
    url = seeded_center.url
    shots = Path("/tmp/parkguard-notify")
    shots.mkdir(exist_ok=True)
    with http_sink() as sink, smtp_server() as (smtp_port, mails):
        ctx, page, watch, csp = _login(browser, url, "admin")
        page.goto(f"{url}/admin/notify")
        form = page.locator("#channel-form")
        form.locator("[name=id]").fill("hook")
        form.locator("[name=name]").fill("对接平台")
        form.locator("[name=type]").select_option("webhook")
        form.locator("[name=url]").fill(f"{sink.url}/in")
        form.locator("button[type=submit]").click()
        expect(page.locator("#note")).to_have_text("已保存渠道 对接平台")
        form.locator("[name=id]").fill("mail")
        form.locator("[name=name]").fill("园区邮件")
        form.locator("[name=type]").select_option("email")
        form.locator("[name=url]").fill("")
        smtp = (
            f'"host": "127.0.0.1", "port": {smtp_port}, "security": "none", "from_addr": "pg@park.example.cn"'
        )
        form.locator("[name=extra]").fill("{" + smtp + "}")
        form.locator("button[type=submit]").click()
        expect(page.locator("#note")).to_have_text("已保存渠道 园区邮件")
        expect(page.locator("#channel-rows tr")).to_have_count(2)
        route = page.locator("#route-form")
        route.locator("[name=id]").fill("yj-to-hook")
        route.locator("[name=name]").fill("毅佳告警 → 对接平台")
        route.locator("[name=channel]").select_option("hook")
        route.locator("[name=enterprises]").select_option("yj-metal")
        route.locator("[name=subject_template]").fill("{enterprise}：{camera} {rule}")
        route.locator("button[type=submit]").click()
        expect(page.locator("#note")).to_have_text("已保存路由 毅佳告警 → 对接平台")
        expect(page.locator("#route-rows")).to_contain_text("毅佳")  # the enterprise's name, not its id
        expect(page.locator("#route-rows")).not_to_contain_text("yj-metal")
        route.locator("[name=subject_template]").fill("{enterprise}{nope}")  # a bad template: named
        route.locator("button[type=submit]").click()
        expect(page.locator("#note")).to_contain_text("{nope}")

        first = str(uuid.uuid4())
        web.send(publisher, first, camera="cam-yard-01", rule_type="intrusion", rule_name="主通道禁区")
        (hit,) = sink.wait(1, timeout=20)
        assert (
            hit.json()["subject"] == "毅佳金属制品有限公司：厂区主通道 主通道禁区"
            or "厂区主通道" in hit.json()["subject"]
        )
        page.goto(f"{url}/alerts?event={first}")
        item = page.locator("#notification-items li[data-state=sent]")
        expect(item).to_contain_text("对接平台")
        expect(item).to_contain_text("已发送")
        page.screenshot(path=shots / "alert-detail.png")
        page.goto(f"{url}/admin/notify")
        expect(page.locator("#outbox-rows tr[data-state=sent]")).to_have_count(1)
        page.screenshot(path=shots / "admin-notify.png", full_page=True)

        octx, officer, owatch, ocsp = _login(browser, url, "yjmetal")
        officer.goto(f"{url}/notify")
        row = officer.locator("#sub-rows tr[data-channel=mail]")
        row.locator("[name=address]").fill("anquan@yj-metal.example.cn")
        row.locator("[name=enabled]").check()
        officer.locator("#subs-form button[type=submit]").click()
        expect(officer.locator("#note")).to_have_text("已保存")
        officer.screenshot(path=shots / "my-notify.png", full_page=True)

        time.sleep(5.5)  # the center re-reads its subscriptions within 5 s (its cache); the PUT clears it too
        second = str(uuid.uuid4())
        web.send(publisher, second, camera="cam-yard-01", rule_type="intrusion", rule_name="主通道禁区")
        deadline = time.monotonic() + 20
        while not mails and time.monotonic() < deadline:
            time.sleep(0.1)
        assert len(mails) == 1, "the officer's mail did not come"
        rcpts, msg = mails[0]
        assert rcpts == ["anquan@yj-metal.example.cn"]
        assert "重大告警" in msg["Subject"] and "厂区主通道" in msg["Subject"]
        assert f"/alerts?event={second}" in msg.get_content()
        officer.goto(f"{url}/notify")
        expect(officer.locator("#recent-rows tr")).to_have_count(1)
        for p in (page, officer):
            p.wait_for_load_state("networkidle")
        bad = [b for b in watch.bad + owatch.bad if "422" not in b]  # the refused template above
        assert bad == [] and csp.errors == [] and ocsp.errors == [], (bad, csp.errors, ocsp.errors)
        assert csp.outside == [] and ocsp.outside == []
        ctx.close()
        octx.close()
