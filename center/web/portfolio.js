// 承保企业: the enterprises an insurer insures (its policies in force), each with its level, score,
// suggested premium coefficient, how they changed since 7 and 30 days ago, open hazards (counted)
// and the period's service records, sortable; a summary line above. The government and the admin
// choose the insurer (or all). No alert and no evidence here: insurers never get those.
"use strict";

const PERIODS = new Set([7, 30, 90]);
const PAGE = 200;
const { el } = PG;
const $ = (id) => document.getElementById(id);

const state = { days: 30, sort: "-score", insurer: "", offset: 0, many: false };

function note(text) {
  $("note").textContent = text || "";
}

function cell(cls, text) {
  return el("td", cls, text);
}

function levelBadge(level, label) {
  const span = el("span", level ? `level level-${level}` : "note", level ? label : "未评分");
  return span;
}

// "+11.9 ↑1级" : the score's change and the levels it moved (worse is red, better green)
function change(delta, levels, was, wasLabel) {
  const td = el("td", "num");
  if (delta === null || delta === undefined) {
    td.textContent = "–";
    td.title = "当日无评分记录";
    return td;
  }
  const sign = delta > 0 ? "+" : "";
  let text = `${sign}${delta.toFixed(1)}`;
  if (levels > 0) text += ` ↑${levels}级`;
  if (levels < 0) text += ` ↓${-levels}级`;
  td.textContent = text;
  if (levels > 0 || (levels === 0 && delta >= 5)) td.classList.add("worse");
  if (levels < 0 || (levels === 0 && delta <= -5)) td.classList.add("better");
  if (was) td.title = `当时：${wasLabel}级`;
  return td;
}

function summary(out) {
  const s = out.summary;
  const box = $("summary");
  box.replaceChildren();
  const part = (label, value, cls) => {
    const span = el("span", cls);
    span.append(`${label} `, el("strong", null, value));
    box.append(span);
    return span;
  };
  part("在保企业", `${s.enterprises} 家`).dataset.summary = "enterprises";
  part("保单", `${s.policies} 份`);
  const lv = el("span");
  lv.dataset.summary = "levels";
  for (const l of s.levels) {
    lv.append(el("span", `level level-${l.level}`, `${l.level_label} ${l.count}`), " ");
  }
  if (s.unscored) lv.append(el("span", "note", `未评分 ${s.unscored}`));
  box.append(lv);
  part("较7天前等级上升", `${s.worse_7d} 家`, s.worse_7d ? "worse" : "").dataset.summary = "worse_7d";
  part("较30天前上升", `${s.worse_30d} 家`, s.worse_30d ? "worse" : "").dataset.summary = "worse_30d";
  part("下降", `${s.better_30d} 家`);
  part("保费合计", `¥${s.premium_cny.toLocaleString("zh-CN")}`);
  part("平均建议系数", s.mean_coefficient === null ? "–" : s.mean_coefficient.toFixed(2));
}

function rows(out) {
  const body = $("portfolio-rows");
  body.replaceChildren();
  for (const r of out.items) {
    const tr = el("tr");
    tr.dataset.enterpriseId = r.enterprise_id;
    tr.dataset.policy = r.policy_no;
    const name = el("td");
    const link = el("a", null, r.name);
    link.href = `/enterprises/${encodeURIComponent(r.enterprise_id)}`; // its risk file (安全档案)
    name.append(link);
    if (r.town_name) name.append(el("small", "sub", ` ${r.town_name}`));
    const insurer = cell("insurer-col", r.insurer_name);
    insurer.hidden = !state.many;
    const level = el("td");
    level.append(levelBadge(r.level, r.level_label));
    const policy = cell("policy");
    policy.append(el("span", "mono", r.policy_no), el("small", "sub", `${r.start_date} 至 ${r.end_date}`));
    const premium = cell("num");
    premium.append(`${r.premium_cny.toLocaleString("zh-CN")} 元`, el("small", "sub", `${r.insured_headcount} 人`));
    const hazards = cell(r.overdue_hazards ? "num overdue" : "num", r.overdue_hazards ? `${r.open_hazards}（逾期 ${r.overdue_hazards}）` : String(r.open_hazards));
    tr.append(
      name, insurer, cell(null, r.industry_label), level,
      cell("num score", r.score === null ? "–" : r.score.toFixed(1)),
      cell("num", r.coefficient === null ? "–" : r.coefficient.toFixed(2)),
      change(r.change_7d, r.level_change_7d, r.level_7d, r.level_7d_label),
      change(r.change_30d, r.level_change_30d, r.level_30d, r.level_30d_label),
      hazards, cell("num", String(r.services)), policy, premium,
    );
    body.append(tr);
  }
  if (!out.items.length) {
    const tr = el("tr");
    const td = el("td", "empty", "暂无在保企业");
    td.colSpan = 12;
    tr.append(td);
    body.append(tr);
  }
  const last = Math.min(out.total, out.offset + out.items.length);
  $("pager-note").textContent = out.total > PAGE ? `第 ${out.offset + 1}–${last} 条，共 ${out.total} 条` : `共 ${out.total} 条`;
  $("prev").hidden = out.offset === 0;
  $("next").hidden = last >= out.total;
}

function marks() {
  for (const b of document.querySelectorAll("#period button")) {
    b.setAttribute("aria-pressed", String(Number(b.dataset.days) === state.days));
  }
  for (const th of document.querySelectorAll("#portfolio th.sortable")) {
    const key = th.dataset.sort;
    if (state.sort === key) th.setAttribute("aria-sort", "ascending");
    else if (state.sort === `-${key}`) th.setAttribute("aria-sort", "descending");
    else th.removeAttribute("aria-sort");
  }
  for (const th of document.querySelectorAll("th.insurer-col")) th.hidden = !state.many;
}

async function load() {
  marks();
  const q = new URLSearchParams({ days: state.days, sort: state.sort, limit: PAGE, offset: state.offset });
  if (state.insurer) q.set("insurer_id", state.insurer);
  const res = await PG.api(`/api/portfolio?${q}`);
  if (!res.ok) {
    note(`加载失败：${await PG.errorText(res)}`);
    return;
  }
  const out = await res.json();
  $("insurer-name").textContent = out.insurer_name || (state.many ? "全部保险公司" : "");
  summary(out);
  rows(out);
  note(`保单在保期内 · 服务记录按近 ${out.days} 天计 · 评分为每日快照 · 截至 ${PG.time(out.as_of)}`);
}

async function insurers(me) {
  const list = await (await PG.api("/api/insurers")).json();
  state.many = me.role !== "insurer";
  if (!state.many) return;
  const select = $("insurer");
  PG.options(select, list.map((i) => [i.id, i.name]), "全部保险公司");
  select.value = state.insurer;
  select.addEventListener("change", () => {
    state.insurer = select.value;
    state.offset = 0;
    load().catch((err) => note(err.message));
  });
  $("insurer-box").hidden = false;
}

function start() {
  const params = new URLSearchParams(location.search);
  const days = Number(params.get("days"));
  if (PERIODS.has(days)) state.days = days;
  state.insurer = params.get("insurer_id") || "";
  for (const b of document.querySelectorAll("#period button")) {
    b.addEventListener("click", () => {
      state.days = Number(b.dataset.days);
      load().catch((err) => note(err.message));
    });
  }
  for (const [id, step] of [["prev", -PAGE], ["next", PAGE]]) {
    $(id).addEventListener("click", () => {
      state.offset = Math.max(0, state.offset + step);
      load().catch((err) => note(err.message));
    });
  }
  for (const th of document.querySelectorAll("#portfolio th.sortable")) {
    th.addEventListener("click", () => {
      const key = th.dataset.sort;
      const text = key === "name" || key === "end_date";  // names and dates ascend first, figures descend
      state.sort = state.sort === (text ? key : `-${key}`) ? (text ? `-${key}` : key) : (text ? key : `-${key}`);
      state.offset = 0;
      load().catch((err) => note(err.message));
    });
  }
}

start();
PG.me()
  .then(async (me) => {
    await insurers(me);
    await load();
  })
  .catch((err) => note(err.message));
