"""Each role in Chromium: after login ``/`` takes it to its own page, and every page of its
navigation opens without one answer >= 400 or a console error, showing its content."""

from __future__ import annotations

import subprocess
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import paho.mqtt.client as mqtt
import pytest
from playwright.sync_api import Browser, BrowserContext, ConsoleMessage, Page, Request, Response, expect

from protocol import NodeState
from tests.center.api.test_workspaces import png
from tests.center.web import test_web as web
from tests.center.web.test_web import BIN, Center, node_status

# the fixtures of the console's browser tests: the center with its broker, Chromium, an MQTT client
center, browser, publisher = web.center, web.browser, web.publisher

pytestmark = [pytest.mark.browser, pytest.mark.e2e]

SHOTS = Path("/tmp/parkguard-roles")

# the seeded demo users (password <name>-demo): where each lands, the pages of its navigation
ROLES = {
    "admin": (
        "/",
        [
            *("/overview", "/grid", "/portfolio", "/alerts", "/hazards", "/risk", "/enterprises", "/wall"),
            *(
                "/nodes",
                "/services",
                "/admin/users",
                "/admin/audit",
                "/admin/plan",
                "/admin/notify",
                "/notify",
            ),
        ],
    ),
    "operator": (
        "/",
        [
            *("/overview", "/grid", "/alerts", "/hazards", "/risk", "/enterprises", "/wall", "/nodes"),
            *("/services", "/notify"),
        ],
    ),
    "gov": (
        "/overview",
        [
            *("/overview", "/grid", "/portfolio", "/alerts", "/hazards", "/risk", "/enterprises", "/wall"),
            *("/nodes", "/services", "/notify"),
        ],
    ),
    "yjmetal": (
        "/enterprises/yj-metal",
        [
            "/alerts",
            "/hazards",
            "/risk",
            "/enterprises/yj-metal",
            "/wall",
            "/e/yj-metal",
            "/services",
            "/notify",
        ],
    ),
    "picc": ("/portfolio", ["/portfolio", "/risk", "/enterprises", "/services"]),
    "svc-liu": ("/tasks", ["/tasks"]),  # 第三方服务人员
}
CONSOLE = (
    *("/overview", "/grid", "/portfolio", "/alerts", "/hazards", "/risk", "/enterprises", "/wall", "/nodes"),
    *("/services", "/tasks", "/admin/users", "/admin/audit", "/admin/plan", "/admin/notify", "/notify"),
)
CONTENT = {  # what shows the page is not blank
    "/": "#alert-rows tr",
    "/overview": "#attention-rows tr[data-enterprise-id] a",
    "/grid": "#rows tbody tr a",
    "/portfolio": "#portfolio-rows tr[data-enterprise-id] a",
    "/services": "#list tbody tr td",
    "/tasks": "#tasks .task-card",
    "/alerts": "#alert-rows tr",
    "/hazards": "#board .hz-card",
    "/risk": "#enterprise-rows tr",
    "/enterprises": "#enterprise-rows tr a",
    "/enterprises/yj-metal": "#term-rows tr[data-term='events']",
    "/nodes": "section.node",
    "/wall": "#cams li",
    "/e/yj-metal": "#details dt",
    "/admin/users": "#user-rows tr[data-username='yjmetal']",
    "/admin/audit": "#audit-rows tr[data-action]",
    "/admin/plan": "#map g.ent",
    "/admin/notify": "#channel-rows tr",
    "/notify": "#sub-rows tr",
}


class Watch:
    """Every answer >= 400, every request that failed (not one the browser dropped on leaving
    the page) and every console error of a page, as they come."""

    def __init__(self, page: Page) -> None:
        self.bad: list[str] = []
        page.on("response", self._response)
        page.on("console", self._console)
        page.on("pageerror", lambda err: self.bad.append(f"page error: {err}"))
        page.on("requestfailed", self._failed)

    def _failed(self, request: Request) -> None:
        if request.failure != "net::ERR_ABORTED":
            self.bad.append(f"failed: {request.method} {request.url} ({request.failure})")

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
        page.screenshot(
            path=SHOTS / f"{user}-{path.strip('/').replace('/', '_') or 'root'}.png", full_page=True
        )
    if "/enterprises" in pages:  # a file from the list: the insurer's without cameras, alerts, hazards
        page.goto(f"{url}/enterprises")
        page.locator("#enterprise-rows tr[data-enterprise-id='yj-metal'] a").click()
        expect(page).to_have_url(f"{url}/enterprises/yj-metal")
        expect(page.locator("#term-rows tr[data-term='events']")).to_be_visible()
        expect(page.locator("nav.nav a.active")).to_have_attribute("href", "/enterprises")
        for panel in ("#cameras-panel", "#hazards-panel", "#alerts-panel"):
            if user == "picc":
                expect(page.locator(panel)).to_be_hidden()
            else:
                expect(page.locator(f"{panel} tbody tr").first).to_be_visible()
        page.wait_for_load_state("networkidle")
        page.screenshot(path=SHOTS / f"{user}-file-yj-metal.png", full_page=True)
    for path in set(CONSOLE) - set(pages):  # asked for directly: sent home, no 403
        page.goto(f"{url}{path}")
        expect(page).to_have_url(f"{url}{landing}")
        expect(page.locator(CONTENT[landing]).first).to_be_visible()
    page.wait_for_load_state("networkidle")
    assert watch.bad == [], (user, watch.bad)
    context.close()


def _login(browser: Browser, url: str, user: str, phone: bool = False) -> tuple[BrowserContext, Page, Watch]:
    size = {"width": 390, "height": 844} if phone else {"width": 1440, "height": 900}
    context = browser.new_context(viewport=size, locale="zh-CN", is_mobile=phone, has_touch=phone)
    page = context.new_page()
    watch = Watch(page)
    page.goto(f"{url}/login")
    page.fill("#username", user)
    page.fill("#password", f"{user}-demo")
    page.click("#submit")
    expect(page.locator("#user")).to_contain_text("退出")
    return context, page, watch


def _step(page: Page, step: str, status: str, **fields: str) -> None:
    """Fill and send a step's form in the open hazard's detail; the detail then shows ``status``."""
    form = page.locator(f"#detail-actions form[data-step='{step}']")
    for name, value in fields.items():
        form.locator(f"[name='{name}']").fill(value)
    form.locator("button[type=submit]").click()
    expect(page.locator("#detail")).to_have_attribute("data-status", status)


def test_rectification_loop_in_the_browser(seeded_center: Center, browser: Browser) -> None:
    """The operator escalates an alert of 毅佳; the officer, on a phone, starts and submits the
    rectification with a photo (a text file is refused on the page first); the operator sends it
    back with a reason; the officer resubmits; the operator closes it; the audit log shows it all."""
    url = seeded_center.url
    SHOTS.mkdir(exist_ok=True)
    # the operator turns an open alert of 毅佳 into a hazard, on the alerts console
    op_ctx, op, op_watch = _login(browser, url, "operator")
    row = op.locator("#alert-rows tr", has=op.locator("td.enterprise", has_text="毅佳")).filter(
        has=op.locator("button.btn-escalate")
    )
    row = row.first
    event_id = row.get_attribute("data-event-id")
    op.once("dialog", lambda d: d.accept())
    row.locator("button.btn-escalate").click()
    alert = None
    for _ in range(50):
        alert = op.request.get(f"{url}/api/alerts/{event_id}").json()
        if alert.get("hazard_id"):
            break
        op.wait_for_timeout(100)
    assert alert and alert["hazard_id"], alert
    hazard_id = alert["hazard_id"]
    code = op.request.get(f"{url}/api/hazards/{hazard_id}").json()["code"]

    # the officer, phone-sized, from its risk file to the hazard
    ent_ctx, ent, ent_watch = _login(browser, url, "yjmetal", phone=True)
    expect(ent).to_have_url(f"{url}/enterprises/yj-metal")
    ent.locator(f"#hazard-rows a[href='/hazards?id={hazard_id}']").click()
    expect(ent.locator("#detail")).to_have_attribute("data-hazard-id", str(hazard_id))
    expect(ent.locator("#detail-title")).to_contain_text(code)
    assert ent.locator("#detail-actions form[data-step='approve']").count() == 0  # the park reviews
    _step(ent, "start", "in_progress", note="已安排维修班组")
    form = ent.locator("#detail-actions form[data-step='submit']")
    photos = form.locator("input[type=file]")
    assert photos.get_attribute("accept") == "image/*" and photos.get_attribute("capture") == "environment"
    form.locator("[name='rectification']").fill("已清理通道杂物并划设禁止堆放标线")
    photos.set_input_files({"name": "notes.txt", "mimeType": "text/plain", "buffer": b"not a photo"})
    form.locator("button[type=submit]").click()
    expect(ent.locator("#step-error")).to_contain_text("不是 JPEG 或 PNG")
    expect(ent.locator("#detail")).to_have_attribute("data-status", "in_progress")  # nothing happened
    photos.set_input_files({"name": "after.png", "mimeType": "image/png", "buffer": png()})
    form.locator("button[type=submit]").click()
    expect(ent.locator("#detail")).to_have_attribute("data-status", "review")
    expect(ent.locator("#after-items img")).to_have_count(1)
    ent.screenshot(path=SHOTS / "loop-yjmetal-phone-submitted.png", full_page=True)

    # the operator sends it back once, with the reason
    op.goto(f"{url}/hazards?id={hazard_id}")
    expect(op.locator("#detail")).to_have_attribute("data-status", "review")
    op.locator("#detail-actions form[data-step='reject'] button[type=submit]").click()  # no reason: refused
    expect(op.locator("#detail")).to_have_attribute("data-status", "review")
    _step(op, "reject", "in_progress", note="照片未显示通道已清空")
    expect(op.locator("#history li.step-reject")).to_contain_text("照片未显示通道已清空")

    # the officer sees why and resubmits
    ent.goto(f"{url}/hazards?id={hazard_id}")
    expect(ent.locator("#detail-facts")).to_contain_text("照片未显示通道已清空")
    form = ent.locator("#detail-actions form[data-step='submit']")
    form.locator("[name='rectification']").fill("通道已全部清空，补拍全景照片")
    form.locator("input[type=file]").set_input_files(
        {"name": "after-2.png", "mimeType": "image/png", "buffer": png(rgb=(40, 160, 60))}
    )
    form.locator("button[type=submit]").click()
    expect(ent.locator("#detail")).to_have_attribute("data-status", "review")

    # the operator closes it (销号)
    op.goto(f"{url}/hazards?id={hazard_id}")
    _step(op, "approve", "closed", note="现场复核通过")
    expect(op.locator("#history li.step")).to_have_count(6)  # create, start, submit, reject, submit, approve
    expect(op.locator("#board .board-col[data-status='closed']")).to_contain_text(code)
    op.screenshot(path=SHOTS / "loop-operator-closed.png", full_page=True)

    # the audit log shows every step
    adm_ctx, adm, adm_watch = _login(browser, url, "admin")
    adm.goto(f"{url}/admin/audit?target=hazard:{code}")
    rows = adm.locator("#audit-rows tr[data-action]")
    expect(rows).to_have_count(5)
    assert [r.get_attribute("data-action") for r in rows.all()] == [  # newest first
        "approve_hazard",
        "submit_hazard",
        "reject_hazard",
        "submit_hazard",
        "start_hazard",
    ]
    assert [r.locator("td.who small").inner_text() for r in rows.all()] == [
        "operator",
        "yjmetal",
        "operator",
        "yjmetal",
        "yjmetal",
    ]
    adm.fill("#f-target", "")
    adm.select_option("#f-action", "escalate_alert")  # and how it began (a select reloads at once)
    escalated = adm.locator("#audit-rows tr[data-action='escalate_alert']")
    expect(escalated.first).to_be_visible()
    expect(adm.locator("#audit-rows")).to_contain_text(code)
    adm.fill("#f-target", f"hazard:{code}")
    adm.locator("#filters button[type=submit]").click()
    expect(adm.locator("#audit-rows td.empty")).to_be_visible()  # the escalation's object is the alert
    adm.fill("#f-target", f"alert:{event_id}")
    adm.locator("#filters button[type=submit]").click()
    expect(escalated).to_have_count(1)
    adm.goto(f"{url}/admin/audit?target=hazard:{code}")
    expect(rows).to_have_count(5)
    adm.screenshot(path=SHOTS / "loop-admin-audit.png", full_page=True)
    for watch in (op_watch, ent_watch, adm_watch):
        assert watch.bad == [], watch.bad
    for ctx in (op_ctx, ent_ctx, adm_ctx):
        ctx.close()


def test_operator_records_a_hazard_found_on_site_with_photos(seeded_center: Center, browser: Browser) -> None:
    """排查: the form refuses a deadline in the past and a file that is not a photo, on the page
    and before anything is written; then records the hazard with its photo, named, as 现场排查."""
    url = seeded_center.url
    ctx, page, watch = _login(browser, url, "operator")
    page.goto(f"{url}/hazards")
    expect(page.locator("#board .hz-card").first).to_be_visible()
    before = page.request.get(f"{url}/api/hazards?limit=1").json()["total"]
    page.click("#new-hazard")
    page.select_option("#c-enterprise", "yj-metal")
    expect(page.locator("#c-camera option")).not_to_have_count(1)  # its cameras, by name
    page.select_option("#c-camera", "cam-yard-01")
    page.fill("#c-title", "熔铸车间消防通道堆放杂物")
    page.select_option("#c-level", "major")
    page.fill("#c-assignee", "陈国强")
    yesterday = (datetime.now(ZoneInfo("Asia/Shanghai")) - timedelta(days=1)).date().isoformat()
    page.evaluate(
        "(d) => { const i = document.getElementById('c-deadline'); i.min = ''; i.value = d; }", yesterday
    )
    page.locator("#create-form button[type=submit]").click()
    expect(page.locator("#create-error")).to_have_text("整改期限须晚于今天")
    next_week = (datetime.now(ZoneInfo("Asia/Shanghai")) + timedelta(days=7)).date().isoformat()
    page.fill("#c-deadline", next_week)
    page.set_input_files(
        "#c-photos", {"name": "scan.pdf", "mimeType": "application/pdf", "buffer": b"%PDF-1.4"}
    )
    page.locator("#create-form button[type=submit]").click()
    expect(page.locator("#create-error")).to_contain_text("不是 JPEG 或 PNG")
    assert page.request.get(f"{url}/api/hazards?limit=1").json()["total"] == before  # nothing written
    page.set_input_files("#c-photos", {"name": "site.png", "mimeType": "image/png", "buffer": png()})
    page.locator("#create-form button[type=submit]").click()
    expect(page.locator("#detail")).to_have_attribute("data-status", "pending")
    expect(page.locator("#detail-facts")).to_contain_text("现场排查")
    expect(page.locator("#detail-facts")).to_contain_text("佛山市南海毅佳金属制品有限公司")
    expect(page.locator("#detail-facts")).to_contain_text("厂区主通道")
    expect(page.locator("#detail-facts")).to_contain_text("重大隐患")
    expect(page.locator("#before-items img")).to_have_count(1)
    expect(page.locator("#create")).to_be_hidden()
    page.screenshot(path=SHOTS / "operator-recorded-on-site.png", full_page=True)
    page.click("#view-list")
    expect(page.locator("#hazard-rows tr.soon, #hazard-rows tr.overdue").first).to_be_visible()
    page.select_option("#f-source", "inspection")
    expect(page.locator("#hazard-rows tr")).to_have_count(
        page.request.get(f"{url}/api/hazards?source=inspection&limit=1").json()["total"]
    )
    page.screenshot(path=SHOTS / "operator-hazard-list.png", full_page=True)
    assert watch.bad == [], watch.bad
    ctx.close()


def test_admin_manages_users_on_the_page(seeded_center: Center, browser: Browser) -> None:
    """用户管理: a refused account shows the center's reason and is not made; an enterprise
    officer linked to its enterprise is created, logs in, is disabled (its session ends) and
    enabled again, its password reset; the audit log lists each change."""
    url = seeded_center.url
    ctx, page, watch = _login(browser, url, "admin")
    page.goto(f"{url}/admin/users")
    expect(page.locator("#user-rows tr[data-username='yjmetal']")).to_contain_text(
        "佛山市南海毅佳金属制品有限公司"
    )
    page.fill("#u-username", "hx-safety")
    page.fill("#u-display", "恒鑫安全员")
    page.select_option("#u-role", "enterprise")
    expect(page.locator("#u-insurer-box")).to_be_hidden()
    page.select_option("#u-enterprise", "hx-chem")
    page.fill("#u-password", "short")
    page.locator("#create-form button[type=submit]").click()
    expect(page.locator("#create-error")).to_contain_text("输入有误")
    expect(page.locator("#create-error")).to_contain_text("密码太短")  # the center's own words
    page.fill("#u-password", "hx-safety-2024-pass")
    page.locator("#create-form button[type=submit]").click()
    expect(page.locator("#create-error")).to_contain_text("密码不能包含用户名")
    expect(page.locator("#user-rows tr[data-username='hx-safety']")).to_have_count(0)
    page.fill("#u-password", "Qilin-harbor-7-lantern")
    page.locator("#create-form button[type=submit]").click()
    row = page.locator("#user-rows tr[data-username='hx-safety']")
    expect(row).to_contain_text("企业：佛山市南海恒鑫化工有限公司")
    expect(row).to_contain_text("企业安全员")
    page.fill("#u-username", "hx-safety")  # the same name again: refused, the reason shown
    page.select_option("#u-role", "operator")
    page.fill("#u-password", "Copper-violet-92-meadow")
    page.locator("#create-form button[type=submit]").click()
    expect(page.locator("#create-error")).not_to_be_empty()
    expect(page.locator("#user-rows tr[data-username='hx-safety']")).to_have_count(1)

    # the new officer logs in and lands on its own file
    o_ctx = browser.new_context(locale="zh-CN")
    officer = o_ctx.new_page()
    officer.goto(f"{url}/login")
    officer.fill("#username", "hx-safety")
    officer.fill("#password", "Qilin-harbor-7-lantern")
    officer.click("#submit")
    expect(officer).to_have_url(f"{url}/enterprises/hx-chem")

    page.once("dialog", lambda d: d.accept())
    row.locator("button[data-action='disable']").click()
    expect(row).to_contain_text("已停用")
    expect(page.locator("#note")).to_contain_text("hx-safety 已停用")
    row.locator("button[data-action='enable']").click()
    expect(row).to_contain_text("正常")
    row.locator("button[data-action='reset']").click()
    row.locator("input[type=password]").fill("Willow-anchor-58-ember")
    row.locator("form button[type=submit]").click()
    expect(page.locator("#note")).to_contain_text("已重置 hx-safety 的密码")
    expect(
        page.locator("#user-rows tr[data-username='admin'] button[data-action='disable']")
    ).to_be_disabled()
    page.screenshot(path=SHOTS / "admin-users-managed.png", full_page=True)

    page.goto(f"{url}/admin/audit?target=user:hx-safety")
    actions = page.locator("#audit-rows tr[data-action]")
    expect(actions).to_have_count(4)  # created, disabled, enabled, password reset
    assert [a.get_attribute("data-action") for a in actions.all()] == ["update_user"] * 3 + ["create_user"]
    expect(page.locator("#audit-rows")).to_contain_text("password: changed")
    refused = [b for b in watch.bad if not b.startswith("console error: Failed to load resource")]
    assert refused == [f"422 POST {url}/api/users"] * 2 + [f"409 POST {url}/api/users"], (
        watch.bad
    )  # the 3 above
    o_ctx.close()
    ctx.close()
