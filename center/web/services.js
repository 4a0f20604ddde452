// 安责险服务: each role's part of the AQ 9010 service loop. Plans (items, done vs due), tasks (book,
// confirm a record, archive, rate a follow-up), follow-ups, complaints (raise, extend, answer, close)
// and claims (report, advance), as the API scopes them; an insurer sees its obligations' figures on
// top. Buttons only for what the caller may do (me.may); the center answers 409 with the reason.
"use strict";

const { el } = PG;
const $ = (id) => document.getElementById(id);
const state = { tab: "plans", me: null };
const money = (v) => (v === null || v === undefined ? "–" : `¥${Number(v).toLocaleString("zh-CN")}`);
const may = (route) => (state.me.may || []).includes(route);

function note(text, bad) {
  $("note").textContent = text || "";
  $("note").classList.toggle("error", Boolean(bad));
}

function table(head, rows, empty) {
  const t = $("list");
  t.replaceChildren();
  const tr = el("tr");
  for (const h of head) tr.append(el("th", null, h));
  const thead = el("thead");
  thead.append(tr);
  const body = el("tbody");
  for (const r of rows) {
    const row = el("tr");
    for (const c of r) row.append(c instanceof Node ? c : el("td", null, c === null || c === undefined ? "–" : String(c)));
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

function button(text, onClick, cls = "btn small") {
  const b = el("button", cls, text);
  b.type = "button";
  b.addEventListener("click", async () => {
    b.disabled = true;
    try {
      await onClick();
    } catch (err) {
      note(err.message, true);
    }
    b.disabled = false;
  });
  return b;
}

async function act(path, body, done) {
  const res = await PG.send(path, "POST", body);
  if (!res.ok) throw new Error(await PG.errorText(res));
  // the note comes once the list is drawn again: nobody acts on a row that is about to be replaced
  if (await load()) note(done);
}

function actions(...buttons) {
  const td = el("td");
  td.append(...buttons.filter(Boolean));
  return td;
}

async function getJson(path) {
  const res = await PG.api(path);
  if (!res.ok) throw new Error(await PG.errorText(res));
  return res.json();
}

async function showPlan(id) {
  const p = await getJson(`/api/service-plans/${id}`);
  const box = $("detail");
  box.replaceChildren(el("h3", null, `服务计划：${p.enterprise_name}（${p.policy_no}，${p.start_date} 至 ${p.end_date}）`));
  const dl = el("dl", "facts");
  PG.fact(dl, "保险公司", p.insurer_name);
  PG.fact(dl, "服务机构", p.org_name);
  PG.fact(dl, "预期目标", p.goals);
  PG.fact(dl, "完成情况", `已完成 ${p.done} · 已到期 ${p.due} · 逾期 ${p.overdue} · 共 ${p.tasks} 次`);
  box.append(dl);
  const t = el("table", "list");
  const head = el("tr");
  for (const h of ["服务项目", "频次", "服务人员", "措施", "已完成"]) head.append(el("th", null, h));
  t.append(head);
  for (const i of p.items) {
    const tr = el("tr");
    for (const v of [i.item_label, `${i.times} 次/期`, i.staff_name || "–", i.measures || "–", `${i.done}/${i.times}`]) tr.append(el("td", null, v));
    t.append(tr);
  }
  box.append(t);
}

const TABS = {
  async plans() {
    const out = await getJson("/api/service-plans?limit=200");
    table(["企业", "保险公司", "保单 · 期间", "服务机构", "完成情况", "逾期", ""],
      out.items.map((p) => [p.enterprise_name, p.insurer_name, `${p.policy_no} · ${p.start_date}至${p.end_date}`, p.org_name,
        `已完成 ${p.done} · 已到期 ${p.due} · 共 ${p.tasks}`, el("td", p.overdue ? "late" : null, String(p.overdue)),
        actions(button("查看计划", () => showPlan(p.id)))]),
      "暂无服务计划");
  },
  async tasks() {
    const out = await getJson("/api/service-tasks?limit=300");
    table(["企业", "保险公司", "服务项目", "应完成", "状态", "服务人员", "服务记录", "满意度", ""],
      out.items.map((t) => {
        const st = el("td", t.overdue ? "late" : null, t.overdue ? `${t.status_label}（逾期）` : t.status_label);
        const buttons = [];
        if (t.status === "done" && may("confirm_service_task")) buttons.push(button("确认服务记录", () => act(`/api/service-tasks/${t.id}/confirm`, {}, "已确认")));
        if (t.status === "confirmed" && may("archive_service_task")) buttons.push(button("归档", () => act(`/api/service-tasks/${t.id}/archive`, {}, "已归档")));
        if (["done", "confirmed", "archived"].includes(t.status) && t.satisfaction === null && may("follow_up_service_task")) {
          const sel = el("select");
          PG.options(sel, [["5", "5 很满意"], ["4", "4 满意"], ["3", "3 一般"], ["2", "2 不满意"], ["1", "1 很不满意"]]);
          sel.setAttribute("aria-label", "满意度");
          const opinion = el("input");
          opinion.placeholder = "意见（可选）";
          opinion.maxLength = 2000;
          buttons.push(sel, opinion, button("回访评价", () => act(`/api/service-tasks/${t.id}/follow-up`, { satisfaction: Number(sel.value), opinion: opinion.value.trim() }, "已记录回访")));
        }
        if (t.status === "planned" && may("book_service_task")) {
          const d = el("input");
          d.type = "date";
          d.value = PG.day(Date.now() + 3 * 86400000);
          buttons.push(d, button("预约", () => act(`/api/service-tasks/${t.id}/book`, { date: d.value }, "已预约")));
        }
        return [t.enterprise_name, t.insurer_name, `${t.item_label}（第${t.seq}次）`, t.due_date, st, t.staff_name || "–",
          t.record || (t.booked_date ? `预约 ${t.booked_date}` : "–"), t.satisfaction ? `${t.satisfaction} / 5` : "–", actions(...buttons)];
      }), "暂无服务任务");
  },
  async followups() {
    const out = await getJson("/api/follow-ups?limit=300");
    table(["企业", "保险公司", "服务项目", "满意度", "意见", "时间"],
      out.items.map((f) => [f.enterprise_name, f.insurer_name, f.item_label, `${f.satisfaction} / 5`, f.opinion || "–", PG.time(f.created_at)]),
      "暂无回访记录");
  },
  async complaints() {
    const out = await getJson("/api/complaints?limit=300");
    table(["企业", "被投诉保险公司", "投诉内容", "投诉日期", "答复期限", "状态", "答复", ""],
      out.items.map((c) => {
        const buttons = [];
        if (c.status === "open" && may("answer_complaint")) {
          const a = el("input");
          a.placeholder = "答复内容";
          a.maxLength = 2000;
          buttons.push(a, button("答复", () => act(`/api/complaints/${c.id}/answer`, { answer: a.value.trim() }, "已答复")));
          if (!c.complex && may("extend_complaint")) buttons.push(button("认定复杂投诉（30个工作日）", () => act(`/api/complaints/${c.id}/extend`, { reason: "情况复杂，需进一步核实" }, "已延长答复期限")));
        }
        if (c.status === "answered" && may("close_complaint")) buttons.push(button("办结", () => act(`/api/complaints/${c.id}/close`, {}, "已办结")));
        return [c.enterprise_name, c.insurer_name, c.text, c.filed_date,
          el("td", c.late ? "late" : null, `${c.deadline}${c.complex ? "（复杂）" : ""}${c.late ? " 超期" : ""}`),
          c.status_label, c.answer || "–", actions(...buttons)];
      }), "暂无投诉");
  },
  async claims() {
    const out = await getJson("/api/claims?limit=300");
    const next = { reported: ["surveyed", "查勘"], surveyed: ["assessed", "定损"], assessed: ["paid", "赔付"] };
    table(["报案号", "企业", "保险公司", "事故日期", "事故经过", "状态", "报损/定损/赔付", "已用天数", ""],
      out.items.map((c) => {
        const buttons = [];
        if (next[c.status] && may("advance_claim")) {
          const [to, text] = next[c.status];
          const amount = el("input");
          amount.type = "number";
          amount.min = "0";
          amount.placeholder = "金额（元）";
          if (to !== "surveyed") buttons.push(amount);
          buttons.push(button(text, () => act(`/api/claims/${c.id}/advance`, to === "surveyed" ? { to } : { to, amount_cny: Number(amount.value) }, `已${text}`)));
          buttons.push(button("拒赔", () => act(`/api/claims/${c.id}/advance`, { to: "rejected", note: "不属于保险责任范围" }, "已拒赔")));
        }
        return [c.claim_no, c.enterprise_name, c.insurer_name, c.accident_date, c.accident, c.status_label,
          `${money(c.claimed_cny)} / ${money(c.assessed_cny)} / ${money(c.paid_cny)}`, c.days_open, actions(...buttons)];
      }), "暂无理赔");
  },
};

const CSV = {
  plans: "/api/service-plans?format=csv",
  tasks: "/api/service-tasks?format=csv",
  followups: "/api/follow-ups?format=csv",
  complaints: "/api/complaints?format=csv",
  claims: "/api/claims?format=csv",
};

async function obligations() {
  if (!may("insurer_obligations")) return;
  const o = await getJson("/api/grid/insurer");
  const box = $("obligations");
  const fig = (label, value, sub, bad) => {
    const d = el("div", "figure");
    d.append(el("span", "note", label), el("strong", bad ? "bad" : null, value));
    if (sub) d.append(el("span", "note", sub));
    return d;
  };
  box.replaceChildren(
    fig("在保保单", `${o.policies} 份`, `${o.enterprises} 家企业 · 保费 ${money(o.premium_cny)}`),
    fig("服务完成", `${o.services.done_of_due}/${o.services.due}`, `无计划保单 ${o.without_plan} 份`),
    fig("逾期服务", String(o.services.overdue), o.by_item.filter((i) => i.overdue).map((i) => `${i.item_label} ${i.overdue}`).join("，") || "无", o.services.overdue > 0),
    fig("理赔", `${o.claims.open} 件在办`, `已赔 ${money(o.claims.paid_cny)}`),
    fig("投诉", `${o.complaints.open} 件待答复`, `超期 ${o.complaints.late} 件`, o.complaints.late > 0),
    fig("回访满意度", o.services.satisfaction === null ? "–" : `${o.services.satisfaction} / 5`, `回访 ${o.services.follow_ups} 次`),
  );
  box.hidden = false;
}

async function forms() {
  const box = $("forms");
  box.replaceChildren();
  if (may("create_complaint") && state.me.enterprise_id) {
    const policies = (await getJson(`/api/policies?enterprise_id=${encodeURIComponent(state.me.enterprise_id)}&limit=50`)).items
      .sort((a, b) => b.start_date.localeCompare(a.start_date)); // the newest policy first
    const insurers = [...new Map(policies.map((p) => [p.insurer_id, p.insurer_name || p.insurer_id])).entries()];
    const f = el("form");
    const ins = el("select");
    PG.options(ins, insurers);
    const text = el("input");
    text.placeholder = "投诉内容，例：约定的隐患排查未上门";
    text.maxLength = 2000;
    text.required = true;
    const send = el("button", "btn", "提交投诉");
    send.type = "submit";
    f.append(el("strong", null, "投诉 Complaint"), ins, text, send);
    f.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      try {
        await act("/api/complaints", { insurer_id: ins.value, text: text.value.trim() }, "已提交投诉，保险公司须在10个工作日内答复");
      } catch (err) { note(err.message, true); }
    });
    const c = el("form");
    const pol = el("select");
    PG.options(pol, policies.map((p) => [String(p.id), `${p.policy_no}（${p.start_date}至${p.end_date}）`]));
    const day = el("input");
    day.type = "date";
    day.value = PG.day(Date.now());
    const what = el("input");
    what.placeholder = "事故经过";
    what.maxLength = 2000;
    const amount = el("input");
    amount.type = "number";
    amount.min = "0";
    amount.placeholder = "报损金额（元）";
    const go = el("button", "btn", "报案");
    go.type = "submit";
    c.append(el("strong", null, "理赔报案 Claim"), pol, day, what, amount, go);
    c.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      try {
        await act("/api/claims", { policy_id: Number(pol.value), accident_date: day.value, accident: what.value.trim(), claimed_cny: Number(amount.value || 0) }, "已报案");
      } catch (err) { note(err.message, true); }
    });
    const link = el("a", "btn", "提出服务需求 →");
    link.href = `/e/${encodeURIComponent(state.me.enterprise_id)}`;
    box.append(f, c, link);
    box.hidden = false;
  }
}

async function load() {
  for (const b of document.querySelectorAll("#tabs button")) b.setAttribute("aria-pressed", String(b.dataset.tab === state.tab));
  $("csv").href = CSV[state.tab];
  $("detail").replaceChildren();
  try {
    await TABS[state.tab]();
    return true;
  } catch (err) {
    note(`加载失败：${err.message}`, true);
    return false;
  }
}

(async () => {
  state.me = await PG.me();
  for (const b of document.querySelectorAll("#tabs button")) {
    b.addEventListener("click", () => {
      state.tab = b.dataset.tab;
      note("");
      load();
    });
  }
  if (location.hash.slice(1) in TABS) state.tab = location.hash.slice(1);
  await Promise.all([obligations(), forms()]);
  await load();
})();
