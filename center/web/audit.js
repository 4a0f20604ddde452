// 审计日志: every change and every read of evidence, newest first; filtered by user, action,
// object and time, a page at a time.
"use strict";

const { el } = PG;

const PAGE = 50;
const ACTIONS = [
  ["login", "登录"], ["logout", "退出"], ["create_user", "创建用户"], ["update_user", "修改用户"],
  ["acknowledge_alert", "确认告警"], ["dismiss_alert", "误报"], ["escalate_alert", "告警转隐患"],
  ["create_hazard", "登记隐患"], ["update_hazard", "修改隐患"], ["start_hazard", "开始整改"],
  ["submit_hazard", "提交整改"], ["approve_hazard", "复核销号"], ["reject_hazard", "退回整改"],
  ["upload_evidence", "上传证据"], ["upload_photo", "上传照片"], ["read_evidence", "查看证据"],
  ["create_enterprise", "登记企业"], ["update_enterprise", "修改企业"], ["create_camera", "登记摄像头"],
  ["update_camera", "修改摄像头"], ["create_policy", "登记保单"], ["create_service", "登记服务"],
  ["create_service_request", "提交服务需求"], ["answer_service_request", "答复服务需求"],
  ["issue_report", "出具风险诊断报告"],
  ["set_node_config", "下发节点配置"], ["login_failed", "登录失败"], ["snapshot_risk", "风险评分快照"],
  ["notify_sent", "通知已发送"], ["notify_failed", "通知发送失败"], ["alert_escalation", "告警升级通知"],
  ["put_notify_channel", "修改通知渠道"], ["put_notify_route", "修改通知路由"], ["delete_notify_route", "删除通知路由"],
  ["retry_notification", "重发通知"], ["put_my_notifications", "修改我的通知"],
];
const ACTION_NAMES = new Map(ACTIONS);
const ROLE_NAMES = {
  system: "系统", admin: "系统管理员", operator: "值班员", government: "政府监管", enterprise: "企业安全员", insurer: "保险公司", edge: "边缘节点",
};

let offset = 0;
let people = new Map(); // username → display name

const $ = (id) => document.getElementById(id);

function note(text, bad = false) {
  $("note").textContent = text || "";
  $("note").classList.toggle("error", bad);
}

function params() {
  const p = new URLSearchParams({ limit: String(PAGE), offset: String(offset) });
  for (const input of $("filters").querySelectorAll("select, input")) {
    if (!input.name || !input.value.trim()) continue;
    p.set(input.name, input.value.trim()); // datetime-local: read in the park's time zone
  }
  return p;
}

function detailText(detail) {
  const parts = [];
  const LABELS = { note: "说明", after_evidence: "整改后照片", before_evidence: "整改前照片", hazard: "隐患", size: "大小" };
  for (const [key, v] of Object.entries(detail || {})) {
    const k = LABELS[key] || key;
    const files = Array.isArray(v) && v.every((x) => /^[0-9a-f]{64}$/.test(x));
    const text = files ? `${v.length} 个文件` : typeof v === "string" ? v : JSON.stringify(v);
    parts.push(`${k}: ${text.length > 80 ? `${text.slice(0, 80)}…` : text}`);
  }
  return parts.join("；");
}

async function load() {
  if ($("f-since").value && $("f-until").value && $("f-until").value < $("f-since").value) {
    note("结束时间早于开始时间", true);
    return;
  }
  const res = await PG.api(`/api/audit?${params()}`);
  if (!res.ok) {
    note(`查询失败：${await PG.errorText(res)}`, true);
    return;
  }
  const page = await res.json();
  const body = $("audit-rows");
  body.replaceChildren();
  for (const a of page.items) {
    const tr = el("tr");
    tr.dataset.action = a.action;
    const who = el("td", "who", people.get(a.username) || a.username);
    if (people.has(a.username)) who.append(el("small", "sub", a.username));
    const action = el("td", "action", ACTION_NAMES.get(a.action) || a.action);
    action.title = a.action;
    const detail = el("td", "detail-text", detailText(a.detail));
    detail.title = JSON.stringify(a.detail);
    tr.append(el("td", "time", PG.time(a.at)), who, el("td", null, ROLE_NAMES[a.role] || a.role || "–"), action,
      el("td", "mono target", a.target || "–"), detail, el("td", "mono", a.ip || "–"));
    body.append(tr);
  }
  if (!page.items.length) {
    const tr = el("tr");
    const td = el("td", "empty", "没有符合条件的记录");
    td.colSpan = 7;
    tr.append(td);
    body.append(tr);
  }
  const last = Math.min(page.offset + page.items.length, page.total);
  $("page-info").textContent = page.total ? `第 ${page.offset + 1}–${last} 条，共 ${page.total} 条` : "";
  $("prev").disabled = offset === 0;
  $("next").disabled = last >= page.total;
  note("");
}

async function init() {
  await PG.me();
  const res = await PG.api("/api/users?limit=1000");
  const users = res.ok ? (await res.json()).items : [];
  for (const u of users) if (u.display_name) people.set(u.username, u.display_name);
  PG.options($("f-user"), users.map((u) => [u.username, u.display_name ? `${u.display_name}（${u.username}）` : u.username]), "全部用户");
  PG.options($("f-action"), ACTIONS, "全部操作");
  const wanted = new URLSearchParams(location.search);
  for (const input of $("filters").querySelectorAll("select, input")) {
    if (input.name && wanted.get(input.name)) input.value = wanted.get(input.name);
  }
  $("filters").addEventListener("submit", (ev) => { ev.preventDefault(); offset = 0; load(); });
  for (const s of $("filters").querySelectorAll("select")) s.addEventListener("change", () => { offset = 0; load(); });
  $("prev").addEventListener("click", () => { offset = Math.max(0, offset - PAGE); load(); });
  $("next").addEventListener("click", () => { offset += PAGE; load(); });
  await load();
}

init().catch((err) => note(err.message, true));
