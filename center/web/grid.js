// 网格监管: the district / town figures of the 安责险 grid platform (/api/grid/overview): coverage by
// 镇街 and industry, risk levels and their 8-week trend, services done vs due, overdue tasks, the
// rectification rate, claims, complaints past their deadline, and each enterprise (a link to its file).
"use strict";

const { el } = PG;
const $ = (id) => document.getElementById(id);
const pct = (v) => (v === null || v === undefined ? "–" : `${(v * 100).toFixed(1)}%`);
const money = (v) => `¥${Number(v).toLocaleString("zh-CN")}`;

function figure(label, value, sub, bad) {
  const box = el("div", "figure");
  box.append(el("span", "note", label), el("strong", bad ? "bad" : null, value));
  if (sub) box.append(el("span", "note", sub));
  return box;
}

function table(id, head, rows, empty) {
  const t = $(id);
  t.replaceChildren();
  const tr = el("tr");
  for (const h of head) tr.append(el("th", null, h));
  const thead = el("thead");
  thead.append(tr);
  const body = el("tbody");
  for (const r of rows) {
    const row = el("tr");
    for (const c of r) row.append(c instanceof Node ? c : el("td", null, String(c)));
    body.append(row);
  }
  if (!rows.length) {
    const row = el("tr");
    const td = el("td", "empty", empty);
    td.colSpan = head.length;
    row.append(td);
    body.append(row);
  }
  t.append(thead, body);
}

function link(id, name) {
  const td = el("td");
  const a = el("a", null, name);
  a.href = `/enterprises/${encodeURIComponent(id)}`;
  td.append(a);
  return td;
}

function bar(levels) {
  const total = levels.reduce((n, l) => n + l.count, 0);
  const b = el("div", "bar");
  for (const l of levels) {
    if (!l.count) continue;
    const s = el("span", `level-${l.level}`);
    s.style.flex = String(l.count);
    s.title = `${l.level_label} ${l.count}`;
    b.append(s);
  }
  return [b, total];
}

function render(o) {
  $("scope-name").textContent = o.town_name || "全区";
  const f = $("figures");
  f.replaceChildren(
    figure("承保覆盖 Coverage", `${o.insured}/${o.enterprises}`, `覆盖率 ${pct(o.coverage)} · 参保 ${o.headcount} 人 · 保费 ${money(o.premium_cny)}`),
    figure("服务完成 Done vs due", `${o.services.done_of_due}/${o.services.due}`, `完成率 ${pct(o.services.rate)} · 计划内共 ${o.services.tasks} 次`),
    figure("逾期服务 Overdue", String(o.services.overdue), "未在应完成日期前完成", o.services.overdue > 0),
    figure("隐患整改率 Rectified", pct(o.hazards.rate), `已销号 ${o.hazards.closed}/${o.hazards.found} · 服务发现 ${o.hazards.from_services}`),
    figure("理赔 Claims", `${o.claims.open} 件在办`, `共 ${o.claims.total} 件 · 已赔 ${money(o.claims.paid_cny)}`),
    figure("超期投诉 Late complaints", String(o.complaints.late), `共 ${o.complaints.total} 件 · 待答复 ${o.complaints.open}`, o.complaints.late > 0),
    figure("回访满意度 Satisfaction", o.services.satisfaction === null ? "–" : `${o.services.satisfaction} / 5`, `回访 ${o.services.follow_ups} 次`),
  );
  const cov = (r) => [r.label, r.enterprises, r.insured, pct(r.enterprises ? r.insured / r.enterprises : null), r.headcount, money(r.premium_cny)];
  table("by-town", ["镇街", "企业", "在保", "覆盖率", "参保人数", "保费"], o.by_town.map(cov), "暂无企业");
  table("by-industry", ["行业", "企业", "在保", "覆盖率", "参保人数", "保费"], o.by_industry.map(cov), "暂无企业");
  const trend = $("trend");
  trend.replaceChildren();
  for (const p of [...o.trend, { day: `${o.as_of} 当前`, levels: o.levels }]) {
    const row = el("div", "trend-row");
    const [b, total] = bar(p.levels);
    row.append(el("span", null, p.day), b, el("span", "note", p.levels.map((l) => `${l.level_label}${l.count}`).join(" ") || `${total}`));
    trend.append(row);
  }
  const claims = $("claims");
  claims.replaceChildren();
  const dl = el("dl", "facts");
  for (const s of o.claims.by_status) PG.fact(dl, s.level_label, `${s.count} 件`);
  PG.fact(dl, "报损金额", money(o.claims.claimed_cny));
  PG.fact(dl, "定损金额", money(o.claims.assessed_cny));
  PG.fact(dl, "赔付金额", money(o.claims.paid_cny));
  claims.append(dl);
  table("overdue", ["企业", "保险公司", "服务项目", "应完成", "状态"],
    o.overdue_tasks.map((t) => [link(t.enterprise_id, t.enterprise_name), t.insurer_name, t.item_label, el("td", "late", t.due_date), t.status_label]),
    "没有逾期的服务任务");
  table("late", ["企业", "保险公司", "投诉日期", "答复期限", "状态"],
    o.late_complaints.map((c) => [link(c.enterprise_id, c.enterprise_name), c.insurer_name, c.filed_date, el("td", "late", c.deadline), c.status_label]),
    "没有超期的投诉");
  table("rows", ["企业", "镇街 · 片区", "行业", "在保", "风险等级", "服务 已完成/到期", "逾期", "未销号隐患", "在办理赔", "超期投诉"],
    o.rows.map((r) => {
      const lv = el("td");
      lv.append(r.level ? el("span", `level level-${r.level}`, r.level_label) : el("span", "note", "未评分"));
      return [link(r.enterprise_id, r.name), `${r.town_name} · ${r.grid_name || "–"}`, r.industry_label, r.insured ? "是" : "否", lv,
        `${r.tasks_done}/${r.tasks_due}`, el("td", r.tasks_overdue ? "late" : null, String(r.tasks_overdue)), r.open_hazards, r.open_claims,
        el("td", r.late_complaints ? "late" : null, String(r.late_complaints))];
    }), "暂无企业");
  $("note").textContent = `截至 ${o.as_of} · 服务任务按在保保单的计划统计`;
}

async function load() {
  const q = new URLSearchParams();
  if ($("town").value) q.set("town_id", $("town").value);
  if ($("as-of").value) q.set("as_of", $("as-of").value);
  const res = await PG.api(`/api/grid/overview?${q}`);
  if (!res.ok) {
    $("note").textContent = `加载失败：${await PG.errorText(res)}`;
    return;
  }
  render(await res.json());
}

(async () => {
  await PG.me();
  const towns = await (await PG.api("/api/towns")).json();
  PG.options($("town"), towns.map((t) => [t.id, t.name]), "全区（南海区）");
  $("town").addEventListener("change", load);
  $("as-of").addEventListener("change", load);
  await load();
})();
