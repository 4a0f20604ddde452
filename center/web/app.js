// ParkGuard operator page: the alert list an operator works from. Filters and search run on the
// server (GET /api/alerts), pages go by cursor, live changes come through the WebSocket feed, and
// after a dropped feed the page asks for what changed meanwhile (GET /api/alerts/changes) so it
// neither misses nor doubles a row. 重大 alerts raise a banner and a sound (mutable).
"use strict";

// The names of rule types, severities and statuses come with each alert from the server
// (rule_type_label, severity_label, status_label), as role and industry names do.
const { el, fact } = PG;
const EVIDENCE_KINDS = { snapshot: "抓拍", clip: "视频片段" };
const CATCH_UP_OVERLAP_MS = 10000; // changes committed out of order by up to this much are still caught
const MUTE_KEY = "parkguard.alerts.muted";
// a new row is highlighted for a while: a plain background, taken off by one timer (an animated
// fade repainted the table every frame and delayed the next alerts by ~0.3 s on a busy machine)
const FRESH_MS = 2500;
const freshUntil = new Map(); // event_id -> until when its row is highlighted
let canHandle = false; // operators and administrators act on alerts
let selected = null; // event_id of the alert in the detail panel
let cursorRow = null; // event_id of the row the keyboard is on

const alerts = new Map(); // event_id -> alert (the rows on this page)
const rowsEl = document.getElementById("alert-rows");
const note = (text) => { document.getElementById("note").textContent = text || ""; };

// --- filters and pages --------------------------------------------------------------------

const FILTERS = ["enterprise_id", "camera", "rule_type", "severity", "status", "since", "until", "q"];
let filter = {}; // the filters applied (names of the API's query parameters)
let pageSize = 100;
let pages = [null]; // the cursor of each page seen; pages[i] opens page i (null: the first)
let pageIndex = 0;
let nextCursor = null;
let total = 0;
let missedNewer = 0; // new alerts that arrived while a later page was shown
let lastChange = { ms: 0, id: "0" }; // the newest change seen (updated_ms, event_id): the catch-up's start

function readFilters() {
  const form = document.getElementById("filters");
  const out = {};
  for (const name of FILTERS) {
    const input = form.elements[name];
    let value = (input.value || "").trim();
    if (!value) continue;
    if (input.type === "datetime-local") value = `${value}:00`; // read in the site's time zone
    out[name] = value;
  }
  pageSize = Number(form.elements.limit.value) || 100;
  return out;
}

function writeFiltersToUrl() {
  const params = new URLSearchParams(filter);
  const event = new URLSearchParams(location.search).get("event");
  if (event) params.set("event", event);
  const search = params.toString();
  history.replaceState(null, "", search ? `${location.pathname}?${search}` : location.pathname);
}

function readFiltersFromUrl() {
  const params = new URLSearchParams(location.search);
  const form = document.getElementById("filters");
  for (const name of FILTERS) {
    const value = params.get(name);
    if (!value) continue;
    const input = form.elements[name];
    if (input.type === "datetime-local") input.value = value.slice(0, 16);
    else if (input.tagName === "SELECT" && ![...input.options].some((o) => o.value === value)) input.append(new Option(value, value, true, true));
    else input.value = value;
  }
}

function query(extra) {
  const params = new URLSearchParams({ ...filter, ...extra });
  return params.toString();
}

// does a live alert belong to the filtered list? (the same rules as the server's filter)
function matches(a) {
  if (filter.enterprise_id && a.enterprise !== filter.enterprise_id) return false;
  if (filter.camera && a.camera !== filter.camera) return false;
  if (filter.rule_type && a.rule_type !== filter.rule_type) return false;
  if (filter.severity && a.severity !== filter.severity) return false;
  if (filter.status && (a.status || "open") !== filter.status) return false;
  if (filter.since && a.started_ms < siteMs(filter.since)) return false;
  if (filter.until && a.started_ms >= siteMs(filter.until)) return false;
  if (filter.q) {
    const needle = filter.q.toLowerCase();
    const words = [a.rule_name, a.zone, a.zone_name, a.camera, a.camera_name, a.post_name, a.enterprise_name, a.node_name, a.event_id, a.dismiss_reason];
    if (!words.some((w) => w && String(w).toLowerCase().includes(needle))) return false;
  }
  return true;
}

function duration(a) {
  const end = a.ended_ms ?? a.last_ms;
  let s = Math.max(0, Math.round((end - a.started_ms) / 1000));
  const h = Math.floor(s / 3600); s -= h * 3600;
  const m = Math.floor(s / 60); s -= m * 60;
  if (h) return `${h}时${m}分`;
  if (m) return `${m}分${s}秒`;
  return `${s}秒`;
}

function liveLink(a) {
  const link = el("a", "live-link", "▶ 实时画面");
  link.href = `/wall?camera=${encodeURIComponent(a.camera)}`;
  link.title = "打开该摄像头的实时画面 (the camera's live picture; key V)";
  return link;
}

function renderRow(a, fresh) {
  const tr = el("tr");
  tr.dataset.eventId = a.event_id;
  tr.dataset.startedMs = String(a.started_ms);
  tr.dataset.severity = a.severity;
  tr.dataset.status = a.status || "open";
  const ended = a.phase === "end";
  if (ended) tr.classList.add("ended");
  if (fresh) freshUntil.set(a.event_id, Date.now() + FRESH_MS);
  if ((freshUntil.get(a.event_id) || 0) > Date.now()) tr.classList.add("fresh");
  if (a.severity === "major") tr.classList.add("major");
  if (a.event_id === selected) tr.classList.add("selected");
  if (a.event_id === cursorRow) tr.classList.add("cursor");
  if (a.evidence && a.evidence.length) tr.dataset.evidence = String(a.evidence.length);
  tr.title = "点击查看详情与证据 (click for the detail and evidence)";

  const time = el("td", "time", PG.time(a.started_ms));
  time.title = a.started_at;
  const camera = named("camera", a.camera_name, a.camera);
  if (a.post_name && a.post_name !== a.camera_name) camera.append(el("small", "post", a.post_name));
  camera.append(liveLink(a));
  const enterprise = el("td", "enterprise", a.enterprise_name || a.enterprise || "–");
  if (a.enterprise) enterprise.title = a.enterprise_name ? `${a.enterprise_name}（${a.enterprise}）` : a.enterprise;
  const rule = el("td", "rule");
  rule.append(el("span", "type", a.rule_type_label));
  if (a.rule_name) rule.append(el("span", "name", a.rule_name));
  if (a.zone) rule.append(el("small", "zone", a.zone_name || a.zone));
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

// the operator's verdicts, from the buttons and the keyboard
async function handle(a, verb, body) {
  const res = await PG.api(`/api/alerts/${encodeURIComponent(a.event_id)}/${verb}`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body || {}),
  });
  if (!res.ok) {
    const data = await res.json().catch(() => ({}));
    note(`操作失败: ${typeof data.detail === "string" ? data.detail : res.status}`);
    return;
  }
  if (verb !== "escalate") {
    upsert(await res.json(), false, true);
    return;
  }
  // the answer is the new hazard: fetch the alert as it is now (escalated, with its hazard)
  const fresh = await PG.api(`/api/alerts/${encodeURIComponent(a.event_id)}`);
  if (fresh.ok) upsert(await fresh.json(), false, true);
}

function askDismiss(a) {
  const reason = window.prompt("误报原因 (reason for the false alarm)", "");
  if (reason && reason.trim().length >= 2) handle(a, "dismiss", { reason: reason.trim() });
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
  if (status === "open") {
    const ack = el("button", "btn btn-ack", "确认");
    ack.title = "Acknowledge (key A)";
    ack.onclick = () => handle(a, "acknowledge");
    td.append(ack);
  } else {
    td.append(el("span", "verdict", a.status_label + " "));
  }
  const dismiss = el("button", "btn btn-dismiss", "误报");
  dismiss.title = "Dismiss as a false alarm (key F)";
  dismiss.onclick = () => askDismiss(a);
  const escalate = el("button", "btn btn-escalate", "转隐患");
  escalate.title = "Turn into a hazard (7 days to rectify)";
  escalate.onclick = () => {
    if (window.confirm("转为一般隐患，整改期限7天？")) handle(a, "escalate", { level: "general", deadline_days: 7 });
  };
  td.append(dismiss, escalate);
  return td;
}

// does row tr come after alert a in the list's order (started_ms, then event_id, both descending)?
function older(tr, a) {
  const started = Number(tr.dataset.startedMs);
  return started < a.started_ms || (started === a.started_ms && tr.dataset.eventId < a.event_id);
}

function seen(a) {
  if (a.updated_ms > lastChange.ms || (a.updated_ms === lastChange.ms && a.event_id > lastChange.id)) {
    lastChange = { ms: a.updated_ms, id: a.event_id };
  }
}

// a change of an alert: from the first load (live false), the feed or the catch-up (live true),
// or the operator's own verdict (force). An older copy than the one shown is ignored.
function upsert(a, live, force) {
  seen(a);
  const old = alerts.get(a.event_id);
  if (!force && old && (old.seq > a.seq || (old.seq === a.seq && old.updated_ms >= a.updated_ms))) return; // older copy or the same
  const existing = rowsEl.querySelector(`tr[data-event-id="${CSS.escape(a.event_id)}"]`);
  if (live && !old && a.severity === "major" && (a.status || "open") === "open" && a.phase !== "end") majorAlert(a);
  if (!matches(a)) { // it left the filtered list (an acknowledged alert under 待处理 …)
    if (existing) {
      if (cursorRow === a.event_id) moveCursor(1, existing) || moveCursor(-1, existing);
      existing.remove();
      alerts.delete(a.event_id);
      total = Math.max(0, total - 1);
      pageInfo();
    }
    if (a.event_id === selected) renderDetail(a);
    refreshStats();
    return;
  }
  if (!existing) {
    // a new row: on the first page it goes in by its start; on a later page it waits
    const newest = rowsEl.firstElementChild;
    const newer = !newest || a.started_ms >= Number(newest.dataset.startedMs);
    if (pageIndex > 0 && newer) {
      missedNewer += 1;
      const hint = document.getElementById("page-new");
      hint.textContent = `有 ${missedNewer} 条新告警，回第一页查看 (new alerts on the first page)`;
      hint.hidden = false;
      return;
    }
    const oldest = rowsEl.lastElementChild;
    if (rowsEl.children.length >= pageSize && oldest && older(oldest, a) === false && oldest.dataset.eventId !== a.event_id) return; // a later page's
    total += old ? 0 : 1;
  }
  alerts.set(a.event_id, a);
  const row = renderRow(a, live && !old);
  if (a.event_id === selected) renderDetail(a);
  if (existing) {
    existing.replaceWith(row);
  } else {
    let before = null; // newest on top (as the API orders: by start, then event id, descending)
    for (const tr of rowsEl.children) {
      if (older(tr, a)) { before = tr; break; }
    }
    rowsEl.insertBefore(row, before);
    while (rowsEl.children.length > pageSize) { // the oldest row moves to the next page
      const last = rowsEl.lastElementChild;
      alerts.delete(last.dataset.eventId);
      last.remove();
      if (!nextCursor) nextCursor = "pending";
    }
  }
  pageInfo();
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
  const cam = fact(dl, "摄像头", namedText(a.camera_name, a.camera), "camera");
  if (cam) cam.append(" ", liveLink(a));
  fact(dl, "岗位", a.post_name, "post");
  fact(dl, "节点", namedText(a.node_name, a.node), "node");
  fact(dl, "企业", a.enterprise ? namedText(a.enterprise_name, a.enterprise) : "", "enterprise");
  fact(dl, "区域", a.zone ? namedText(a.zone_name, a.zone) : "", "zone");
  fact(dl, "人数", a.count);
  fact(dl, "置信度", a.score ? a.score.toFixed(2) : "");
  fact(dl, "现场提醒", warningText(a), "warning");
  fact(dl, "状态", a.phase === "end" ? "已结束" : "进行中");
  fact(dl, "处置", a.status_label);
  fact(dl, "处置人", a.handled_by);
  fact(dl, "误报原因", a.dismiss_reason);
  fact(dl, "事件编号", a.event_id);
  // no snapshot or clip: why (what the center knows; the server says it in evidence_status)
  for (const [kind, zh] of Object.entries(EVIDENCE_KINDS)) {
    const s = (a.evidence_status || {})[kind];
    if (s && s.state !== "stored") fact(dl, zh, s.label, `evidence-why evidence-${kind}`).dataset.state = s.state;
  }
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
  if (ev.target.closest("button, a")) return; // the action buttons act, the links go; neither opens the panel
  const tr = ev.target.closest("tr[data-event-id]");
  if (tr) { setCursor(tr.dataset.eventId); openDetail(tr.dataset.eventId); }
});
document.getElementById("detail-close").addEventListener("click", closeDetail);

// --- times typed in the filter (site's time zone) as epoch ms, for matching live alerts -----

function siteMs(local) {
  const asUtc = Date.parse(`${local}Z`);
  if (Number.isNaN(asUtc)) return NaN;
  const parts = Object.fromEntries(new Intl.DateTimeFormat("en-US", {
    timeZone: PG.tz, hourCycle: "h23", year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", second: "2-digit",
  }).formatToParts(new Date(asUtc)).map((p) => [p.type, p.value]));
  const shown = Date.UTC(+parts.year, +parts.month - 1, +parts.day, +parts.hour, +parts.minute, +parts.second);
  return asUtc - (shown - asUtc); // the site's offset at that moment
}

// --- 重大: a banner and a sound (muted by the operator's choice, remembered in this browser) --

let muted = localStorage.getItem(MUTE_KEY) === "1";
let audio = null;
let bannerFor = null;

function showMute() {
  const button = document.getElementById("mute");
  button.setAttribute("aria-pressed", muted ? "true" : "false");
  button.dataset.muted = muted ? "1" : "0";
  button.replaceChildren(muted ? "提示音：关 " : "提示音：开 ", el("small", null, muted ? "Sound off" : "Sound on"));
}

function toggleMute() {
  muted = !muted;
  localStorage.setItem(MUTE_KEY, muted ? "1" : "0");
  showMute();
  if (!muted) unlockAudio();
}

function unlockAudio() { // browsers let a page play sound after the user has touched it
  try {
    audio = audio || new AudioContext();
    if (audio.state === "suspended") audio.resume();
  } catch { audio = null; }
}

function beep() {
  if (muted) return false;
  unlockAudio();
  if (!audio || audio.state !== "running") return false;
  const t0 = audio.currentTime;
  for (let i = 0; i < 3; i++) { // three short high tones, a sound of its own (made here: no file)
    const osc = audio.createOscillator();
    const gain = audio.createGain();
    osc.type = "square";
    osc.frequency.value = i % 2 ? 660 : 880;
    gain.gain.setValueAtTime(0.12, t0 + i * 0.25);
    gain.gain.setValueAtTime(0, t0 + i * 0.25 + 0.18);
    osc.connect(gain).connect(audio.destination);
    osc.start(t0 + i * 0.25);
    osc.stop(t0 + i * 0.25 + 0.2);
  }
  return true;
}

function majorAlert(a) {
  const banner = document.getElementById("major-banner");
  bannerFor = a;
  document.getElementById("major-what").textContent =
    `${PG.clock(a.started_ms)} ${a.camera_name || a.camera}${a.enterprise_name ? " · " + a.enterprise_name : ""} · ${a.rule_type_label}${a.rule_name ? " · " + a.rule_name : ""}`;
  banner.dataset.eventId = a.event_id;
  banner.hidden = false;
  banner.dataset.sound = beep() ? "played" : (muted ? "muted" : "blocked");
  document.body.classList.add("has-major");
}

function closeBanner() {
  document.getElementById("major-banner").hidden = true;
  document.body.classList.remove("has-major");
  bannerFor = null;
}

document.getElementById("mute").addEventListener("click", toggleMute);
document.getElementById("major-close").addEventListener("click", closeBanner);
document.getElementById("major-open").addEventListener("click", async () => {
  const a = bannerFor;
  closeBanner();
  if (!a) return;
  if (!alerts.has(a.event_id)) alerts.set(a.event_id, a); // on another page or filtered out: still open it
  openDetail(a.event_id);
});
document.addEventListener("pointerdown", () => { if (!muted) unlockAudio(); }, { once: true });

// --- the keyboard ---------------------------------------------------------------------------

function setCursor(eventId) {
  cursorRow = eventId;
  for (const tr of rowsEl.querySelectorAll("tr.cursor")) tr.classList.remove("cursor");
  const tr = eventId && rowsEl.querySelector(`tr[data-event-id="${CSS.escape(eventId)}"]`);
  if (tr) { tr.classList.add("cursor"); tr.scrollIntoView({ block: "nearest" }); }
}

function moveCursor(step, from) {
  const rows = [...rowsEl.children];
  if (!rows.length) return false;
  const at = from ? rows.indexOf(from) : rows.findIndex((tr) => tr.dataset.eventId === cursorRow);
  const next = at < 0 ? rows[step > 0 ? 0 : rows.length - 1] : rows[at + step];
  if (!next) return false;
  setCursor(next.dataset.eventId);
  return true;
}

function current() {
  const id = selected || cursorRow;
  return id ? alerts.get(id) : undefined;
}

document.addEventListener("keydown", (ev) => {
  if (ev.ctrlKey || ev.metaKey || ev.altKey) return;
  const typing = ev.target.closest && ev.target.closest("input, select, textarea");
  if (ev.key === "Escape") {
    if (typing) { ev.target.blur(); return; }
    if (selected) closeDetail();
    return;
  }
  if (typing) return;
  const key = ev.key.length === 1 ? ev.key.toLowerCase() : ev.key;
  const a = current();
  switch (key) {
    case "j": case "ArrowDown": moveCursor(1); break;
    case "k": case "ArrowUp": moveCursor(-1); break;
    case "Enter": if (cursorRow) openDetail(cursorRow); break;
    case "a": if (a && canHandle && (a.status || "open") === "open") handle(a, "acknowledge"); break;
    case "f": if (a && canHandle && ["open", "acknowledged"].includes(a.status || "open")) askDismiss(a); break;
    case "v": if (a) location.href = `/wall?camera=${encodeURIComponent(a.camera)}`; break;
    case "m": toggleMute(); break;
    case "/": document.getElementById("f-q").focus(); break;
    default: return;
  }
  ev.preventDefault();
});

// --- the list: first page, later pages, catch-up -------------------------------------------

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
  document.getElementById("empty").hidden = rowsEl.children.length > 0;
}

function pageInfo() {
  const first = pageIndex * pageSize + (rowsEl.children.length ? 1 : 0);
  const last = pageIndex * pageSize + rowsEl.children.length;
  const info = document.getElementById("page-info");
  info.textContent = `第 ${pageIndex + 1} 页 · ${first}–${last} / 共 ${total} 条 (page ${pageIndex + 1}, ${total} in all)`;
  info.dataset.total = String(total);
  info.dataset.page = String(pageIndex + 1);
  document.getElementById("page-prev").disabled = pageIndex === 0;
  document.getElementById("page-first").disabled = pageIndex === 0;
  document.getElementById("page-next").disabled = !nextCursor && last >= total;
}

async function loadPage(index) {
  const cursor = pages[index];
  const params = { limit: String(pageSize) };
  if (cursor) params.cursor = cursor;
  let res;
  try {
    res = await PG.api(`/api/alerts?${query(params)}`);
  } catch (err) {
    note(`告警列表加载失败 (${err.message})`);
    return false;
  }
  if (res.status === 403) { note("您的角色无权查看告警 (HTTP 403)"); return false; }
  if (!res.ok) {
    const data = await res.json().catch(() => ({}));
    const why = Array.isArray(data.detail) ? data.detail.map((d) => d.msg).join("；") : (data.detail || `HTTP ${res.status}`);
    note(`筛选条件有误：${why}`);
    return false;
  }
  const page = await res.json();
  pageIndex = index;
  nextCursor = page.next_cursor;
  pages[index + 1] = page.next_cursor;
  total = page.total;
  alerts.clear();
  rowsEl.replaceChildren();
  for (const a of page.items) {
    seen(a);
    alerts.set(a.event_id, a);
    rowsEl.append(renderRow(a, false));
  }
  if (index === 0) { missedNewer = 0; document.getElementById("page-new").hidden = true; }
  if (cursorRow && !alerts.has(cursorRow)) cursorRow = null;
  note("");
  pageInfo();
  refreshStats();
  return true;
}

async function applyFilters() {
  filter = readFilters();
  pages = [null];
  writeFiltersToUrl();
  await loadPage(0);
}

// what changed while the feed was down, from the newest change seen (with an overlap: a change
// committed a little out of order is caught, and one seen already is skipped by upsert)
async function catchUp() {
  let after = `${Math.max(0, lastChange.ms - CATCH_UP_OVERLAP_MS)}.0`;
  for (let round = 0; round < 50; round++) {
    const res = await PG.api(`/api/alerts/changes?${query({ after, limit: "500" })}`);
    if (!res.ok) { note(`补齐断线期间的告警失败 (HTTP ${res.status})`); return; }
    const data = await res.json();
    for (const a of data.items) upsert(a, true);
    after = data.next_after;
    if (!data.more) break;
  }
  document.getElementById("conn").dataset.caughtUp = String(Date.now());
}

document.getElementById("filters").addEventListener("submit", (ev) => { ev.preventDefault(); applyFilters(); });
document.getElementById("f-reset").addEventListener("click", () => {
  document.getElementById("filters").reset();
  applyFilters();
});
for (const id of ["f-enterprise", "f-camera", "f-rule", "f-severity", "f-status", "f-limit"]) {
  document.getElementById(id).addEventListener("change", applyFilters);
}
document.getElementById("page-next").addEventListener("click", () => {
  const last = rowsEl.lastElementChild;
  if (last) pages[pageIndex + 1] = `${last.dataset.startedMs}.${last.dataset.eventId}`; // after what is shown
  loadPage(pageIndex + 1);
});
document.getElementById("page-prev").addEventListener("click", () => loadPage(Math.max(0, pageIndex - 1)));
document.getElementById("page-first").addEventListener("click", () => loadPage(0));
document.getElementById("page-new").addEventListener("click", () => loadPage(0));

async function loadChoices() {
  const fill = async (path, selectId, label) => {
    const res = await PG.api(path).catch(() => null);
    if (!res || !res.ok) return;
    const select = document.getElementById(selectId);
    const chosen = select.value;
    for (const item of (await res.json()).items) {
      if ([...select.options].some((o) => o.value === item.id)) continue;
      select.append(new Option(label(item), item.id, false, item.id === chosen));
    }
    select.value = chosen;
  };
  await Promise.all([
    fill("/api/enterprises?limit=500", "f-enterprise", (e) => e.name),
    fill("/api/cameras?limit=500", "f-camera", (c) => `${c.name || c.post_name || c.id}${c.enterprise_name ? " · " + c.enterprise_name : ""}`),
  ]);
}

function setConn(state) {
  const conn = document.getElementById("conn");
  conn.className = `conn conn-${state}`;
  conn.dataset.state = state;
  document.getElementById("conn-text").textContent =
    { live: "实时连接", down: "已断开", connecting: "连接中…" }[state];
}

let retryMs = 1000;
let everLive = false;
let socket = null;

function connect() {
  setConn("connecting");
  const proto = location.protocol === "https:" ? "wss" : "ws";
  const ws = new WebSocket(`${proto}://${location.host}/ws/alerts`);
  socket = ws;
  ws.onopen = () => {
    retryMs = 1000;
    setConn("live");
    if (everLive) catchUp(); // the feed was down: fetch what changed meanwhile
    everLive = true;
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
      note("您的角色无权查看告警 (4403)");
      return;
    }
    setConn("down");
    setTimeout(connect, retryMs);
    retryMs = Math.min(Math.max(retryMs * 2, 1000), 10000);
  };
  ws.onerror = () => ws.close();
}
// for tests and the benchmark: drop the feed as a network would; the page reconnects by itself
// after holdMs (its usual backoff otherwise) and then catches up
window.parkguardDropFeed = (holdMs) => {
  if (holdMs) retryMs = holdMs;
  if (socket) socket.close();
};

function tick() {
  document.getElementById("clock").textContent = PG.time(Date.now());
}

// a notification's link (/alerts?event=<id>) opens that alert's detail
async function openLinked() {
  const wanted = new URLSearchParams(location.search).get("event");
  if (!wanted || !/^[A-Za-z0-9_.-]{1,64}$/.test(wanted)) return;
  const res = await PG.api(`/api/alerts/${encodeURIComponent(wanted)}`);
  if (!res.ok) return;
  const a = await res.json();
  if (!alerts.has(a.event_id)) alerts.set(a.event_id, a);
  openDetail(wanted);
}

function unfresh() {
  const now = Date.now();
  for (const [id, until] of freshUntil) {
    if (until > now) continue;
    freshUntil.delete(id);
    const tr = rowsEl.querySelector(`tr[data-event-id="${CSS.escape(id)}"]`);
    if (tr) tr.classList.remove("fresh");
  }
}

tick();
setInterval(tick, 1000);
setInterval(unfresh, 500);
setInterval(refreshStats, 60000);
showMute();
readFiltersFromUrl();
filter = readFilters();
PG.me()
  .then((me) => { canHandle = me.role === "admin" || me.role === "operator"; })
  .catch(() => {})
  .finally(async () => {
    loadChoices();
    // the feed first, then the first page: a change in between comes by both, and upsert keeps one
    connect();
    await loadPage(0);
    openLinked().catch(() => {});
  });
