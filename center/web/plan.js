// 园区底图: the admin uploads the park's plan (SVG, PNG or JPEG; the center refuses an unsafe SVG
// with the reason) and places each enterprise and camera on it: choose it in the list (or on the
// plan), then click where it stands. Positions are saved as 0–1 of the plan's width and height.
"use strict";

const { el } = PG;
const note = (text) => { document.getElementById("note").textContent = text || ""; };
let data = null;
let chosen = null; // {kind: "enterprise" | "camera", id, name}

function choose(item) {
  chosen = item;
  document.getElementById("chosen").textContent = item ? `已选：${item.name}（点击底图放置）` : "";
  for (const li of document.querySelectorAll(".pick li")) {
    li.classList.toggle("chosen", !!item && li.dataset.kind === item.kind && li.dataset.id === item.id);
  }
}

function list(id, items, kind, name, placed) {
  const ul = document.getElementById(id);
  ul.replaceChildren();
  for (const item of items) {
    const li = el("li", placed(item) ? null : "unplaced", name(item));
    li.dataset.kind = kind;
    li.dataset.id = kind === "enterprise" ? item.enterprise_id : item.camera;
    li.addEventListener("click", () => choose({ kind, id: li.dataset.id, name: name(item) }));
    ul.append(li);
  }
}

async function place(x, y) {
  if (!chosen) { note("请先在右侧列表或底图上选择企业或摄像头 (choose an item first)"); return; }
  const path = chosen.kind === "enterprise" ? `/api/enterprises/${encodeURIComponent(chosen.id)}` : `/api/cameras/${encodeURIComponent(chosen.id)}`;
  const res = await PG.send(path, "PATCH", { map_x: Math.round(x * 10000) / 10000, map_y: Math.round(y * 10000) / 10000 });
  if (!res.ok) {
    const body = await res.json().catch(() => ({}));
    note(`保存失败：${typeof body.detail === "string" ? body.detail : res.status}`);
    return;
  }
  note(`已放置 ${chosen.name}（${(x * 100).toFixed(1)}%, ${(y * 100).toFixed(1)}%）`);
  await load();
}

async function load() {
  const res = await PG.api("/api/plan");
  if (!res.ok) { note(`加载失败 (HTTP ${res.status})`); return; }
  data = await res.json();
  PlanMap.draw(document.getElementById("map"), data, {
    onPlan: place,
    onEnterprise: (e) => choose({ kind: "enterprise", id: e.enterprise_id, name: e.name }),
    onCamera: (c) => choose({ kind: "camera", id: c.camera, name: `${c.name} · ${PlanMap.shortName(c.enterprise_name)}` }),
  });
  list("pick-enterprises", data.enterprises, "enterprise", (e) => e.name, (e) => e.map_x !== null);
  list("pick-cameras", data.cameras, "camera", (c) => `${c.name} · ${PlanMap.shortName(c.enterprise_name)}`, (c) => c.map_x !== null);
  choose(chosen);
  document.getElementById("map").dataset.loaded = String(Date.now());
}

document.getElementById("upload").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const file = document.getElementById("plan-file").files[0];
  if (!file) return;
  if (file.size > 2 * 1024 * 1024) { note("文件超过 2 MiB (file over 2 MiB)"); return; }
  const res = await PG.api("/api/plan/image", { method: "PUT", headers: { "Content-Type": file.type || "application/octet-stream" }, body: file });
  const body = await res.json().catch(() => ({}));
  if (!res.ok) {
    const why = Array.isArray(body.detail) ? body.detail.map((d) => d.msg).join("；") : (body.detail || `HTTP ${res.status}`);
    note(`上传失败：${why}`);
    return;
  }
  note(`底图已更新（${body.width}×${body.height}）`);
  await load();
});

PG.me().catch(() => {});
load();
