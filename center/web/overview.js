// 园区总览: the figures of every enterprise the viewer may see over 7/30/90 days: risk levels,
// open and overdue hazards (一般/重大), rectification rate and time, alerts by day, by 镇街 and by
// industry, cameras and nodes online, and the enterprises needing attention (links to their files).
"use strict";

const COLORS = { red: "#e5484d", orange: "#f76b15", yellow: "#f5c400", blue: "#3e7bfa" };
const LEVEL_TEXT = { red: "重大风险", orange: "较大风险", yellow: "一般风险", blue: "低风险" };
const PERIODS = new Set([7, 30, 90]);

const { el, svg } = PG;
const $ = (id) => document.getElementById(id);

function note(text) {
  $("note").textContent = text || "";
}

function tile(key, value, sub) {
  $(`t-${key}`).textContent = value;
  $(`t-${key}-note`).textContent = sub || "";
}

const pct = (v) => (v === null || v === undefined ? "–" : `${(v * 100).toFixed(v === 1 || v === 0 ? 0 : 1)}%`);
const num = (v) => String(v ?? 0);

function cell(cls, text) {
  return el("td", cls, text);
}

// the enterprises by level as horizontal bars (with the unscored ones when there are any)
function levels(o) {
  const box = $("levels");
  box.replaceChildren();
  const rows = o.levels.map((l) => [l.level, `${l.level_label} · ${LEVEL_TEXT[l.level]}`, l.count]);
  if (o.unscored) rows.push(["none", "未评分", o.unscored]);
  const max = Math.max(1, ...rows.map((r) => r[2]));
  const L = 118, W = 480, R = 46, H = 26;
  rows.forEach(([lv, text, n], i) => {
    const y = 8 + i * (H + 4);
    const g = svg("g", { "data-level": lv });
    g.append(svg("text", { x: L - 8, y: y + H / 2 + 5, "text-anchor": "end", class: "axis label" }, text));
    g.append(svg("rect", { x: L, y, width: W - L - R, height: H, class: "track" }));
    const w = ((W - L - R) * n) / max;
    g.append(svg("rect", { x: L, y, width: Math.max(w, n ? 2 : 0), height: H, fill: COLORS[lv] || "#8193b2" }));
    g.append(svg("text", { x: L + w + 6, y: y + H / 2 + 5, class: "axis value" }, `${n} 家`));
    box.append(g);
  });
  box.setAttribute("viewBox", `0 0 ${W} ${8 + rows.length * (H + 4)}`);
  const scored = o.scored_at ? `评分更新于 ${PG.time(o.scored_at, { short: true })}` : "尚无评分";
  $("levels-note").textContent = `共 ${o.enterprises} 家 · ${scored}`;
}

// alerts of each day as columns, the confirmed part darker
function trend(o) {
  const box = $("trend");
  box.replaceChildren();
  const days = o.trend;
  const W = 600, H = 170, L = 34, R = 8, T = 10, B = 24;
  const max = Math.max(1, ...days.map((d) => d.alerts));
  const y = (v) => T + (H - T - B) * (1 - v / max);
  for (const v of [0, Math.round(max / 2), max]) {
    box.append(svg("line", { x1: L, x2: W - R, y1: y(v), y2: y(v), class: "grid" }));
    box.append(svg("text", { x: L - 6, y: y(v) + 4, "text-anchor": "end", class: "axis" }, String(v)));
  }
  const step = (W - L - R) / Math.max(days.length, 1);
  const bw = Math.max(1, step * 0.7);
  days.forEach((d, i) => {
    const x = L + i * step + (step - bw) / 2;
    const g = svg("g", { "data-day": d.day });
    g.append(svg("rect", { x, y: y(d.alerts), width: bw, height: y(0) - y(d.alerts), class: "col-all" }));
    g.append(svg("rect", { x, y: y(d.confirmed), width: bw, height: y(0) - y(d.confirmed), class: "col-confirmed" }));
    g.append(svg("title", {}, `${d.day}：告警 ${d.alerts}，已确认 ${d.confirmed}`));
    box.append(g);
  });
  if (days.length) {
    box.append(svg("text", { x: L, y: H - 6, class: "axis" }, days[0].day));
    box.append(svg("text", { x: W - R, y: H - 6, "text-anchor": "end", class: "axis" }, days[days.length - 1].day));
  }
  const total = days.reduce((s, d) => s + d.alerts, 0);
  const confirmed = days.reduce((s, d) => s + d.confirmed, 0);
  $("trend-note").textContent = `共 ${total} 条，已确认 ${confirmed} 条（深色）`;
}

function groups(body, items, what) {
  body.replaceChildren();
  for (const g of items) {
    const tr = el("tr");
    tr.dataset.key = g.key || "";
    tr.append(
      cell(null, g.name), cell("num", num(g.enterprises)),
      cell(g.red ? "num red" : "num", num(g.red)), cell(g.orange ? "num orange" : "num", num(g.orange)),
      cell("num", num(g.open_hazards)), cell(g.overdue_hazards ? "num overdue" : "num", num(g.overdue_hazards)),
      cell("num", num(g.alerts)), cell("num", num(g.confirmed)), cell("num", num(g.dismissed)),
    );
    body.append(tr);
  }
  if (!items.length) {
    const tr = el("tr");
    const td = el("td", "empty", `暂无${what}`);
    td.colSpan = 9;
    tr.append(td);
    body.append(tr);
  }
}

function attention(items) {
  const body = $("attention-rows");
  body.replaceChildren();
  for (const a of items) {
    const tr = el("tr");
    tr.dataset.enterpriseId = a.enterprise_id;
    const name = el("td");
    const link = el("a", null, a.name);
    link.href = `/enterprises/${encodeURIComponent(a.enterprise_id)}`; // its risk file (安全档案)
    name.append(link);
    const level = el("td");
    if (a.level) level.append(el("span", `level level-${a.level}`, a.level_label));
    else level.textContent = "未评分";
    tr.append(
      name, cell(null, a.town_name || "未登记镇街"), cell(null, a.industry_label), level,
      cell("num", a.score === null ? "–" : a.score.toFixed(1)), cell("num", num(a.open_hazards)),
      cell(a.major_open ? "num red" : "num", num(a.major_open)),
      cell(a.overdue_hazards ? "num overdue" : "num", num(a.overdue_hazards)), cell("num", num(a.alerts)),
    );
    body.append(tr);
  }
  if (!items.length) {
    const tr = el("tr");
    const td = el("td", "empty", "没有红、橙等级或有逾期隐患的企业");
    td.colSpan = 9;
    tr.append(td);
    body.append(tr);
  }
}

function show(o) {
  const h = o.hazards;
  const c = o.coverage;
  tile("enterprises", num(o.enterprises), o.levels.map((l) => `${l.level_label}${l.count}`).join(" · "));
  tile("open", num(h.open_general + h.open_major), `一般 ${h.open_general} · 重大 ${h.open_major}`);
  tile("overdue", num(h.overdue_general + h.overdue_major), `一般 ${h.overdue_general} · 重大 ${h.overdue_major}`);
  tile("rate", pct(h.rectification_rate), `期内登记 ${h.created}，已销号 ${h.created_closed}`);
  tile(
    "mttc",
    h.mean_days_to_close === null ? "–" : `${h.mean_days_to_close.toFixed(1)} 天`,
    `期内销号 ${h.closed}，按期 ${h.closed_on_time}`,
  );
  tile(
    "cameras",
    `${c.cameras_online}/${c.cameras}`,
    `重点岗位 ${c.key_posts_online}/${c.key_posts} · 期内在线率 ${pct(c.online_rate)}（重点岗位 ${pct(c.key_online_rate)}）${c.unassigned ? ` · 未接入节点 ${c.unassigned}` : ""}`,
  );
  tile("nodes", `${c.nodes_online}/${c.nodes}`, c.nodes ? "" : "未登记边缘节点");
  tile("services", num(o.services), `待受理服务需求 ${o.open_requests}`);
  levels(o);
  trend(o);
  attention(o.attention);
  groups($("town-rows"), o.by_town, "镇街");
  groups($("industry-rows"), o.by_industry, "行业");
  note(`近 ${o.days} 天（${PG.day(o.since)} 起）· 数据截至 ${PG.time(o.as_of)}`);
}

async function load(days) {
  for (const b of document.querySelectorAll("#period button")) {
    b.setAttribute("aria-pressed", String(Number(b.dataset.days) === days));
  }
  const res = await PG.api(`/api/overview?days=${days}`);
  if (!res.ok) {
    note(`加载失败：${await PG.errorText(res)}`);
    return;
  }
  show(await res.json());
}

function chosenDays() {
  const days = Number(new URLSearchParams(location.search).get("days"));
  return PERIODS.has(days) ? days : 30;
}

for (const b of document.querySelectorAll("#period button")) {
  b.addEventListener("click", () => {
    const days = Number(b.dataset.days);
    history.replaceState(null, "", `${location.pathname}?days=${days}`);
    load(days).catch((err) => note(err.message));
  });
}

PG.me().then(() => load(chosenDays())).catch((err) => note(err.message));
