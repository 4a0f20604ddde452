"""The 安责险 service loop in Chromium on the seeded demo: the service worker, on a phone, books a
visit and records it with a photo and a hazard found; the enterprise confirms the record and rates
the follow-up on 安责险服务; the insurer archives it; the government's 网格监管 shows the figures and
links each enterprise to its file. Screenshots of each page go to /tmp/parkguard-grid."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect

from tests.center.web import test_roles as roles
from tests.center.web import test_web as web
from tests.center.web.test_roles import _login
from tests.center.web.test_web import Center

center, browser, publisher, seeded_center = web.center, web.browser, web.publisher, roles.seeded_center

pytestmark = [pytest.mark.browser, pytest.mark.e2e]

SHOTS = Path("/tmp/parkguard-grid")
JPEG = Path(__file__).resolve().parents[2] / "data" / "ppe"  # worksite photos


def _photo() -> Path:
    found = sorted(JPEG.rglob("*.jpg"))
    assert found, f"no JPEG under {JPEG}"
    return found[0]


def test_the_service_loop_on_the_pages(seeded_center: Center, browser: Browser) -> None:
    url = seeded_center.url
    SHOTS.mkdir(exist_ok=True)

    # the service worker's phone: a booked task of 毅佳 gets its visit recorded
    ctx, page, watch = _login(browser, url, "svc-liu", phone=True)
    expect(page).to_have_url(f"{url}/tasks")
    card = page.locator("#tasks .task-card", has_text="毅佳").filter(has_text="已预约").first
    expect(card).to_be_visible()
    page.screenshot(path=SHOTS / "tasks-phone.png", full_page=True)
    task_id = card.get_attribute("data-id")
    card.locator("textarea").fill("对熔铸车间开展隐患排查，发现问题1项，已书面告知企业")
    card.locator("input[type=file]").set_input_files(str(_photo()))
    card.locator("button", has_text="发现隐患").click()
    card.locator(".hazard-row input").fill("熔铸车间灭火器压力不足")
    page.screenshot(path=SHOTS / "tasks-phone-record.png", full_page=True)
    card.locator("button[type=submit]", has_text="提交服务记录").click()
    expect(page.locator("#note")).to_contain_text("隐患 1 项已推送企业整改")
    page.locator("#filter button[data-f='done']").click()
    done = page.locator(f"#tasks .task-card[data-id='{task_id}']")
    expect(done).to_contain_text("熔铸车间灭火器压力不足")
    page.screenshot(path=SHOTS / "tasks-phone-done.png", full_page=True)
    assert watch.bad == [], watch.bad
    ctx.close()

    # the enterprise confirms the record and rates the follow-up
    ctx, page, watch = _login(browser, url, "yjmetal")
    page.goto(f"{url}/services#tasks")
    row = page.locator("#list tbody tr", has=page.locator("button", has_text="确认服务记录")).filter(
        has_text="对熔铸车间开展隐患排查"
    )
    row.locator("button", has_text="确认服务记录").click()
    expect(page.locator("#note")).to_have_text("已确认")
    row = page.locator("#list tbody tr", has_text="对熔铸车间开展隐患排查")
    row.locator("select").select_option("4")
    row.locator("button", has_text="回访评价").click()
    expect(page.locator("#note")).to_have_text("已记录回访")
    expect(page.locator("#list tbody tr", has_text="对熔铸车间开展隐患排查")).to_contain_text("4 / 5")
    page.screenshot(path=SHOTS / "services-enterprise-tasks.png", full_page=True)
    page.locator("#tabs button[data-tab='complaints']").click()
    expect(page.locator("#list tbody tr td").first).to_be_visible()
    page.screenshot(path=SHOTS / "services-enterprise-complaints.png", full_page=True)
    assert watch.bad == [], watch.bad
    ctx.close()

    # the insurer: its obligations on top, archives the confirmed record
    ctx, page, watch = _login(browser, url, "picc")
    page.goto(f"{url}/services#tasks")
    expect(page.locator("#obligations .figure").first).to_be_visible()
    row = page.locator("#list tbody tr", has_text="对熔铸车间开展隐患排查")
    row.locator("button", has_text="归档").click()
    expect(page.locator("#note")).to_have_text("已归档")
    page.locator("#tabs button[data-tab='plans']").click()
    page.locator("#list tbody tr button", has_text="查看计划").first.click()
    expect(page.locator("#detail table tr").nth(1)).to_be_visible()
    page.screenshot(path=SHOTS / "services-insurer-plan.png", full_page=True)
    page.locator("#tabs button[data-tab='claims']").click()
    expect(page.locator("#list tbody tr td").first).to_be_visible()
    page.screenshot(path=SHOTS / "services-insurer-claims.png", full_page=True)
    assert "中国平安" not in page.locator("#list").inner_text()  # never another insurer's
    assert watch.bad == [], watch.bad
    ctx.close()

    # the government: the grid view, one click to an enterprise's file
    ctx, page, watch = _login(browser, url, "gov")
    page.goto(f"{url}/grid")
    expect(page.locator("#figures .figure")).to_have_count(7)
    expect(page.locator("#overdue tbody tr td").first).to_be_visible()
    page.wait_for_load_state("networkidle")
    page.screenshot(path=SHOTS / "grid-government.png", full_page=True)
    page.locator("#rows tbody tr a", has_text="毅佳").click()
    expect(page).to_have_url(f"{url}/enterprises/yj-metal")
    assert watch.bad == [], watch.bad
    ctx.close()
