// 节点与摄像头: the edge nodes as they report themselves (status + heartbeat), refreshed every few seconds.
"use strict";

const { el, fact } = PG;
const REFRESH_MS = 3000;

const HEALTH = { online: "在线", offline: "离线", stopped: "已停止", stale: "心跳超时" };
const HEALTH_TITLE = {
  online: "节点在线，心跳正常 (online)",
  offline: "节点失联 (offline: its last will)",
  stopped: "节点已正常停止 (stopped)",
  stale: "节点未断开，但已连续错过3次心跳 (stale: 3 heartbeats missed)",
};

function when(iso) {
  return PG.time(iso, { short: true });
}

function fixed(v, digits) {
  return typeof v === "number" ? v.toFixed(digits) : "–";
}

function seconds(s) {
  if (s === null || s === undefined) return "–";
  if (s < 60) return `${s.toFixed(1)} 秒前`;
  if (s < 3600) return `${Math.floor(s / 60)} 分 ${Math.round(s % 60)} 秒前`;
  return `${Math.floor(s / 3600)} 时 ${Math.floor((s % 3600) / 60)} 分前`;
}

// the node's cameras (camera_states): those the park registered on it, by name with their
// enterprise, reported or not, and those it reports that nobody registered; states named by the server
const STATE_TITLE = {
  no_report: "已登记，节点最近的心跳未上报此摄像头 (registered, not in the last heartbeat)",
  unknown: "节点不在线，摄像头状态未知 (the node is not online)",
};

function cameraRows(n) {
  const body = el("tbody");
  for (const c of n.camera_states) {
    const tr = el("tr");
    tr.dataset.camera = c.camera;
    tr.dataset.state = c.state;
    const camera = el("td", "camera");
    camera.title = c.camera;
    if (c.name) camera.append(el("span", "label", c.name), el("small", "id", c.camera));
    else camera.append(el("span", "id-only", c.camera), el("small", "unregistered", "未登记 Unregistered"));
    const enterprise = el("td", "enterprise", c.enterprise_name || "–");
    const state = el("td", "state");
    const badge = el("span", `cam cam-${c.state}`, c.state_label);
    if (STATE_TITLE[c.state]) badge.title = STATE_TITLE[c.state];
    state.append(badge);
    const h = c.health;
    if (!h) {
      tr.append(camera, enterprise, state, el("td", "num", "–"), el("td", "num", "–"), el("td", "num", "–"),
        el("td", "num", "–"), el("td", "num", "–"), el("td", "time", "–"), el("td", "error none", c.state === "no_report" ? "心跳未上报此摄像头" : "尚无心跳数据"));
    } else {
      tr.append(
        camera,
        enterprise,
        state,
        el("td", "num fps-in", fixed(h.fps_in, 1)),
        el("td", "num fps-out", fixed(h.fps_out, 1)),
        el("td", "num infer", fixed(h.infer_ms, 1)),
        el("td", "num dropped", String(h.dropped_frames)),
        el("td", "num reconnects", String(h.reconnects)),
        el("td", "time last-frame", when(h.last_frame_at)),
        el("td", "error", h.error || ""),
      );
    }
    body.append(tr);
  }
  return body;
}

function renderNode(n) {
  const sec = el("section", "panel node");
  sec.dataset.node = n.node;
  sec.dataset.health = n.health;
  const head = el("div", "panel-head");
  const h2 = el("h2", null, n.name || n.node);
  if (n.name && n.name !== n.node) h2.append(" ", el("small", null, n.node));
  const badge = el("span", `health health-${n.health}`, HEALTH[n.health] || n.health);
  badge.title = HEALTH_TITLE[n.health] || n.health;
  h2.append(" ", badge);
  head.append(h2, el("span", "note", `${n.site} · ${n.software || "版本未知"}`));

  const dl = el("dl", "facts");
  const hb = n.heartbeat_age_s === null || n.heartbeat_age_s === undefined
    ? "尚未收到"
    : `${seconds(n.heartbeat_age_s)}（周期 ${n.heartbeat_interval_s} 秒）`;
  fact(dl, "心跳 Heartbeat", hb, "heartbeat");
  fact(dl, "最后联系 Last seen", n.last_seen_at ? when(n.last_seen_at) : "从未联系 Never", "last-seen");
  const outbox = n.outbox_depth === null || n.outbox_depth === undefined
    ? "–"
    : `待发 ${n.outbox_depth} 条 · 已丢弃 ${n.outbox_dropped ?? 0} 条`;
  const ob = fact(dl, "离线缓存 Outbox", outbox, "outbox");
  if (n.outbox_dropped && ob) ob.classList.add("warn");
  const ev = n.evidence;
  if (ev) {
    const clips = `片段 已生成 ${ev.clips_built} · 失败 ${ev.clips_failed} · 不完整 ${ev.clips_partial}` +
      ` · 待生成 ${ev.clips_pending} · 待上传 ${ev.uploads_pending}`;
    const ef = fact(dl, "证据 Evidence", clips, "evidence");
    if ((ev.clips_failed || ev.uploads_dropped) && ef) ef.classList.add("warn");
  }
  const wh = n.warning;
  if (wh) {
    const text = `已播放 ${wh.played} · 失败 ${wh.failed} · 频率限制 ${wh.rate_limited}` +
      ` · 不在时段 ${wh.outside_schedule} · 设备繁忙丢弃 ${wh.dropped}`;
    const wf = fact(dl, "现场提醒 Warnings", text, "warnings");
    if ((wh.failed || wh.dropped) && wf) wf.classList.add("warn");
  }
  fact(dl, "配置版本 Config", n.config_version === null ? "本地配置文件" : `v${n.config_version}`, "config");
  if (n.config_rejected !== null && n.config_rejected !== undefined) {
    fact(dl, "拒绝的配置 Rejected", `v${n.config_rejected}：${n.config_error || "原因未知"}`, "config-rejected warn");
  }

  const table = el("table", "list cameras");
  const thead = el("thead");
  const tr = el("tr");
  for (const [zh, en, num] of [
    ["摄像头", "Camera"], ["企业", "Enterprise"], ["状态", "State"], ["输入帧率", "fps in", 1], ["处理帧率", "fps out", 1],
    ["推理耗时 ms", "Inference", 1], ["丢帧", "Dropped", 1], ["重连", "Reconnects", 1],
    ["最后一帧", "Last frame"], ["错误", "Error"],
  ]) {
    const th = el("th", num ? "num" : null, zh + " ");
    th.append(el("small", null, en));
    tr.append(th);
  }
  thead.append(tr);
  table.append(thead, cameraRows(n));
  if (n.health !== "online") table.classList.add("dated"); // figures from the last heartbeat that came
  sec.append(head, dl, table);
  return sec;
}

function render(nodes) {
  const box = document.getElementById("nodes");
  box.replaceChildren(...nodes.map(renderNode));
  document.getElementById("empty").hidden = nodes.length > 0;
  let online = 0, bad = 0, camsOn = 0, cams = 0;
  for (const n of nodes) {
    if (n.health === "online") online += 1;
    if (n.health === "stale" || n.health === "offline") bad += 1;
    cams += n.camera_states.length;
    camsOn += n.camera_states.filter((c) => c.state === "online").length; // "unknown" when the node is not online
  }
  document.getElementById("stat-nodes").textContent = nodes.length;
  document.getElementById("stat-online").textContent = online;
  document.getElementById("stat-bad").textContent = bad;
  document.getElementById("stat-cameras").textContent = `${camsOn} / ${cams}`;
}

async function refresh() {
  const note = document.getElementById("note");
  let res;
  try {
    res = await PG.api("/api/nodes");
  } catch (err) {
    note.textContent = `刷新失败 (${err.message})，稍后重试`;
    setTimeout(refresh, REFRESH_MS);
    return;
  }
  if (res.status === 403) {
    note.textContent = "您的角色无权查看节点状态 (HTTP 403)";
    document.getElementById("nodes").replaceChildren();
    return; // no point asking again
  }
  if (!res.ok) {
    note.textContent = `刷新失败 (HTTP ${res.status})，稍后重试`;
  } else {
    render(await res.json());
    note.textContent = `每 ${REFRESH_MS / 1000} 秒自动刷新 · Refreshed every ${REFRESH_MS / 1000} s`;
    document.getElementById("updated").textContent = `更新于 ${when(Date.now())}`;
  }
  setTimeout(refresh, REFRESH_MS);
}

PG.me().catch(() => {}).finally(refresh);
