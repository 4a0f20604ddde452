// ParkGuard operator page: the alert list, live through the WebSocket feed.
"use strict";

// The names of rule types, severities and statuses come with each alert from the server
// (rule_type_label, severity_label, status_label), as role and industry names do.
const { el, fact } = PG;
const MAX_ROWS = 500;
const EVIDENCE_KINDS = { snapshot: "抓拍", clip: "视频片段" };
let canHandle = false; // operators and administrators act on alerts
let selected = null; // event_id of the alert in the detail panel

const alerts = new Map(); // event_id -> alert
const rowsEl = document.getElementById("alert-rows");

function duration(a) {
  const end = a.ended_ms ?? a.last_ms;
  let s = Math.max(0, Math.round((end - a.started_ms) / 1000));
  const h = Math.floor(s / 3600); s -= h * 3600;
  const m = Math.floor(s / 60); s -= m * 60;
  if (h) return `${h}时${m}分`;
  if (m) return `${m}分${s}秒`;
  return `${s}秒`;
}

function renderRow(a, fresh) {
  const tr = el("tr");
  tr.dataset.eventId = a.event_id;
  tr.dataset.startedMs = String(a.started_ms);
  const ended = a.phase === "end";
  if (ended) tr.classList.add("ended");
  if (fresh) tr.classList.add("fresh");
  if (a.event_id === selected) tr.classList.add("selected");
  if (a.evidence && a.evidence.length) tr.dataset.evidence = String(a.evidence.length);
  tr.title = "点击查看详情与证据 (click for the detail and evidence)";

  const time = el("td", "time", PG.time(a.started_ms));
  time.title = a.started_at;
  const camera = named("camera", a.camera_name, a.camera);
  const enterprise = el("td", "enterprise", a.enterprise_name || a.enterprise || "–");
  if (a.enterprise) enterprise.title = a.enterprise_name ? `${a.enterprise_name}（${a.enterprise}）` : a.enterprise;
  const rule = el("td", "rule");
  rule.append(el("span", "type", a.rule_type_label));
  if (a.rule_name) rule.append(el("span", "name", a.rule_name));
  rule.title = `${a.rule_type} · ${a.rule_id}${a.zone ? " · " + a.zone : ""}`;
  const sev = el("td", "severity");
  sev.append(el("span", `sev sev-${a.severity}`, a.severity_label));
  const count = el("td", "num count", String(a.count));
  const score = el("td", "num score", a.score ? a.score.toFixed(2) : "–");
  const dur = el("td", "duration", duration(a));
  const phase = el("td", "phase-cell");
  phase.append(el("span", `phase ${ended ? "phase-ended" : "phase-active"}`, ended ? "已结束" : "进行中"));
  const node = named("node", a.node_name, a.node);
  tr.append(time, camera, enterprise, rule, sev, count, score, dur, phase, node, actions(a));
  return tr;
}

// a cell with the name people use, and the id as a small hint (the id alone when there is no name)
function named(cls, name, id) {
  const td = el("td", cls);
  td.title = id;
  if (!name) {
    td.append(el("span", "id-only", id));
    return td;
  }
  td.append(el("span", "label", name), el("small", "id", id));
  return td;
}

function namedText(name, id) {
  return name ? `${name}（${id}）` : id;
}

function actions(a) {
  const td = el("td", "actions");
  const status = a.status || "open";
  if (status !== "open" && status !== "acknowledged") {
    td.append(el("span", "verdict", a.status_label));
    return td;
  }
  if (!canHandle) {
    if (status === "acknowledged") td.append(el("span", "verdict", a.status_label));
    return td;
  }
  const act = async (verb, body) => {
    const res = await PG.api(`/api/alerts/${encodeURIComponent(a.event_id)}/${verb}`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body || {}),
    });
    if (!res.ok) {
      const data = await res.json().catch(() => ({}));
      document.getElementById("note").textContent = `操作失败: ${typeof data.detail === "string" ? data.detail : res.status}`;
      return;
    }
    if (verb !== "escalate") {
      upsert(await res.json(), false, true);
      return;
    }
    // the answer is the new hazard: fetch the alert as it is now (escalated, with its hazard)
    const fresh = await PG.api(`/api/alerts/${encodeURIComponent(a.event_id)}`);
    if (fresh.ok) upsert(await fresh.json(), false, true);
  };
  if (status === "open") {
    const ack = el("button", "btn btn-ack", "确认");
    ack.title = "Acknowledge";
    ack.onclick = () => act("acknowledge");
    td.append(ack);
  } else {
    td.append(el("span", "verdict", a.status_label + " "));
  }
  const dismiss = el("button", "btn btn-dismiss", "误报");
  dismiss.title = "Dismiss as a false alarm";
  dismiss.onclick = () => {
    const reason = window.prompt("误报原因 (reason for the false alarm)", "");
    if (reason && reason.trim().length >= 2) act("dismiss", { reason: reason.trim() });
  };
  const escalate = el("button", "btn btn-escalate", "转隐患");
  escalate.title = "Turn into a hazard (7 days to rectify)";
  escalate.onclick = () => {
    if (window.confirm("转为一般隐患，整改期限7天？")) act("escalate", { level: "general", deadline_days: 7 });
  };
  td.append(dismiss, escalate);
  return td;
}

function upsert(a, live, force) {
  const old = alerts.get(a.event_id);
  if (!force && old && (old.seq > a.seq || (old.seq === a.seq && old.updated_ms > a.updated_ms))) return; // older copy
  alerts.set(a.event_id, a);
  const existing = rowsEl.querySelector(`tr[data-event-id="${CSS.escape(a.event_id)}"]`);
  const row = renderRow(a, live && !old);
  if (a.event_id === selected) renderDetail(a);
  if (existing) {
    existing.replaceWith(row);
  } else {
    // newest on top: insert before the first row that started earlier
    let before = null;
    for (const tr of rowsEl.children) {
      if (Number(tr.dataset.startedMs) < a.started_ms) { before = tr; break; }
    }
    rowsEl.insertBefore(row, before);
    while (rowsEl.children.length > MAX_ROWS) {
      const last = rowsEl.lastElementChild;
      alerts.delete(last.dataset.eventId);
      last.remove();
    }
  }
  refreshStats();
}

// --- the detail panel: click a row; the evidence is fetched with the login (cookie) as blobs ---

const detailEl = document.getElementById("detail");
const evidenceUrls = new Map(); // sha256 -> object URL, for the alert in the panel
let evidenceFor = null; // event_id whose evidence the panel holds

function dropEvidence() {
  for (const url of evidenceUrls.values()) URL.revokeObjectURL(url);
  evidenceUrls.clear();
  document.getElementById("evidence-items").replaceChildren();
  document.getElementById("evidence").hidden = true;
  document.getElementById("evidence-note").textContent = "";
  evidenceFor = null;
}

function openDetail(eventId) {
  const a = alerts.get(eventId);
  if (!a) return;
  selected = eventId;
  for (const tr of rowsEl.querySelectorAll("tr.selected")) tr.classList.remove("selected");
  const tr = rowsEl.querySelector(`tr[data-event-id="${CSS.escape(eventId)}"]`);
  if (tr) tr.classList.add("selected");
  detailEl.hidden = false;
  detailEl.dataset.eventId = eventId;
  renderDetail(a);
}

function closeDetail() {
  selected = null;
  detailEl.hidden = true;
  delete detailEl.dataset.eventId;
  for (const tr of rowsEl.querySelectorAll("tr.selected")) tr.classList.remove("selected");
  dropEvidence();
}

function renderDetail(a) {
  document.getElementById("detail-title").textContent =
    `${a.rule_type_label}${a.rule_name ? " · " + a.rule_name : ""}`;
  const dl = document.getElementById("detail-facts");
  dl.replaceChildren();
  fact(dl, "告警时间", PG.time(a.started_ms));
  if (a.ended_ms) fact(dl, "结束时间", PG.time(a.ended_ms));
  fact(dl, "持续", duration(a));
  fact(dl, "级别", a.severity_label);
  fact(dl, "摄像头", namedText(a.camera_name, a.camera), "camera");
  fact(dl, "节点", namedText(a.node_name, a.node), "node");
  fact(dl, "企业", a.enterprise ? namedText(a.enterprise_name, a.enterprise) : "", "enterprise");
  fact(dl, "区域", a.zone);
  fact(dl, "人数", a.count);
  fact(dl, "置信度", a.score ? a.score.toFixed(2) : "");
  fact(dl, "现场提醒", warningText(a), "warning");
  fact(dl, "状态", a.phase === "end" ? "已结束" : "进行中");
  fact(dl, "处置", a.status_label);
  fact(dl, "处置人", a.handled_by);
  fact(dl, "误报原因", a.dismiss_reason);
  fact(dl, "事件编号", a.event_id);
  // the row's action buttons, here too: the panel covers the table's last columns
  document.getElementById("detail-actions").replaceChildren(...actions(a).childNodes);
  loadEvidence(a);
  loadNotifications(a);
}

// who was told of the alert: each notification (route, subscriber, escalation level) with its
// channel, recipient (masked but for the admin), state and attempts, and the last error
async function loadNotifications(a) {
  const box = document.getElementById("notifications");
  const list = document.getElementById("notification-items");
  const res = await PG.api(`/api/alerts/${encodeURIComponent(a.event_id)}/notifications`);
  if (selected !== a.event_id) return;
  if (!res.ok) { box.hidden = true; return; }
  const items = await res.json();
  list.replaceChildren();
  for (const n of items) {
    const li = el("li", `notification state-${n.state}`);
    li.dataset.state = n.state;
    li.append(el("span", "kind", `${n.kind_label} · ${n.channel_name}`), el("span", "recipient", ` ${n.recipient || "（群）"} `),
      el("span", `state ${n.state}`, `${n.state_label}（尝试 ${n.attempts} 次）`));
    if (n.sent_at) li.append(el("span", "time", ` ${PG.time(n.sent_at)}`));
    if (n.last_error) li.append(el("div", "error-text", n.last_error));
    list.append(li);
  }
  box.hidden = items.length === 0;
}

// the on-site warning the edge played at the post: 已播放「请佩戴安全帽」 14:02:11 (扬声器 yard-01)
function warningText(a) {
  const w = a.warning;
  if (!w) return "";
  const played = (w.outputs || []).filter((o) => o.ok && o.ms);
  const when = played.length ? Math.min(...played.map((o) => o.ms)) : w.decided_ms;
  const what = w.message ? `「${w.message}」` : "（声光）";
  const where = a.warning_outputs ? ` (${a.warning_outputs})` : "";
  return `${a.warning_label}${what} ${PG.clock(when)}${where}`;
}

function showEvidenceBlock() {
  const loaded = document.querySelectorAll("#evidence-items .evidence-item.loaded").length;
  document.getElementById("evidence").hidden = loaded === 0;
}

function loadEvidence(a) {
  if (evidenceFor !== a.event_id) {
    dropEvidence();
    evidenceFor = a.event_id;
  }
  const box = document.getElementById("evidence-items");
  const note = document.getElementById("evidence-note");
  const eventId = a.event_id;
  for (const item of a.evidence || []) {
    if (!/^[0-9a-f]{64}$/.test(item.sha256 || "")) continue;
    if (box.querySelector(`[data-sha="${item.sha256}"]`)) continue; // loaded or on its way
    const fig = el("figure", "evidence-item");
    fig.dataset.sha = item.sha256;
    fig.dataset.kind = item.kind;
    fig.hidden = true;
    box.append(fig);
    PG.api(`/api/evidence/${item.sha256}`)
      .then(async (res) => {
        if (!res.ok) {
          // 403: this role gets no evidence; 404: not uploaded (yet) or gone with the retention.
          // The figure goes (no broken image); the next update of the alert tries again.
          fig.remove();
          if (evidenceFor === eventId) {
            note.textContent = res.status === 403 ? "无权查看证据 (HTTP 403)" : `部分证据暂不可用 (HTTP ${res.status})`;
            showEvidenceBlock();
          }
          return;
        }
        const blob = await res.blob();
        if (evidenceFor !== eventId || !fig.isConnected) return; // the panel moved on
        const url = URL.createObjectURL(blob);
        evidenceUrls.set(item.sha256, url);
        let media;
        if (item.kind === "clip" || (blob.type || "").startsWith("video/")) {
          media = el("video", "clip");
          media.controls = true;
          media.muted = true;
          media.playsInline = true;
          media.preload = "metadata";
        } else {
          media = el("img", "snapshot");
          media.alt = "告警抓拍 snapshot";
        }
        media.addEventListener("error", () => { fig.remove(); showEvidenceBlock(); });
        media.src = url;
        const caption = el("figcaption", null, `${EVIDENCE_KINDS[item.kind] || item.kind} `);
        const save = el("a", "download", "下载");
        save.href = url;
        save.download = `${a.camera}-${item.kind}-${item.sha256.slice(0, 8)}.${item.content_type === "video/mp4" ? "mp4" : "jpg"}`;
        caption.append(save);
        fig.append(media, caption);
        fig.hidden = false;
        fig.classList.add("loaded");
        showEvidenceBlock();
      })
      .catch(() => { fig.remove(); showEvidenceBlock(); });
  }
  showEvidenceBlock();
}

rowsEl.addEventListener("click", (ev) => {
  if (ev.target.closest("button, a")) return; // the action buttons act, they do not open the panel
  const tr = ev.target.closest("tr[data-event-id]");
  if (tr) openDetail(tr.dataset.eventId);
});
document.getElementById("detail-close").addEventListener("click", closeDetail);
document.addEventListener("keydown", (ev) => { if (ev.key === "Escape" && selected) closeDetail(); });

function refreshStats() {
  const today = PG.day(Date.now());
  let nToday = 0, nActive = 0, nMajor = 0;
  for (const a of alerts.values()) {
    if (PG.day(a.started_ms) === today) {
      nToday += 1;
      if (a.severity === "major") nMajor += 1;
    }
    if (a.phase !== "end") nActive += 1;
  }
  document.getElementById("stat-today").textContent = nToday;
  document.getElementById("stat-active").textContent = nActive;
  document.getElementById("stat-major").textContent = nMajor;
  document.getElementById("empty").hidden = alerts.size > 0;
}

function setConn(state) {
  const conn = document.getElementById("conn");
  conn.className = `conn conn-${state}`;
  conn.dataset.state = state;
  document.getElementById("conn-text").textContent =
    { live: "实时连接", down: "已断开", connecting: "连接中…" }[state];
}

async function loadInitial() {
  try {
    const res = await PG.api("/api/alerts?limit=200");
    if (res.status === 403) {
      document.getElementById("note").textContent = "您的角色无权查看告警 (HTTP 403)";
      return;
    }
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    const page = await res.json();
    for (const a of page.items.slice().reverse()) upsert(a, false);
    document.getElementById("note").textContent = "";
  } catch (err) {
    document.getElementById("note").textContent = `告警列表加载失败 (${err.message})`;
  }
}

let retryMs = 1000;

function connect() {
  setConn("connecting");
  const proto = location.protocol === "https:" ? "wss" : "ws";
  const ws = new WebSocket(`${proto}://${location.host}/ws/alerts`);
  ws.onopen = () => {
    retryMs = 1000;
    setConn("live");
    loadInitial(); // fills what was missed while disconnected
  };
  ws.onmessage = (ev) => {
    const msg = JSON.parse(ev.data);
    if (msg.type === "alert") upsert(msg.alert, true);
  };
  ws.onclose = (ev) => {
    if (ev.code === 4401) {
      location.replace("/login?next=/");
      return;
    }
    if (ev.code === 4403) { // a role without alerts (an insurer): asking again will not help
      setConn("down");
      document.getElementById("note").textContent = "您的角色无权查看告警 (4403)";
      return;
    }
    setConn("down");
    setTimeout(connect, retryMs);
    retryMs = Math.min(retryMs * 2, 10000);
  };
  ws.onerror = () => ws.close();
}

function tick() {
  document.getElementById("clock").textContent = PG.time(Date.now());
}

tick();
setInterval(tick, 1000);
setInterval(refreshStats, 60000);
refreshStats();
// a notification's link (/alerts?event=<id>) opens that alert's detail
async function openLinked() {
  const wanted = new URLSearchParams(location.search).get("event");
  if (!wanted || !/^[A-Za-z0-9_.-]{1,64}$/.test(wanted)) return;
  const res = await PG.api(`/api/alerts/${encodeURIComponent(wanted)}`);
  if (!res.ok) return;
  upsert(await res.json(), false);
  openDetail(wanted);
}

PG.me()
  .then((me) => { canHandle = me.role === "admin" || me.role === "operator"; })
  .catch(() => {})
  .finally(() => { connect(); openLinked().catch(() => {}); });
