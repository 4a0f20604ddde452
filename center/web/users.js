// 用户管理: every account with its role and what it is linked to (an enterprise, an insurer, an
// edge node); create one, disable or enable it, reset its password. The center's reason is
// shown when it refuses (a taken name, a weak password …).
"use strict";

const { el } = PG;

const ROLES = [
  ["operator", "管控中心值班员"], ["enterprise", "企业安全员"], ["government", "政府监管"],
  ["insurer", "保险公司"], ["service", "第三方服务人员"], ["admin", "系统管理员"], ["edge", "边缘节点"],
];
const ROLE_NAMES = new Map(ROLES);

let enterprises = new Map();
let insurers = new Map();
let myName = "";

const $ = (id) => document.getElementById(id);

function note(text, bad = false) {
  $("note").textContent = text || "";
  $("note").classList.toggle("error", bad);
}

function linked(u) {
  if (u.enterprise_id) return `企业：${enterprises.get(u.enterprise_id) || u.enterprise_id}`;
  if (u.insurer_id) return `保险公司：${insurers.get(u.insurer_id) || u.insurer_id}`;
  if (u.node) return `边缘节点：${u.node}`;
  return "–";
}

async function patch(u, body, done) {
  const res = await PG.send(`/api/users/${u.id}`, "PATCH", body);
  if (!res.ok) {
    note(`${u.username}：${await PG.errorText(res)}`, true);
    return false;
  }
  note(done);
  await load();
  return true;
}

function resetForm(u, td) {
  const form = el("form", "inline-form");
  const input = el("input");
  input.type = "password";
  input.placeholder = "新密码";
  input.required = true;
  input.maxLength = 256;
  input.autocomplete = "new-password";
  input.setAttribute("aria-label", `${u.username} 的新密码`);
  const ok = el("button", "btn primary", "确定");
  ok.type = "submit";
  const cancel = el("button", "btn", "取消");
  cancel.type = "button";
  form.append(input, ok, cancel);
  const before = [...td.childNodes];
  td.replaceChildren(form);
  input.focus();
  cancel.addEventListener("click", () => td.replaceChildren(...before));
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    ok.disabled = true;
    const done = await patch(u, { password: input.value }, `已重置 ${u.username} 的密码`);
    ok.disabled = false;
    if (!done) input.select();
  });
}

function actions(u) {
  const td = el("td", "actions");
  const toggle = el("button", u.active ? "btn danger" : "btn", u.active ? "停用" : "启用");
  toggle.type = "button";
  toggle.dataset.action = u.active ? "disable" : "enable";
  if (u.username === myName) {
    toggle.disabled = true;
    toggle.title = "不能停用自己的账号";
  }
  toggle.addEventListener("click", () => {
    if (u.active && !confirm(`停用账号 ${u.username}？其登录会话将失效。`)) return;
    patch(u, { active: !u.active }, `${u.username} 已${u.active ? "停用" : "启用"}`);
  });
  const reset = el("button", "btn", "重置密码");
  reset.type = "button";
  reset.dataset.action = "reset";
  reset.addEventListener("click", () => resetForm(u, td));
  td.append(toggle, reset);
  return td;
}

async function load() {
  const res = await PG.api("/api/users?limit=1000");
  if (!res.ok) {
    note(`加载失败：${await PG.errorText(res)}`, true);
    return;
  }
  const page = await res.json();
  const body = $("user-rows");
  body.replaceChildren();
  for (const u of page.items) {
    const tr = el("tr", u.active ? "" : "inactive");
    tr.dataset.username = u.username;
    const state = el("td");
    state.append(el("span", u.active ? "pill ok" : "pill off", u.active ? "正常" : "已停用"));
    tr.append(
      el("td", "mono", u.username), el("td", null, u.display_name || "–"),
      el("td", null, ROLE_NAMES.get(u.role) || u.role), el("td", null, linked(u)), state,
      el("td", null, PG.time(u.created_at)), actions(u),
    );
    body.append(tr);
  }
  $("count").textContent = `共 ${page.total} 个账号`;
}

function roleChanged() {
  const role = $("u-role").value;
  $("u-enterprise-box").hidden = role !== "enterprise";
  $("u-insurer-box").hidden = role !== "insurer";
  $("u-enterprise").required = role === "enterprise";
  $("u-insurer").required = role === "insurer";
}

async function create(ev) {
  ev.preventDefault();
  const error = $("create-error");
  error.textContent = "";
  const role = $("u-role").value;
  const body = {
    username: $("u-username").value.trim(),
    display_name: $("u-display").value.trim(),
    role,
    password: $("u-password").value,
  };
  if (role === "enterprise") body.enterprise_id = $("u-enterprise").value;
  if (role === "insurer") body.insurer_id = $("u-insurer").value;
  const res = await PG.send("/api/users", "POST", body);
  if (!res.ok) {
    error.textContent = await PG.errorText(res);
    return;
  }
  $("create-form").reset();
  roleChanged();
  note(`已创建账号 ${body.username}`);
  await load();
}

async function init() {
  const me = await PG.me();
  myName = me.username;
  const [ents, ins] = await Promise.all([PG.api("/api/enterprises?limit=1000"), PG.api("/api/insurers")]);
  if (ents.ok) for (const e of (await ents.json()).items) enterprises.set(e.id, e.name);
  if (ins.ok) for (const i of await ins.json()) insurers.set(i.id, i.name);
  PG.options($("u-role"), ROLES.filter(([r]) => r !== "edge"));
  PG.options($("u-enterprise"), [...enterprises], "请选择企业");
  PG.options($("u-insurer"), [...insurers], "请选择保险公司");
  $("u-role").addEventListener("change", roleChanged);
  roleChanged();
  $("create-form").addEventListener("submit", create);
  await load();
}

init().catch((err) => note(err.message, true));
