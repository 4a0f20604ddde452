// 我的服务任务 (phone-sized): a 第三方服务人员's tasks. Book the visit with the enterprise (预约), then
// record it on site: what was done, photos from the phone's camera, hazards found (each goes into the
// enterprise's rectification loop). The center refuses a step the task's status does not allow (409).
"use strict";

const { el } = PG;
const $ = (id) => document.getElementById(id);
const state = { filter: "todo" };

function note(text, bad) {
  $("note").textContent = text || "";
  $("note").classList.toggle("error", Boolean(bad));
}

function hazardRow(box) {
  const row = el("div", "hazard-row");
  const title = el("input");
  title.placeholder = "隐患描述，例：配电箱未上锁";
  title.maxLength = 128;
  const level = el("select");
  PG.options(level, [["general", "一般隐患"], ["major", "重大隐患"]]);
  row.append(title, level);
  box.append(row);
}

function visitForm(t, card) {
  const f = el("form");
  const record = el("textarea");
  record.rows = 4;
  record.maxLength = 4000;
  record.required = true;
  record.placeholder = "服务记录：做了什么、发现了什么、给企业的建议";
  const photos = PG.photoInput("photos");
  const previews = el("div", "previews");
  photos.addEventListener("change", () => {
    previews.replaceChildren();
    for (const file of photos.files) {
      const img = el("img");
      img.alt = file.name;
      img.src = URL.createObjectURL(file);
      previews.append(img);
    }
  });
  const hazards = el("div", "hazards");
  const add = el("button", "btn small", "＋ 发现隐患");
  add.type = "button";
  add.addEventListener("click", () => hazardRow(hazards));
  const send = el("button", "btn primary", "提交服务记录");
  send.type = "submit";
  f.append(el("label", null, "服务记录"), record, el("label", null, "现场照片"), photos, previews, hazards, add, send);
  f.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    send.disabled = true;
    note("");
    try {
      const shas = await PG.uploadPhotos(photos.files);
      const found = [...hazards.querySelectorAll(".hazard-row")]
        .map((r) => ({ title: r.querySelector("input").value.trim(), level: r.querySelector("select").value }))
        .filter((h) => h.title);
      const res = await PG.send(`/api/service-tasks/${t.id}/record`, "POST", { record: record.value.trim(), photos: shas, hazards: found });
      if (!res.ok) throw new Error(await PG.errorText(res));
      note(`已提交：${t.enterprise_name} ${t.item_label}${found.length ? `，隐患 ${found.length} 项已推送企业整改` : ""}`);
      await load();
    } catch (err) {
      note(err.message, true);
      send.disabled = false;
    }
  });
  card.append(f);
}

function bookForm(t, card) {
  const f = el("form");
  const day = el("input");
  day.type = "date";
  day.value = t.booked_date || PG.day(Date.now() + 86400000);
  const memo = el("input");
  memo.placeholder = "与企业确认的情况，例：已电话联系安全主任";
  memo.maxLength = 2000;
  const send = el("button", "btn", t.status === "booked" ? "改约" : "预约上门");
  send.type = "submit";
  f.append(day, memo, send);
  f.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const res = await PG.send(`/api/service-tasks/${t.id}/book`, "POST", { date: day.value, note: memo.value.trim() });
    if (!res.ok) return note(await PG.errorText(res), true);
    note(`已预约 ${day.value}`);
    return load();
  });
  card.append(f);
}

function card(t) {
  const c = el("article", "task-card");
  c.dataset.id = t.id;
  c.append(el("h3", null, `${t.enterprise_name}`));
  c.append(el("p", null, `${t.item_label}（第${t.seq}次）· ${t.insurer_name}`));
  const status = el("p", t.overdue ? "late" : "note", `${t.status_label}${t.overdue ? "（逾期）" : ""} · 应于 ${t.due_date} 前完成${t.booked_date ? ` · 预约 ${t.booked_date}` : ""}`);
  c.append(status);
  if (t.enterprise_address) c.append(el("p", "note", t.enterprise_address));
  if (t.status === "planned" || t.status === "booked") bookForm(t, c);
  if (t.status === "booked") visitForm(t, c);
  if (t.record) c.append(el("p", null, `记录：${t.record}`));
  for (const h of t.hazards) c.append(el("p", "note", `隐患 ${h.code}：${h.title}（${h.status_label}）`));
  return c;
}

async function load() {
  for (const b of document.querySelectorAll("#filter button")) b.setAttribute("aria-pressed", String(b.dataset.f === state.filter));
  const res = await PG.api(`/api/my/service-tasks?show=${state.filter}&limit=200`);
  if (!res.ok) return note(await PG.errorText(res), true);
  const out = await res.json();
  const items = out.items;
  for (const b of document.querySelectorAll("#filter button")) {
    const n = { todo: out.todo, overdue: out.overdue, done: out.done }[b.dataset.f];
    b.textContent = `${{ todo: "待服务", overdue: "逾期", done: "待企业确认" }[b.dataset.f]} ${n}`;
  }
  const box = $("tasks");
  box.replaceChildren(...items.map(card));
  if (!items.length) box.append(el("p", "empty", "没有任务"));
  return null;
}

(async () => {
  await PG.me();
  for (const b of document.querySelectorAll("#filter button")) {
    b.addEventListener("click", () => {
      state.filter = b.dataset.f;
      load();
    });
  }
  await load();
})();
