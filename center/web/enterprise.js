// 企业安全档案: an enterprise's file. Who it is (统一社会信用代码, industry, address, contacts), its
// score now with the terms that make it and its history as a chart, its policies and services;
// for the roles that may (not insurers): its cameras and key posts with their false-alarm
// precision, its hazards and recent alerts.
"use strict";

const { el } = PG;

const ID = document.querySelector('meta[name="pg-enterprise"]').content;
const E = encodeURIComponent(ID);
const SVG = "http://www.w3.org/2000/svg";
const COLORS = { red: "#e5484d", orange: "#f76b15", yellow: "#f5c400", blue: "#3e7bfa" };
const LEVEL_NAMES = { general: "一般", major: "重大" };
const CAMERA_STATES = {
  online: "在线", stalled: "卡顿", offline: "离线", starting: "启动中", unknown: "未知", no_report: "未上报",
};
const HISTORY_DAYS = 90;
const WINDOW_DAYS = 30;

let may = new Set();

const $ = (id) => document.getElementById(id);

function note(text) {
  $("note").textContent = text || "";
}

async function json(path) {
  const res = await PG.api(path);
  if (!res.ok) throw new Error(await PG.errorText(res));
  return res.json();
}

function row(body, cells, cls) {
  const tr = el("tr", cls);
  for (const c of cells) tr.append(c instanceof Node ? c : el("td", null, c === null || c === undefined || c === "" ? "–" : String(c)));
  body.append(tr);
  return tr;
}

function empty(body, cols, text) {
  const tr = el("tr");
  const td = el("td", "empty", text);
  td.colSpan = cols;
  tr.append(td);
  body.append(tr);
}

function cell(cls, text) {
  return el("td", cls, text);
}

function badge(cls, text) {
  const td = el("td");
  td.append(el("span", cls, text));
  return td;
}

function counts(c) {
  const parts = Object.entries(c || {}).filter(([, n]) => n).map(([lv, n]) => `${LEVEL_NAMES[lv] || lv} ${n} 项`);
  return parts.length ? parts.join("，") : "无";
}

// a term's inputs, said in words
function termDetail(t) {
  const d = t.detail || {};
  switch (t.key) {
    case "events":
      return `加权告警 ${d.weighted_alerts}（已确认 ${d.confirmed_weight}，未复核按准确率计 ${d.unreviewed_weight}）÷ ${d.camera_hours} 摄像头·小时 → 每千摄像头·小时 ${d.rate_per_1000_camera_hours} × 权重 ${d.weight}`;
    case "repeats":
      return `同一摄像头同一规则重复 ${d.repeats} 次 × ${d.weight}（上限 ${d.cap} 分）`;
    case "open_hazards":
      return `未销号：${counts(d.counts)}`;
    case "overdue_hazards":
      return `逾期：${counts(d.counts)}`;
    default:
      return "";
  }
}

function profile(e) {
  document.title = `安全档案 — ${e.name}`;
  $("name").textContent = e.name;
  const dl = $("profile");
  dl.replaceChildren();
  PG.fact(dl, "统一社会信用代码", e.credit_code, "mono");
  PG.fact(dl, "行业", e.industry_label);
  PG.fact(dl, "地址", e.address);
  PG.fact(dl, "摄像头", `${e.cameras} 路`);
  const link = $("card-link");
  link.href = `/e/${E}`;
  link.hidden = false;
  const poster = $("poster-link");
  poster.href = `/api/enterprises/${E}/poster.png`;
  poster.hidden = false;
  const contacts = $("contact-rows");
  contacts.replaceChildren();
  for (const c of e.contacts || []) row(contacts, [c.name, c.title, c.phone]);
  if (!(e.contacts || []).length) empty(contacts, 3, "未登记联系人");
}

function score(r) {
  const level = $("level");
  level.className = `level level-${r.level}`;
  level.textContent = r.level_label;
  $("score").textContent = r.score.toFixed(1);
  $("score").style.color = COLORS[r.level];
  $("coefficient").textContent = `分 · ${r.level_label}风险 · 建议费率系数 ${r.coefficient.toFixed(2)} · 近 ${r.inputs.window_days || WINDOW_DAYS} 天告警`;
  const body = $("term-rows");
  body.replaceChildren();
  for (const t of r.terms) {
    const tr = row(body, [cell("term", t.label.replace(/ \(.*\)$/, "")), cell("term-detail", termDetail(t)), cell("num", t.points.toFixed(1))]);
    tr.dataset.term = t.key;
  }
  const total = row(body, [cell("term", "合计（封顶100）"), cell("term-detail", ""), cell("num", r.score.toFixed(1))], "total");
  total.dataset.term = "total";
}

function svg(tag, attrs, text) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  if (text !== undefined) node.textContent = text;
  return node;
}

// the daily scores as a line over the level bands (red/orange/yellow/blue by the thresholds)
function chart(days, thresholds) {
  const box = $("chart");
  box.replaceChildren();
  const W = 600, H = 200, L = 34, R = 8, T = 8, B = 24;
  const y = (s) => T + (H - T - B) * (1 - s / 100);
  const bands = [
    ["red", thresholds.red, 100], ["orange", thresholds.orange, thresholds.red],
    ["yellow", thresholds.yellow, thresholds.orange], ["blue", 0, thresholds.yellow],
  ];
  for (const [lv, lo, hi] of bands) {
    box.append(svg("rect", { x: L, y: y(hi), width: W - L - R, height: y(lo) - y(hi), fill: COLORS[lv], "fill-opacity": 0.1 }));
  }
  for (const s of [0, 50, 100]) {
    box.append(svg("line", { x1: L, x2: W - R, y1: y(s), y2: y(s), class: "grid" }));
    box.append(svg("text", { x: L - 6, y: y(s) + 4, "text-anchor": "end", class: "axis" }, String(s)));
  }
  if (!days.length) {
    box.append(svg("text", { x: W / 2, y: H / 2, "text-anchor": "middle", class: "axis" }, "暂无历史评分"));
    $("score-note").textContent = "";
    return;
  }
  const x = (i) => (days.length === 1 ? (L + W - R) / 2 : L + ((W - L - R) * i) / (days.length - 1));
  const points = days.map((d, i) => `${x(i).toFixed(1)},${y(d.score).toFixed(1)}`).join(" ");
  box.append(svg("polyline", { points, class: "line" }));
  days.forEach((d, i) => {
    const dot = svg("circle", { cx: x(i), cy: y(d.score), r: 2.6, fill: COLORS[d.level], class: "dot" });
    dot.append(svg("title", {}, `${d.day} · ${d.score.toFixed(1)} 分`));
    box.append(dot);
  });
  box.append(svg("text", { x: L, y: H - 6, class: "axis" }, days[0].day));
  box.append(svg("text", { x: W - R, y: H - 6, "text-anchor": "end", class: "axis" }, days[days.length - 1].day));
  $("score-note").textContent = `近 ${HISTORY_DAYS} 天，每日一点（${days.length} 天有记录）`;
}

function policies(page) {
  const body = $("policy-rows");
  body.replaceChildren();
  for (const p of page.items) {
    row(body, [
      cell("mono", p.policy_no), p.insurer_name, `${p.start_date} 至 ${p.end_date}`,
      cell("num", p.premium_cny.toLocaleString("zh-CN")), cell("num", String(p.insured_headcount)),
      cell(p.in_force ? "ok" : "muted", p.in_force ? "在保" : "不在保期"),
    ]);
  }
  if (!page.items.length) empty(body, 6, "无保单");
}

function services(items) {
  const body = $("service-rows");
  body.replaceChildren();
  for (const s of items) {
    const get = el("button", "btn small", "服务报告");
    get.type = "button";
    get.addEventListener("click", async () => {
      get.disabled = true;
      try {
        await PG.downloadPdf(`/api/enterprises/${E}/services/${s.id}/report.pdf`);
      } catch (err) {
        note(`无法生成服务报告：${err.message}`);
      } finally {
        get.disabled = false;
      }
    });
    const action = el("td");
    action.append(get);
    row(body, [s.date, s.kind_label, s.provider, cell("summary", s.summary || "–"), action]);
  }
  if (!items.length) empty(body, 5, "暂无服务记录");
}

// 服务需求: what the enterprise asked for (from its 全安码 page); the park and its insurer answer
async function requests() {
  const items = await json(`/api/service-requests?enterprise_id=${E}&limit=100`);
  const box = $("request-items");
  box.replaceChildren();
  for (const r of items) {
    box.append(PG.serviceRequest(r, {
      answerable: may.has("answer_service_request"),
      onAnswered: requests,
      showError: (text) => { $("requests-note").textContent = text; },
    }));
  }
  if (!items.length) box.append(el("p", "note", "暂无服务需求（企业可在全安码页面提交）"));
}

async function cameras() {
  const since = new Date(Date.now() - WINDOW_DAYS * 86400000).toISOString();
  const [page, precision, nodes] = await Promise.all([
    json(`/api/cameras?enterprise_id=${E}&limit=1000`),
    json(`/api/alerts/precision?enterprise_id=${E}&since=${encodeURIComponent(since)}`),
    may.has("list_nodes") ? json("/api/nodes") : Promise.resolve([]),
  ]);
  const byCamera = new Map(precision.by_camera.map((p) => [p.key, p]));
  const states = new Map();
  const nodeNames = new Map();
  for (const n of nodes) {
    nodeNames.set(n.node, n.name || n.node);
    for (const c of n.camera_states || []) states.set(c.camera, c.state);
  }
  const body = $("camera-rows");
  body.replaceChildren();
  const sorted = [...page.items].sort((a, b) => Number(b.key_post) - Number(a.key_post) || a.id.localeCompare(b.id));
  for (const c of sorted) {
    const p = byCamera.get(c.id);
    const name = el("td", "camera", c.name || c.id);
    const state = states.get(c.id);
    if (state) name.append(el("span", `cam cam-${state}`, CAMERA_STATES[state] || state));
    const falseRate = p && p.total ? `${p.dismissed}（${Math.round((100 * p.dismissed) / p.total)}%）` : "0";
    const tr = row(body, [
      name, c.post_name && c.post_name !== c.name ? c.post_name : "–", c.key_post ? cell("key", "★ 重点") : "", c.node_name || nodeNames.get(c.node) || c.node || "–",
      cell("num", String(p ? p.total : 0)), cell("num", falseRate),
      cell("num", p && p.precision !== null ? `${Math.round(p.precision * 100)}%` : "–"),
      cell("num", c.online_rate_30d === null || c.online_rate_30d === undefined ? "–" : `${(c.online_rate_30d * 100).toFixed(1)}%`),
    ]);
    tr.dataset.camera = c.id;
  }
  if (!page.items.length) empty(body, 8, "未登记摄像头");
  $("cameras-panel").hidden = false;
}

async function hazards() {
  const page = await json(`/api/hazards?enterprise_id=${E}&limit=100`);
  const body = $("hazard-rows");
  body.replaceChildren();
  const order = { pending: 0, in_progress: 1, review: 2, closed: 3 };
  const items = [...page.items].sort((a, b) => order[a.status] - order[b.status]);
  for (const h of items) {
    const code = el("td");
    const link = el("a", null, h.code);
    link.href = `/hazards?id=${h.id}`;
    code.append(link);
    const late = h.overdue && h.status !== "closed";
    row(body, [code, h.title, h.level_label, badge(`hz-status hz-status-${h.status}`, h.status_label),
      cell(late ? "overdue" : "", `${PG.day(h.deadline_at)}${late ? "（已逾期）" : ""}`)]);
  }
  if (!items.length) empty(body, 5, "无隐患");
  $("hazards-link").href = `/hazards?enterprise_id=${E}`;
  $("hazards-panel").hidden = false;
}

async function alerts() {
  const page = await json(`/api/alerts?enterprise_id=${E}&limit=15`);
  const body = $("alert-rows");
  body.replaceChildren();
  for (const a of page.items) {
    row(body, [PG.time(a.started_at), a.rule_name || a.rule_type_label, a.camera_name || a.camera,
      badge(`sev sev-${a.severity}`, a.severity_label), a.status_label]);
  }
  if (!page.items.length) empty(body, 5, "近期无告警");
  $("alerts-panel").hidden = false;
}

// 风险诊断报告: a period (the last 30 days by default) and a PDF the browser saves; the center
// answers a reversed or future period with 422 and says why.
function reportForm() {
  const form = $("report-form");
  const today = PG.day(Date.now());
  const from = new Date(Date.now() - 29 * 86400000);
  $("report-to").value = today;
  $("report-to").max = today;
  $("report-from").value = PG.day(from);
  $("report-from").max = today;
  form.hidden = false;
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const button = $("report-button");
    const q = new URLSearchParams({ from: $("report-from").value, to: $("report-to").value });
    button.disabled = true;
    $("report-note").textContent = "正在生成报告…";
    try {
      const number = await PG.downloadPdf(`/api/enterprises/${E}/report.pdf?${q}`);
      $("report-note").textContent = `已生成 ${number}`;
    } catch (err) {
      $("report-note").textContent = `无法生成报告：${err.message}`;
    } finally {
      button.disabled = false;
    }
  });
}

async function load() {
  const me = await PG.me();
  may = new Set(me.may || []);
  let e;
  try {
    e = await json(`/api/enterprises/${E}`);
  } catch (err) {
    $("name").textContent = "无法查看该企业";
    note(err.message);
    return;
  }
  profile(e);
  reportForm();
  const parts = [
    json(`/api/enterprises/${E}/risk`).then((r) => {
      score(r);
      return json(`/api/enterprises/${E}/risk/history?days=${HISTORY_DAYS}`).then((h) => chart(h, r.thresholds));
    }),
    json(`/api/policies?enterprise_id=${E}`).then(policies),
    json(`/api/enterprises/${E}/services`).then(services),
    requests(),
  ];
  if (may.has("list_cameras")) parts.push(cameras());
  if (may.has("list_hazards")) parts.push(hazards());
  if (may.has("list_alerts")) parts.push(alerts());
  const failed = (await Promise.allSettled(parts)).filter((p) => p.status === "rejected");
  if (failed.length) note(`部分内容加载失败：${failed.map((f) => f.reason.message).join("；")}`);
}

load().catch((err) => note(err.message));
