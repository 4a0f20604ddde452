"""全安码 2.0 on a phone (Chromium, 390×844): anonymous sees only the name, the colour and the
last update; the officer logs in from the card and comes back to it, submits a rectification
with a photo for an open hazard and files a 服务需求; the operator answers it on the risk file;
the officer sees the answer; the government reads; the insurer answers and sees no photos."""

from __future__ import annotations

from playwright.sync_api import Browser, expect

from tests.center.api.test_workspaces import png
from tests.center.web import test_web as web
from tests.center.web.test_roles import SHOTS, Watch, _login, seeded_center
from tests.center.web.test_web import Center

center, browser, publisher = web.center, web.browser, web.publisher
__all__ = ["seeded_center"]  # the fixture, used by name

PHONE = {"width": 390, "height": 844}
CSRF = {"X-Requested-With": "parkguard"}


def test_the_card_on_a_phone_for_each_role(seeded_center: Center, browser: Browser) -> None:
    url = seeded_center.url
    SHOTS.mkdir(exist_ok=True)
    card = f"{url}/e/yj-metal"

    # the park records a hazard of 毅佳 to rectify, with a photo of it
    op_ctx, op, op_watch = _login(browser, url, "operator")
    before = op.request.post(
        f"{url}/api/evidence", data=png(rgb=(120, 90, 30)), headers={**CSRF, "Content-Type": "image/png"}
    )
    assert before.status == 201, before.text()
    made = op.request.post(
        f"{url}/api/hazards",
        data={
            "enterprise_id": "yj-metal",
            "title": "手机端整改测试：配电箱前堆放杂物",
            "before_evidence": [before.json()["sha256"]],
        },
        headers=CSRF,
    )
    assert made.status == 201, made.text()
    hazard = made.json()

    # anonymous, on a phone: the name, the colour, the last update; nothing else
    ctx = browser.new_context(viewport=PHONE, locale="zh-CN", is_mobile=True, has_touch=True)
    ent = ctx.new_page()
    ent_watch = Watch(ent)
    ent.goto(card)
    expect(ent.locator("#name")).to_contain_text("毅佳")
    expect(ent.locator("#level-text")).to_contain_text("风险等级")
    expect(ent.locator("#updated")).to_contain_text("信息更新于")
    assert ent.locator("#code").evaluate("e => getComputedStyle(e).backgroundColor") not in (
        "",
        "rgba(0, 0, 0, 0)",
    )
    expect(ent.locator("#details")).to_be_hidden()
    expect(ent.locator("#top")).to_be_hidden()
    assert ent.locator(".card-section").count() == 0 and ent.locator("#code img").count() == 0
    expect(ent.locator("#poster-link")).to_have_attribute("href", "/api/enterprises/yj-metal/poster.png")
    assert ent.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]  # no sideways scrolling
    ent.screenshot(path=SHOTS / "card-anonymous-phone.png", full_page=True)

    # the officer logs in from the card and comes back to it
    ent.locator("#login-link").click()
    expect(ent).to_have_url(f"{url}/login?next=%2Fe%2Fyj-metal")
    ent.fill("#username", "yjmetal")
    ent.fill("#password", "yjmetal-demo")
    ent.click("#submit")
    expect(ent).to_have_url(card)
    expect(ent.locator("#user")).to_contain_text("退出")
    expect(ent.locator("#details dt").first).to_be_visible()
    expect(ent.locator("#login-link")).to_be_hidden()

    # its open hazard: start, then submit with a photo from the camera (a text file refused first)
    item = ent.locator(f"#hazards .item[data-code='{hazard['code']}']")
    expect(item).to_contain_text("待整改")
    expect(item.locator(".photos.before img")).to_have_count(1)  # the photo before, loaded
    expect(item.locator(".photos.before figcaption")).to_have_text("整改前 1")
    assert item.locator(".photos.before img").evaluate("i => i.complete && i.naturalWidth > 0")
    item.get_by_role("button", name="开始整改").click()
    form = item.locator("form.step-form")
    photos = form.locator("input[type=file]")
    assert photos.get_attribute("accept") == "image/*" and photos.get_attribute("capture") == "environment"
    form.locator("[name='rectification']").fill("已清理配电箱前杂物，划设禁止堆放标线")
    photos.set_input_files({"name": "notes.txt", "mimeType": "text/plain", "buffer": b"not a photo"})
    form.locator("button[type=submit]").click()
    expect(form.locator("p.bad")).to_contain_text("不是 JPEG 或 PNG")
    photos.set_input_files({"name": "after.png", "mimeType": "image/png", "buffer": png()})
    form.locator("button[type=submit]").click()
    expect(item).to_contain_text("待复核")
    expect(ent.locator("#card-note")).to_contain_text("已提交整改")
    expect(item.locator(".photos.after img")).to_have_count(1)  # submitted: the photo after, beside it
    expect(item.locator(".photos.before img")).to_have_count(1)
    item.locator(".photos.after img").evaluate("i => i.decode()")
    got = op.request.get(f"{url}/api/hazards/{hazard['id']}").json()
    assert got["status"] == "review" and len(got["after_evidence"]) == 1, got

    # 服务需求
    req = ent.locator("#request-form")
    req.locator("[name='kind']").select_option("training")
    req.locator("[name='text']").fill("新员工20人，需要一次消防安全培训")
    req.locator("button[type=submit]").click()
    mine = ent.locator("#requests .item.request").first
    expect(mine).to_contain_text("安全培训")
    expect(mine).to_contain_text("待受理")
    assert mine.locator("form").count() == 0  # the enterprise asks, it does not answer
    assert ent.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    ent.screenshot(path=SHOTS / "card-officer-phone.png", full_page=True)

    # the operator sees it on the risk file and answers it
    op.goto(f"{url}/enterprises/yj-metal")
    theirs = op.locator("#request-items .item.request").first
    expect(theirs).to_contain_text("新员工20人")
    expect(op.locator("#poster-link")).to_have_attribute("href", "/api/enterprises/yj-metal/poster.png")
    theirs.locator("[name='status']").select_option("accepted")
    theirs.locator("[name='reply']").fill("已受理，下周二上门培训")
    theirs.locator("button[type=submit]").click()
    expect(op.locator("#request-items .item.request").first).to_contain_text("已受理，下周二上门培训")
    op.screenshot(path=SHOTS / "file-operator-requests.png", full_page=True)

    # the officer sees the answer on its card
    ent.reload()
    expect(ent.locator("#requests .item.request").first).to_contain_text("已受理，下周二上门培训")

    # the government reads everything, changes nothing
    gov_ctx, gov, gov_watch = _login(browser, url, "gov", phone=True)
    gov.goto(card)
    expect(gov.locator(f"#hazards .item[data-code='{hazard['code']}']")).to_contain_text("待复核")
    expect(gov.locator(f"#hazards .item[data-code='{hazard['code']}'] .photos img")).to_have_count(2)
    expect(gov.locator("#requests .item.request").first).to_contain_text("新员工20人")
    expect(gov.locator("#services")).to_be_visible()
    # nothing that changes anything: no form, no button but the service reports' downloads (reads)
    assert gov.locator("#sections form").count() == 0
    buttons = gov.locator("#sections button")
    assert all(t == "查看服务报告" for t in buttons.all_inner_texts()), buttons.all_inner_texts()
    gov.screenshot(path=SHOTS / "card-government-phone.png", full_page=True)

    # the insurer: score, its policy, service records, the request (it may answer); no hazards, no photos
    ins_ctx, ins, ins_watch = _login(browser, url, "picc", phone=True)
    ins.goto(card)
    expect(ins.locator("#details")).to_contain_text("保单")
    expect(ins.locator("#services")).to_be_visible()
    expect(ins.locator("#requests .item.request form").first).to_be_visible()
    assert ins.locator("#hazards").count() == 0
    assert ins.locator("img").count() == 1  # the QR code only
    ins.screenshot(path=SHOTS / "card-insurer-phone.png", full_page=True)

    for w in (op_watch, gov_watch, ins_watch):
        assert w.bad == [], w.bad
    # the officer's page: the refused text file never reached the center; nothing else failed
    assert ent_watch.bad == [], ent_watch.bad
    for c in (op_ctx, ctx, gov_ctx, ins_ctx):
        c.close()
