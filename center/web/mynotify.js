// 我的通知: which of my own addresses (e-mail, SMS) get which alerts and hazard reminders; only
// alerts of the enterprises my role lets me see reach me. The recent ones sent to me.
"use strict";

const { el } = PG;
const $ = (id) => document.getElementById(id);
const SEVERITIES = [["general", "一般"], ["significant", "较大"], ["major", "重大"]];

function note(text, bad = false) {
  $("note").textContent = text || "";
  $("note").classList.toggle("error", bad);
}

function render(mine) {
  $("scope").textContent = `可接收：${mine.scope}`;
  const byChannel = new Map(mine.items.map((s) => [s.channel, s]));
  const body = $("sub-rows");
  body.replaceChildren();
  for (const c of mine.channels) {
    const s = byChannel.get(c.id) || { address: "", severities: [], hazards: true, enabled: false };
    const tr = el("tr");
    tr.dataset.channel = c.id;
    const addr = el("input");
    addr.name = "address";
    addr.maxLength = 254;
    addr.value = s.address;
    addr.placeholder = c.type === "email" ? "name@example.cn" : "13800138000";
    const sev = el("select");
    sev.name = "severities";
    sev.multiple = true;
    sev.size = 3;
    PG.options(sev, SEVERITIES);
    for (const o of sev.options) o.selected = s.severities.includes(o.value);
    const hz = el("input");
    hz.type = "checkbox";
    hz.name = "hazards";
    hz.checked = s.hazards;
    const on = el("input");
    on.type = "checkbox";
    on.name = "enabled";
    on.checked = s.enabled;
    const tds = [el("td", null, `${c.name}（${c.type_label}）`), el("td"), el("td"), el("td"), el("td")];
    tds[1].append(addr);
    tds[2].append(sev);
    tds[3].append(hz);
    tds[4].append(on);
    tr.append(...tds);
    body.append(tr);
  }
  if (!mine.channels.length) {
    const tr = el("tr");
    const td = el("td", "empty", "管理员尚未开通电子邮件或短信渠道");
    td.colSpan = 5;
    tr.append(td);
    body.append(tr);
  }
  const recent = $("recent-rows");
  recent.replaceChildren();
  for (const n of mine.recent) {
    const tr = el("tr");
    tr.append(el("td", null, PG.time(n.created_at)), el("td", null, n.subject), el("td", null, n.channel_name),
      el("td", `state ${n.state}`, n.state_label));
    recent.append(tr);
  }
}

async function load() {
  const res = await PG.api("/api/notify/me");
  if (!res.ok) { note(`读取失败：${await PG.errorText(res)}`, true); return; }
  render(await res.json());
}

async function save(ev) {
  ev.preventDefault();
  const items = [];
  for (const tr of $("sub-rows").querySelectorAll("tr[data-channel]")) {
    const address = tr.querySelector("[name=address]").value.trim();
    if (!address) continue;
    items.push({
      channel: tr.dataset.channel, address,
      severities: Array.from(tr.querySelector("[name=severities]").selectedOptions).map((o) => o.value),
      hazards: tr.querySelector("[name=hazards]").checked, enabled: tr.querySelector("[name=enabled]").checked,
    });
  }
  const res = await PG.send("/api/notify/me", "PUT", { items });
  if (!res.ok) { note(`保存失败：${await PG.errorText(res)}`, true); return; }
  render(await res.json());
  note("已保存");
}

async function init() {
  const me = await PG.me();
  const may = new Set(me.may || []);
  $("subs-form").addEventListener("submit", save);
  $("subs-form").querySelector("button").hidden = !may.has("put_my_notifications");
  await load();
}

init().catch((err) => note(err.message, true));
