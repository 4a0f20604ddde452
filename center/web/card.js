// The page a 全安码 opens, made for a phone. Anyone: the name, the risk colour, when it last
// changed (and a login that comes back here). Who may see the enterprise gets more (the API
// decides what): the enterprise officer its file, its open hazards with their before/after photos
// and 提交整改 (photos from the phone's camera) and 服务需求; the government everything, read only; an insurer the score, its
// policies, the service records and the requests it may answer; the park's staff answer requests.
"use strict";

const { el } = PG;

const ID = document.querySelector('meta[name="pg-enterprise"]').content;
const E = encodeURIComponent(ID);
const LEVEL_TEXT = { red: "重大风险", orange: "较大风险", yellow: "一般风险", blue: "低风险" };
const KINDS = [
  ["risk_diagnosis", "风险诊断"], ["inspection", "隐患排查"], ["training", "安全培训"],
  ["emergency_plan", "应急预案指导"], ["other", "其他"],
];
const TEXT_MAX = 500;

const $ = (id) => document.getElementById(id);
let me = null;
let may = new Set();

function note(text, bad) {
  const n = $("card-note");
  n.textContent = text || "";
  n.classList.toggle("bad", Boolean(bad));
}

async function json(path) {
  const res = await PG.api(path);
  if (!res.ok) throw new Error(await PG.errorText(res));
  return res.json();
}

// a section of the page: <section id><h3>title <small>en</small></h3><div class="body"></div></section>
function section(id, title, en) {
  let box = $(id);
  if (!box) {
    box = el("section", "card-section");
    box.id = id;
    const h = el("h3", null, `${title} `);
    h.append(el("small", null, en));
    box.append(h, el("div", "body"));
    $("sections").append(box);
  }
  const body = box.querySelector(".body");
  body.replaceChildren();
  return body;
}

// a button that runs action once (disabled meanwhile) and says what went wrong in `where`
function button(text, cls, where, action) {
  const b = el("button", cls, text);
  b.type = "button";
  b.addEventListener("click", async () => {
    b.disabled = true;
    where.textContent = "";
    try {
      await action();
    } catch (err) {
      where.textContent = err.message;
      b.disabled = false;
    }
  });
  return b;
}

async function ok(res) {
  if (!res.ok) throw new Error(await PG.errorText(res));
  return res.json();
}

// --- hazards: the officer starts and submits a rectification with photos ---------------------

function submitForm(h, box) {
  const form = el("form", "step-form");
  const text = el("textarea");
  text.name = "rectification";
  text.required = true;
  text.maxLength = 256;
  text.rows = 3;
  text.placeholder = "整改措施，例：已清理通道杂物并划设禁止堆放标线";
  const file = PG.photoInput("photos");
  const msg = el("p", "note bad");
  const send = el("button", "btn primary", "提交整改");
  send.type = "submit";
  form.append(
    el("label", null, "整改措施"), text,
    el("label", null, "整改后照片（拍照或从相册选择，1–20 张，JPEG/PNG，每张 ≤10 MB）"), file,
    send, msg,
  );
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    msg.textContent = "";
    if (!text.value.trim() || text.value.trim().length < 2) { msg.textContent = "请填写整改措施（至少2个字）"; return; }
    send.disabled = true;
    try {
      const shas = await PG.uploadPhotos(file.files, true);
      await ok(await PG.send(`/api/hazards/${h.id}/submit`, "POST", { rectification: text.value.trim(), after_evidence: shas }));
      note(`${h.code} 已提交整改，等待园区复核`);
      await hazards();
    } catch (err) {
      msg.textContent = err.message;
      send.disabled = false;
    }
  });
  box.append(form);
}

async function hazards() {
  const body = section("hazards", "未销号隐患", "Open hazards");
  const page = await json(`/api/hazards?enterprise_id=${E}&limit=100`);
  const open = page.items.filter((h) => h.status !== "closed");
  const acts = me && me.role === "enterprise" && me.enterprise_id === ID && may.has("submit_hazard");
  for (const h of open) {
    const item = el("div", `item hazard${h.overdue ? " overdue" : ""}`);
    item.dataset.code = h.code;
    const head = el("div", "item-head");
    head.append(el("strong", null, `${h.code} ${h.title}`), el("span", `badge status-${h.status}`, h.status_label));
    item.append(head);
    const place = [h.camera_name, h.post_name].filter(Boolean).join(" · ");
    item.append(el("p", "note", `${h.level_label}隐患${place ? ` · ${place}` : ""} · 整改期限 ${PG.time(h.deadline_at, { short: true })}${h.overdue ? " · 已逾期" : ""}`));
    if (h.review_note && h.status === "in_progress") item.append(el("p", "note bad", `退回原因：${h.review_note}`));
    const pair = el("div", "photo-pair"); // before and after side by side
    for (const [shas, caption, cls] of [[h.before_evidence, "整改前", "before"], [h.after_evidence, "整改后", "after"]]) {
      if (!shas || !shas.length) continue;
      const box = el("div", `photos ${cls}`);
      PG.photos(box, shas, caption);
      const block = el("div", "photo-block");
      block.append(el("p", "note", `${caption}照片`), box);
      pair.append(block);
    }
    if (pair.childElementCount) item.append(pair);
    const msg = el("p", "note bad");
    if (acts && h.status === "pending") {
      item.append(button("开始整改", "btn primary", msg, async () => {
        await ok(await PG.send(`/api/hazards/${h.id}/start`, "POST", { note: "" }));
        await hazards();
      }));
    } else if (acts && h.status === "in_progress") {
      submitForm(h, item);
    } else if (h.status === "review") {
      item.append(el("p", "note", "已提交整改，等待园区复核"));
    }
    item.append(msg);
    body.append(item);
  }
  if (!open.length) body.append(el("p", "note", "没有未销号的隐患"));
}

// --- 服务需求: the officer asks; the park and the insurer answer ---------------------------------

function requestForm(body) {
  const form = el("form", "step-form");
  form.id = "request-form";
  const kind = el("select");
  kind.name = "kind";
  PG.options(kind, KINDS);
  const text = el("textarea");
  text.name = "text";
  text.maxLength = TEXT_MAX;
  text.rows = 3;
  text.required = true;
  text.placeholder = "需要什么服务，例：新员工20人，需要一次安全培训";
  const count = el("span", "note", `0/${TEXT_MAX}`);
  text.addEventListener("input", () => { count.textContent = `${text.value.length}/${TEXT_MAX}`; });
  const send = el("button", "btn primary", "提交需求");
  send.type = "submit";
  const msg = el("p", "note bad");
  form.append(el("label", null, "服务类型"), kind, el("label", null, "需求说明"), text, count, send, msg);
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    msg.textContent = "";
    if (text.value.trim().length < 2) { msg.textContent = "请填写需求说明（至少2个字）"; return; }
    send.disabled = true;
    try {
      await ok(await PG.send(`/api/enterprises/${E}/service-requests`, "POST", { kind: kind.value, text: text.value.trim() }));
      note("服务需求已提交，园区和保险公司会尽快答复");
      text.value = "";
      count.textContent = `0/${TEXT_MAX}`;
      await requests();
    } catch (err) {
      msg.textContent = err.message;
    } finally {
      send.disabled = false;
    }
  });
  body.append(form);
}

async function requests() {
  const body = section("requests", "服务需求", "Service requests");
  const mine = me && me.role === "enterprise" && me.enterprise_id === ID && may.has("create_service_request");
  if (mine) requestForm(body);
  const items = await json(`/api/service-requests?enterprise_id=${E}&limit=50`);
  for (const r of items) {
    const msg = el("p", "note bad");
    const item = PG.serviceRequest(r, {
      answerable: may.has("answer_service_request"),
      onAnswered: requests,
      showError: (text) => { msg.textContent = text; },
    });
    const form = item.querySelector("form.answer");
    if (form) form.append(msg);
    body.append(item);
  }
  if (!items.length) body.append(el("p", "note", "暂无服务需求"));
}

// --- service records (服务记录) -------------------------------------------------------------------

async function services() {
  const body = section("services", "服务记录", "Service records");
  const items = await json(`/api/enterprises/${E}/services`);
  for (const s of items) {
    const item = el("div", "item");
    item.append(el("strong", null, `${s.date} ${s.kind_label}`), el("p", "note", s.provider), el("p", "text", s.summary || "–"));
    const get = el("button", "btn small", "查看服务报告");
    get.type = "button";
    get.addEventListener("click", async () => {
      get.disabled = true;
      try {
        await PG.downloadPdf(`/api/enterprises/${E}/services/${s.id}/report.pdf`);
      } catch (err) {
        note(`无法生成服务报告：${err.message}`, true);
      } finally {
        get.disabled = false;
      }
    });
    item.append(get);
    body.append(item);
  }
  if (!items.length) body.append(el("p", "note", "暂无服务记录"));
}

async function load() {
  const res = await fetch(`/api/enterprises/${E}/card`, { cache: "no-store" });
  if (!res.ok) {
    $("name").textContent = res.status === 404 ? "未找到该企业" : `加载失败 (HTTP ${res.status})`;
    return;
  }
  const c = await res.json();
  document.title = `全安码 — ${c.name}`;
  $("name").textContent = c.name;
  const code = $("code");
  code.style.background = c.color;
  code.dataset.level = c.level;
  $("level-label").textContent = c.level_label;
  $("level-text").textContent = `风险等级：${c.level_label}（${LEVEL_TEXT[c.level]}）`;
  if (c.updated_at) $("updated").textContent = `信息更新于 ${PG.time(c.updated_at)}`;
  $("poster-link").href = `/api/enterprises/${E}/poster.png`;
  const login = $("login-link");
  login.href = `/login?next=${encodeURIComponent(location.pathname)}`;
  if (c.viewer !== "anonymous") login.hidden = true;
  if (c.score === null || c.score === undefined) return;
  const rows = [
    ["风险分", c.score.toFixed(1)],
    ["建议费率系数", c.coefficient.toFixed(2)],
    ["行业", c.industry_label],
    ["地址", c.address],
    ["未销号隐患", c.open_hazards],
    ["逾期隐患", c.overdue_hazards],
    ["近30天告警", c.alerts_30d],
  ];
  for (const p of c.policies || []) rows.push(["保单", `${p.policy_no}（${p.start_date} 至 ${p.end_date}）${p.in_force ? "" : " 不在保期"}`]);
  const dl = $("details");
  for (const [k, v] of rows) PG.fact(dl, k, v);
  dl.hidden = false;
  const img = el("img");
  img.alt = "全安码";
  img.src = `/api/enterprises/${E}/qr.svg`;
  img.addEventListener("error", () => img.remove());
  img.addEventListener("load", () => { $("level-label").remove(); });
  code.append(img);
  if (!me) return;
  const parts = [];
  if (may.has("list_hazards")) parts.push(hazards());
  parts.push(requests());
  parts.push(services());
  const failed = (await Promise.allSettled(parts)).filter((p) => p.status === "rejected");
  if (failed.length) note(`部分内容加载失败：${failed.map((f) => f.reason.message).join("；")}`, true);
}

// a logged-in viewer (the page says so: no 401 asked for by an anonymous one) gets the console's
// header: who, the navigation, log out
async function start() {
  if (document.querySelector('meta[name="pg-viewer"]').content === "user") {
    try {
      me = await PG.me();
      may = new Set(me.may || []);
      $("top").hidden = false;
    } catch (err) { /* the session ended: the anonymous view */ }
  }
  await load();
}
start().catch((err) => note(err.message, true));
