// 通知设置: the outbox (sent / failed / attempts, retry), the channels (secrets only as the names
// of environment variables) and the routes (which alerts go where).
"use strict";

const { el } = PG;
const $ = (id) => document.getElementById(id);

const TYPES = [["email", "电子邮件"], ["wecom", "企业微信群机器人"], ["dingtalk", "钉钉群机器人"],
  ["feishu", "飞书群机器人"], ["sms", "短信网关"], ["webhook", "签名 Webhook"]];
const SEVERITIES = [["general", "一般"], ["significant", "较大"], ["major", "重大"]];
const STATES = [["pending", "待发送"], ["sending", "发送中"], ["sent", "已发送"], ["failed", "发送失败"],
  ["held", "待汇总"], ["digested", "已汇总发送"]];
const SEVERITY_NAMES = new Map(SEVERITIES);
let enterpriseNames = new Map();
let channels = [];
let may = new Set();

function note(text, bad = false) {
  $("note").textContent = text || "";
  $("note").classList.toggle("error", bad);
}

function cell(text, cls) {
  return el("td", cls, text === undefined || text === null || text === "" ? "–" : String(text));
}

function emptyRow(body, cols, text) {
  const tr = el("tr");
  const td = el("td", "empty", text);
  td.colSpan = cols;
  tr.append(td);
  body.append(tr);
}

async function loadOutbox() {
  const state = $("f-state").value;
  const q = new URLSearchParams({ limit: "100" });
  if (state) q.set("state", state);
  const [res, counts] = await Promise.all([PG.api(`/api/notify/notifications?${q}`), PG.api("/api/notify/notifications/count")]);
  if (!res.ok) { note(`读取发送情况失败：${await PG.errorText(res)}`, true); return; }
  if (counts.ok) {
    const c = await counts.json();
    $("counts").textContent = STATES.map(([k, label]) => `${label} ${c[k] || 0}`).join(" · ");
  }
  const body = $("outbox-rows");
  body.replaceChildren();
  for (const n of await res.json()) {
    const tr = el("tr");
    tr.dataset.state = n.state;
    const act = el("td");
    if (n.state === "failed" && may.has("retry_notification")) {
      const b = el("button", "btn", "重发");
      b.type = "button";
      b.addEventListener("click", async () => {
        const r = await PG.send(`/api/notify/notifications/${n.id}/retry`, "POST");
        note(r.ok ? "已重新排队发送" : `重发失败：${await PG.errorText(r)}`, !r.ok);
        loadOutbox();
      });
      act.append(b);
    }
    tr.append(cell(PG.time(n.created_at)), cell(n.kind_label), cell(n.channel_name), cell(n.recipient || "（群）"),
      cell(n.subject), cell(n.state_label, `state ${n.state}`), cell(n.attempts), cell(n.last_error, "error-text"), act);
    body.append(tr);
  }
  if (!body.children.length) emptyRow(body, 9, "没有通知");
}

function channelAddress(c) {
  if (c.type === "email") return c.smtp ? `${c.smtp.host}:${c.smtp.port}（${c.smtp.security}）` : "";
  return c.url || "";
}

async function loadChannels() {
  const res = await PG.api("/api/notify/channels");
  if (!res.ok) { note(`读取渠道失败：${await PG.errorText(res)}`, true); return; }
  const list = await res.json();
  channels = list.map((x) => x.channel);
  const body = $("channel-rows");
  body.replaceChildren();
  for (const x of list) {
    const c = x.channel;
    const secrets = Object.entries(x.secrets_set).map(([k, ok]) => `${k}${ok ? " ✓" : "（未设置）"}`).join("，");
    const edit = el("td");
    if (may.has("put_notify_channel")) {
      const b = el("button", "btn", "编辑");
      b.type = "button";
      b.addEventListener("click", () => fillChannel(c));
      edit.append(b);
    }
    const tr = el("tr");
    body.append(tr);
    tr.append(cell(c.name), cell(x.type_label), cell(c.enabled ? "是" : "否"), cell(channelAddress(c), "mono"),
      cell(secrets), edit);
  }
  if (!list.length) emptyRow(body, 6, "尚未登记渠道");
  PG.options($("r-channel"), channels.map((c) => [c.id, c.name]));
}

function fillChannel(c) {
  const f = $("channel-form");
  for (const name of ["id", "name", "type", "url", "token_env", "secret_env"]) f.elements[name].value = c[name] || "";
  f.elements.enabled.checked = c.enabled;
  f.elements.extra.value = c.smtp ? JSON.stringify(c.smtp) : c.sms_body ? JSON.stringify(c.sms_body) : "";
}

function routeWhen(r) {
  const parts = [];
  if (r.enterprises.length) parts.push(`企业：${r.enterprises.map((id) => enterpriseNames.get(id) || id).join("、")}`);
  if (r.severities.length) parts.push(`程度：${r.severities.map((s) => SEVERITY_NAMES.get(s) || s).join("、")}`);
  if (r.rule_types.length) parts.push(`规则：${r.rule_types.length} 类`);
  if (r.cameras.length) parts.push(`摄像头：${r.cameras.length} 个`);
  if (r.hours) parts.push(`时段 ${r.hours}`);
  return parts.join("；") || "全部告警";
}

async function loadRoutes() {
  const res = await PG.api("/api/notify/routes");
  if (!res.ok) { note(`读取路由失败：${await PG.errorText(res)}`, true); return; }
  const body = $("route-rows");
  body.replaceChildren();
  const list = await res.json();
  for (const x of list) {
    const r = x.route;
    const opts = [r.enabled ? "启用" : "停用", r.quiet_hours ? `免打扰 ${r.quiet_hours}` : "", r.digest ? "每日汇总" : ""].filter(Boolean);
    const act = el("td");
    if (may.has("put_notify_route")) {
      const b = el("button", "btn", "编辑");
      b.type = "button";
      b.addEventListener("click", () => fillRoute(r));
      act.append(b);
    }
    if (may.has("delete_notify_route")) {
      const d = el("button", "btn", "删除");
      d.type = "button";
      d.addEventListener("click", async () => {
        const resp = await PG.api(`/api/notify/routes/${encodeURIComponent(r.id)}`, { method: "DELETE" });
        note(resp.ok ? `已删除路由 ${r.name}` : `删除失败：${await PG.errorText(resp)}`, !resp.ok);
        loadRoutes();
      });
      act.append(d);
    }
    const tr = el("tr");
    tr.append(cell(r.name), cell(x.channel_name), cell(routeWhen(r)), cell(r.recipients.join("，") || "（群）"), cell(opts.join("，")), act);
    body.append(tr);
  }
  if (!list.length) emptyRow(body, 6, "尚未设置路由");
}

function fillRoute(r) {
  const f = $("route-form");
  for (const name of ["id", "name", "channel", "hours", "quiet_hours", "subject_template"]) f.elements[name].value = r[name] || "";
  f.elements.recipients.value = r.recipients.join(", ");
  f.elements.enabled.checked = r.enabled;
  f.elements.digest.checked = r.digest;
  for (const o of $("r-enterprises").options) o.selected = r.enterprises.includes(o.value);
  for (const o of $("r-severities").options) o.selected = r.severities.includes(o.value);
}

function blankToNull(v) {
  return v && v.trim() ? v.trim() : null;
}

async function saveChannel(ev) {
  ev.preventDefault();
  const f = ev.target;
  const body = {
    id: f.elements.id.value.trim(), name: f.elements.name.value.trim(), type: f.elements.type.value,
    enabled: f.elements.enabled.checked, url: blankToNull(f.elements.url.value),
    token_env: blankToNull(f.elements.token_env.value), secret_env: blankToNull(f.elements.secret_env.value),
  };
  if (f.elements.extra.value.trim()) {
    let extra;
    try { extra = JSON.parse(f.elements.extra.value); } catch (err) { note(`JSON 格式错误：${err.message}`, true); return; }
    body[body.type === "email" ? "smtp" : "sms_body"] = extra;
  }
  const res = await PG.send(`/api/notify/channels/${encodeURIComponent(body.id)}`, "PUT", body);
  note(res.ok ? `已保存渠道 ${body.name}` : `保存失败：${await PG.errorText(res)}`, !res.ok);
  if (res.ok) loadChannels();
}

async function saveRoute(ev) {
  ev.preventDefault();
  const f = ev.target;
  const selected = (sel) => Array.from(sel.selectedOptions).map((o) => o.value);
  const body = {
    id: f.elements.id.value.trim(), name: f.elements.name.value.trim(), channel: f.elements.channel.value,
    enabled: f.elements.enabled.checked, digest: f.elements.digest.checked,
    recipients: f.elements.recipients.value.split(/[,，\s]+/).map((s) => s.trim()).filter(Boolean),
    enterprises: selected($("r-enterprises")), severities: selected($("r-severities")),
    hours: blankToNull(f.elements.hours.value), quiet_hours: blankToNull(f.elements.quiet_hours.value),
    subject_template: blankToNull(f.elements.subject_template.value),
  };
  const res = await PG.send(`/api/notify/routes/${encodeURIComponent(body.id)}`, "PUT", body);
  note(res.ok ? `已保存路由 ${body.name}` : `保存失败：${await PG.errorText(res)}`, !res.ok);
  if (res.ok) loadRoutes();
}

async function init() {
  may = new Set((await PG.me()).may || []);
  const ents = await PG.api("/api/enterprises?limit=1000");
  const items = ents.ok ? (await ents.json()).items : [];
  enterpriseNames = new Map(items.map((e) => [e.id, e.name]));
  PG.options($("r-enterprises"), items.map((e) => [e.id, e.name]));
  PG.options($("r-severities"), SEVERITIES);
  PG.options($("c-type"), TYPES);
  PG.options($("f-state"), STATES, "全部状态");
  $("f-state").addEventListener("change", loadOutbox);
  $("channel-form").addEventListener("submit", saveChannel);
  $("route-form").addEventListener("submit", saveRoute);
  $("channel-form").hidden = !may.has("put_notify_channel");
  $("route-form").hidden = !may.has("put_notify_route");
  await Promise.all([loadChannels(), loadOutbox()]);
  await loadRoutes();
}

init().catch((err) => note(err.message, true));
