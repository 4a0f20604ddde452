// 隐患整改: the hazards the user may see, as a board by status (待整改 → 整改中 → 待复核 → 已销号)
// or a list, with filters; a hazard's detail (the originating alert's snapshot and clip, the
// photos before and after, every step with who, when and why) and the steps this user may take.
"use strict";

const { el } = PG;

const STATUSES = [
  ["pending", "待整改", "To rectify"],
  ["in_progress", "整改中", "In progress"],
  ["review", "待复核", "To review"],
  ["closed", "已销号", "Closed"],
];
const LEVELS = [["general", "一般"], ["major", "重大"]];
const SOURCES = [["ai", "AI 识别"], ["inspection", "现场排查"]];
const ACTIONS = {
  create: "登记", start: "开始整改", submit: "提交整改", approve: "复核通过，销号", reject: "退回整改",
};
const DAY = 86400000;
const SOON_DAYS = 3; // due within this many days: highlighted

let me = null;
let may = new Set();
let enterprises = new Map(); // id → name
let view = "board";
let current = null; // the hazard in the detail panel

const $ = (id) => document.getElementById(id);

function note(text, bad = false) {
  const n = $("note");
  n.textContent = text || "";
  n.classList.toggle("error", bad);
}

// "overdue", "soon" or "" for an open hazard's deadline
function urgency(h) {
  if (h.overdue && h.status !== "closed") return "overdue";
  if (h.status !== "closed" && Date.parse(h.deadline_at) - Date.now() < SOON_DAYS * DAY) return "soon";
  return "";
}

function deadlineText(h) {
  const u = urgency(h);
  const day = PG.day(h.deadline_at);
  if (u === "overdue") return `${day}（已逾期）`;
  if (u === "soon") return `${day}（即将到期）`;
  if (h.status === "closed" && h.overdue) return `${day}（逾期销号）`;
  return day;
}

function enterpriseName(h) {
  return h.enterprise_name || enterprises.get(h.enterprise_id) || h.enterprise_id;
}

function levelBadge(h) {
  return el("span", `hz-level hz-level-${h.level}`, h.level_label);
}

function query() {
  const params = new URLSearchParams({ limit: "1000" });
  for (const input of $("filters").querySelectorAll("select, input")) {
    if (!input.name || !input.value) continue;
    // a bare date is the park's midnight: "due to" takes in the whole day
    const value = input.name === "deadline_before" ? PG.day(Date.parse(`${input.value}T12:00:00Z`) + DAY) : input.value;
    params.set(input.name, value);
  }
  return params;
}

async function load() {
  const res = await PG.api(`/api/hazards?${query()}`);
  if (!res.ok) {
    note(`加载隐患失败：${await PG.errorText(res)}`, true);
    return;
  }
  const page = await res.json();
  note(page.total > page.items.length ? `共 ${page.total} 条，显示前 ${page.items.length} 条` : `共 ${page.total} 条`);
  renderBoard(page.items);
  renderList(page.items);
  const names = new Set(page.items.map((h) => h.assignee).filter(Boolean));
  PG.options($("assignees"), [...names].sort().map((n) => [n, n]));
}

function card(h) {
  const c = el("article", `hz-card ${urgency(h)}`);
  c.dataset.hazardId = h.id;
  c.dataset.status = h.status;
  c.tabIndex = 0;
  const top = el("div", "hz-card-top");
  top.append(el("span", "hz-code", h.code), levelBadge(h));
  c.append(top, el("div", "hz-title", h.title), el("div", "hz-ent", enterpriseName(h)));
  const foot = el("div", "hz-foot");
  foot.append(el("span", `hz-due ${urgency(h)}`, `期限 ${deadlineText(h)}`));
  if (h.assignee) foot.append(el("span", "hz-who", h.assignee));
  c.append(foot);
  c.addEventListener("click", () => open(h.id));
  c.addEventListener("keydown", (e) => { if (e.key === "Enter") open(h.id); });
  return c;
}

function renderBoard(items) {
  const board = $("board");
  board.replaceChildren();
  for (const [status, label, en] of STATUSES) {
    const col = el("section", "board-col");
    col.dataset.status = status;
    const mine = items.filter((h) => h.status === status);
    const head = el("h2", null, `${label} `);
    head.append(el("small", null, en), el("span", "count", String(mine.length)));
    col.append(head);
    for (const h of mine) col.append(card(h));
    if (!mine.length) col.append(el("p", "empty", "无"));
    board.append(col);
  }
}

function renderList(items) {
  const body = $("hazard-rows");
  body.replaceChildren();
  for (const h of items) {
    const tr = el("tr", urgency(h));
    tr.dataset.hazardId = h.id;
    const status = el("td");
    status.append(el("span", `hz-status hz-status-${h.status}`, h.status_label));
    const level = el("td");
    level.append(levelBadge(h));
    const title = el("td", "title", h.title);
    if (h.camera_name) title.append(el("small", "sub", h.post_name ? `${h.camera_name} · ${h.post_name}` : h.camera_name));
    tr.append(
      el("td", "code", h.code), title, el("td", "enterprise", enterpriseName(h)), level,
      el("td", null, h.source === "ai" ? "AI 识别" : "现场排查"), status, el("td", null, h.assignee || "–"),
      el("td", `due ${urgency(h)}`, deadlineText(h)),
    );
    tr.addEventListener("click", () => open(h.id));
    body.append(tr);
  }
  if (!items.length) {
    const tr = el("tr");
    const td = el("td", "empty", "没有符合条件的隐患");
    td.colSpan = 8;
    tr.append(td);
    body.append(tr);
  }
}

function setView(which) {
  view = which;
  $("board").hidden = which !== "board";
  $("list").hidden = which !== "list";
  $("view-board").setAttribute("aria-pressed", String(which === "board"));
  $("view-list").setAttribute("aria-pressed", String(which === "list"));
}

// --- the detail ---------------------------------------------------------------------------

function photos(section, box, shas, caption) {
  $(section).hidden = PG.photos(box, shas, caption) === 0;
}

async function origin(h) {
  const box = $("origin-items");
  box.replaceChildren();
  $("origin").hidden = !h.alert_id;
  if (!h.alert_id) return;
  const res = await PG.api(`/api/alerts/${encodeURIComponent(h.alert_id)}`);
  if (!res.ok) {
    box.append(el("p", "note", `来源告警无法查看：${await PG.errorText(res)}`));
    return;
  }
  const a = await res.json();
  const facts = el("dl", "facts");
  PG.fact(facts, "告警", `${a.rule_name || a.rule_type_label}（${a.severity_label}）`);
  PG.fact(facts, "摄像头", a.camera_name || a.camera);
  PG.fact(facts, "发生时间", PG.time(a.started_at));
  box.append(facts);
  let shown = 0;
  for (const e of a.evidence || []) {
    if (!e.sha256) continue;
    if (e.kind === "clip") {
      const fig = el("figure", "evidence-item");
      const video = el("video");
      video.controls = true;
      video.preload = "metadata";
      video.src = `/api/evidence/${e.sha256}`;
      fig.append(video, el("figcaption", null, "告警录像"));
      box.append(fig);
    } else {
      box.append(PG.photo(e.sha256, "告警截图"));
    }
    shown += 1;
  }
  if (!shown) box.append(el("p", "note", "该告警没有截图或录像"));
}

function renderHistory(h) {
  const list = $("history");
  list.replaceChildren();
  for (const s of h.history || []) {
    const li = el("li", `step step-${s.action}`);
    const who = s.actor_name ? `${s.actor_name}（${s.actor}）` : s.actor;
    const head = el("div", "step-head");
    head.append(el("strong", null, ACTIONS[s.action] || s.action), el("span", "who", who), el("time", null, PG.time(s.at)));
    li.append(head);
    if (s.note) li.append(el("div", "step-note", s.note));
    list.append(li);
  }
}

function field(form, label, input) {
  const l = el("label", null, label);
  l.append(input);
  form.append(l);
  return input;
}

function textarea(name, placeholder, required) {
  const t = el("textarea");
  t.name = name;
  t.rows = 2;
  t.maxLength = name === "note" ? 2000 : 256;
  t.placeholder = placeholder;
  t.required = Boolean(required);
  return t;
}

// a step's form: its fields, its button; run(form) does it and answers the new hazard
function stepForm(key, title, build, run, cls = "") {
  const form = el("form", `step-form ${cls}`);
  form.dataset.step = key;
  form.append(el("h4", null, title));
  build(form);
  const btn = el("button", "btn primary", title);
  btn.type = "submit";
  form.append(btn);
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    $("step-error").textContent = "";
    btn.disabled = true;
    btn.textContent = "提交中…";
    try {
      const res = await run(form);
      if (!res.ok) throw new Error(await PG.errorText(res));
      show(await res.json());
      load();
    } catch (err) {
      $("step-error").textContent = err.message;
    } finally {
      btn.disabled = false;
      btn.textContent = title;
    }
  });
  return form;
}

function stepUrl(h, verb) {
  const id = encodeURIComponent(h.id);
  return {
    start: `/api/hazards/${id}/start`,
    submit: `/api/hazards/${id}/submit`,
    approve: `/api/hazards/${id}/approve`,
    reject: `/api/hazards/${id}/reject`,
  }[verb];
}

function actions(h) {
  const box = $("detail-actions");
  box.replaceChildren();
  if (h.status === "pending" && may.has("start_hazard")) {
    box.append(stepForm("start", "开始整改", (f) => field(f, "说明（可选）", textarea("note", "例：已安排维修班组")),
      (f) => PG.send(stepUrl(h, "start"), "POST", { note: f.note.value })));
  }
  if (h.status === "in_progress" && may.has("submit_hazard")) {
    box.append(stepForm("submit", "提交整改", (f) => {
      field(f, "整改措施", textarea("rectification", "做了什么（至少2个字）", true));
      const files = PG.photoInput("photos");
      files.required = true;
      field(f, "整改后照片（可用手机拍照，JPEG/PNG，每张≤10MB）", files);
    }, async (f) => {
      const shas = await PG.uploadPhotos(f.photos.files, true);
      return PG.send(stepUrl(h, "submit"), "POST", { rectification: f.rectification.value, after_evidence: shas });
    }));
  }
  if (h.status === "review" && may.has("approve_hazard")) {
    box.append(stepForm("approve", "复核通过，销号", (f) => field(f, "复核意见（可选）", textarea("note", "例：现场复核通过")),
      (f) => PG.send(stepUrl(h, "approve"), "POST", { note: f.note.value })));
  }
  if (h.status === "review" && may.has("reject_hazard")) {
    box.append(stepForm("reject", "退回整改", (f) => field(f, "退回原因", textarea("note", "例：照片未显示通道已清空", true)),
      (f) => PG.send(stepUrl(h, "reject"), "POST", { note: f.note.value }), "danger"));
  }
}

function show(h) {
  current = h;
  $("detail").hidden = false;
  $("detail").dataset.hazardId = h.id;
  $("detail").dataset.status = h.status;
  $("detail-title").textContent = `${h.code} · ${h.title}`;
  const facts = $("detail-facts");
  facts.replaceChildren();
  PG.fact(facts, "企业", enterpriseName(h));
  PG.fact(facts, "状态", h.status_label, `hz-status hz-status-${h.status}`);
  PG.fact(facts, "等级", `${h.level_label}隐患`);
  PG.fact(facts, "来源", h.source === "ai" ? "AI 识别（告警转隐患）" : "现场排查");
  PG.fact(facts, "摄像头", h.camera_name);
  PG.fact(facts, "岗位", h.post_name);
  PG.fact(facts, "责任人", h.assignee);
  PG.fact(facts, "整改期限", deadlineText(h), urgency(h));
  PG.fact(facts, "登记人", h.created_by_name ? `${h.created_by_name}（${h.created_by}）` : h.created_by);
  PG.fact(facts, "登记时间", PG.time(h.created_at));
  PG.fact(facts, "说明", h.description);
  PG.fact(facts, "整改措施", h.rectification);
  PG.fact(facts, "复核意见", h.review_note);
  PG.fact(facts, "整改提交", h.rectified_at ? PG.time(h.rectified_at) : "");
  PG.fact(facts, "销号时间", h.closed_at ? PG.time(h.closed_at) : "");
  $("step-error").textContent = "";
  actions(h);
  photos("before", $("before-items"), h.before_evidence, "整改前");
  photos("after", $("after-items"), h.after_evidence, "整改后");
  renderHistory(h);
  origin(h);
}

async function open(id) {
  const res = await PG.api(`/api/hazards/${encodeURIComponent(id)}`);
  if (!res.ok) {
    note(`无法打开隐患：${await PG.errorText(res)}`, true);
    return;
  }
  show(await res.json());
  history.replaceState(null, "", `/hazards?id=${encodeURIComponent(id)}`);
}

function closeDetail() {
  $("detail").hidden = true;
  current = null;
  history.replaceState(null, "", "/hazards");
}

// --- recording a hazard found on site (排查) ------------------------------------------------

function tomorrow(days = 1) {
  return PG.day(Date.now() + days * DAY);
}

async function cameras(enterpriseId) {
  const select = $("c-camera");
  PG.options(select, [], "（不关联摄像头）");
  if (!enterpriseId) return;
  const res = await PG.api(`/api/cameras?enterprise_id=${encodeURIComponent(enterpriseId)}&limit=1000`);
  if (!res.ok) return;
  const page = await res.json();
  PG.options(select, page.items.map((c) => [c.id, c.post_name ? `${c.name}（${c.post_name}）` : c.name || c.id]), "（不关联摄像头）");
}

// days from now to the end of a YYYY-MM-DD in the park's day; < 1 for today or the past
function daysUntil(day) {
  const today = PG.day(Date.now());
  return Math.round((Date.parse(`${day}T00:00:00Z`) - Date.parse(`${today}T00:00:00Z`)) / DAY);
}

async function create(ev) {
  ev.preventDefault();
  const error = $("create-error");
  error.textContent = "";
  const days = daysUntil($("c-deadline").value);
  if (!(days >= 1)) {
    error.textContent = "整改期限须晚于今天";
    return;
  }
  try {
    const shas = await PG.uploadPhotos($("c-photos").files);
    const body = {
      enterprise_id: $("c-enterprise").value,
      title: $("c-title").value,
      description: $("c-description").value,
      level: $("c-level").value,
      deadline_days: days,
      assignee: $("c-assignee").value,
      before_evidence: shas,
    };
    if ($("c-camera").value) body.camera_id = $("c-camera").value;
    const res = await PG.send("/api/hazards", "POST", body);
    if (!res.ok) throw new Error(await PG.errorText(res));
    const h = await res.json();
    $("create-form").reset();
    $("create").hidden = true;
    note(`已登记隐患 ${h.code}`);
    await load();
    show(h);
  } catch (err) {
    error.textContent = err.message;
  }
}

async function init() {
  me = await PG.me();
  may = new Set(me.may || []);
  const res = await PG.api("/api/enterprises?limit=1000");
  if (res.ok) {
    for (const e of (await res.json()).items) enterprises.set(e.id, e.name);
  }
  const entPairs = [...enterprises].sort((a, b) => a[1].localeCompare(b[1], "zh-CN"));
  PG.options($("f-status"), STATUSES.map(([v, l]) => [v, l]), "全部");
  PG.options($("f-enterprise"), entPairs, "全部企业");
  PG.options($("f-level"), LEVELS, "全部");
  PG.options($("f-source"), SOURCES, "全部");
  PG.options($("f-overdue"), [["true", "已逾期"], ["false", "未逾期"]], "全部");
  if (enterprises.size <= 1) $("f-enterprise").closest("label").hidden = true;
  const wanted = new URLSearchParams(location.search); // e.g. /hazards?enterprise_id=… from a risk file
  for (const input of $("filters").querySelectorAll("select, input")) {
    if (input.name && wanted.get(input.name)) input.value = wanted.get(input.name);
    input.addEventListener("change", load);
  }
  $("view-board").addEventListener("click", () => setView("board"));
  $("view-list").addEventListener("click", () => setView("list"));
  $("detail-close").addEventListener("click", closeDetail);
  if (may.has("create_hazard")) {
    const btn = $("new-hazard");
    btn.hidden = false;
    PG.options($("c-enterprise"), entPairs);
    $("c-enterprise").addEventListener("change", () => cameras($("c-enterprise").value));
    $("c-deadline").min = tomorrow();
    $("c-deadline").value = tomorrow(7);
    btn.addEventListener("click", () => {
      $("create").hidden = false;
      cameras($("c-enterprise").value);
      $("c-title").focus();
    });
    $("create-cancel").addEventListener("click", () => { $("create").hidden = true; });
    $("create-form").addEventListener("submit", create);
  }
  await load();
  const id = wanted.get("id");
  if (id && /^\d{1,10}$/.test(id)) open(id);
}

init().catch((err) => note(err.message, true));
