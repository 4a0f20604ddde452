// 视频墙: 1/4/9 tiles of the cameras this account may watch. A tile opens its camera live on
// demand (WebRTC: the offer goes to the center, which relays it to the camera's edge node over
// MQTT; the picture comes from the node), with the node's detections drawn over the picture
// from the session's data channel. A tile says so within seconds when its camera or node goes
// offline, and reopens when it is back. ?camera=ID opens that camera at once (alert → live).
"use strict";

const { el } = PG;
const REFRESH_MS = 2000; // camera and node states
const STALL_MS = 3000; // no decoded frame for this long while connected: say so
const HIDDEN_CLOSE_MS = 20000; // a hidden tab closes its sessions after this (reopened when shown)
const RETRY_MS = 5000; // a session that failed is retried this often while its camera is live
const STALE_DETS_MS = 3000; // boxes older than this behind the frame shown are not drawn
const ICE_GATHER_MS = 1500;
const DETS_KEPT = 60; // overlay messages kept per tile (to match them to the frame shown)
const RTP_CLOCK_MS = 90; // 90 kHz video clock

const wall = { cams: new Map(), order: [], tiles: [], layout: 4, ice: [], selected: 0, hiddenTimer: null };
window.PGWall = wall; // the browser tests read the tiles (state, getStats of their connections)

function iceGathered(pc, ms) {
  if (pc.iceGatheringState === "complete") return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => pc.iceGatheringState === "complete" && resolve();
    pc.addEventListener("icegatheringstatechange", done);
    setTimeout(resolve, ms); // host candidates come at once; do not wait for a slow STUN/TURN
  });
}

class Tile {
  constructor(index) {
    this.index = index;
    this.camera = null; // camera id
    this.wanted = false; // the user opened it: keep it open (reopen after a failure)
    this.pc = null;
    this.session = null;
    this.mode = null;
    this.dets = [];
    this.zones = [];
    this.firstTs = null; // wall-clock ms of the first frame the node sent
    this.rtp0 = null; // its RTP timestamp, as the browser saw it
    this.lastFrameAt = 0;
    this.retryAt = 0;
    this.boxesDrawn = 0;
    this.node = el("div", "tile");
    this.node.dataset.index = String(index);
    this.node.dataset.state = "empty";
    this.video = el("video");
    this.video.muted = true;
    this.video.autoplay = true;
    this.video.playsInline = true;
    this.canvas = el("canvas");
    this.head = el("div", "tile-head");
    this.title = el("span", "name", "");
    this.modeLabel = el("span", "mode", "");
    this.closeBtn = el("button", "tile-close", "关闭");
    this.closeBtn.type = "button";
    this.closeBtn.title = "Close";
    this.closeBtn.hidden = true;
    this.closeBtn.onclick = (e) => {
      e.stopPropagation();
      this.stop("closed");
      this.idle();
    };
    const right = el("span");
    right.append(this.modeLabel, " ", this.closeBtn);
    this.head.append(this.title, right);
    this.msg = el("div", "tile-msg");
    this.node.append(this.video, this.canvas, this.head, this.msg);
    this.node.onclick = () => {
      wall.selected = this.index;
      for (const t of wall.tiles) t.node.classList.toggle("selected", t === this);
      if (this.camera && !this.pc) this.open();
    };
  }

  cam() {
    return this.camera ? wall.cams.get(this.camera) : undefined;
  }

  setState(state) {
    this.node.dataset.state = state;
  }

  message(text, bad = false, button = null) {
    this.msg.replaceChildren();
    this.msg.className = bad ? "tile-msg bad" : "tile-msg";
    this.msg.hidden = !text;
    if (text) this.msg.append(el("span", null, text));
    if (button) this.msg.append(button);
  }

  assign(camId) {
    if (this.camera === camId) return;
    this.stop("camera changed");
    this.camera = camId;
    this.node.dataset.camera = camId || "";
    this.idle();
  }

  // not playing: the camera's name and a play button, or why it cannot play
  idle() {
    const cam = this.cam();
    this.wanted = false;
    this.closeBtn.hidden = true;
    this.modeLabel.textContent = "";
    this.clearOverlay();
    this.video.srcObject = null;
    if (!cam) {
      this.title.textContent = "";
      this.setState("empty");
      this.message("空闲画面：点击左侧摄像头 (pick a camera)");
      return;
    }
    this.title.textContent = cam.name;
    this.title.title = `${cam.enterprise_name} · ${cam.post_name || ""}`;
    if (!cam.live) {
      this.setState("offline");
      this.message(`${cam.why_not || "不可观看"}`, true);
      return;
    }
    this.setState("idle");
    const play = el("button", null, "▶ 实时视频");
    play.type = "button";
    play.title = "Watch live";
    play.onclick = (e) => {
      e.stopPropagation();
      this.open();
    };
    this.message("", false, play);
    this.msg.hidden = false;
  }

  async open() {
    const cam = this.cam();
    if (!cam) return;
    this.stop("reopen");
    this.wanted = true;
    this.closeBtn.hidden = false;
    this.title.textContent = cam.name;
    if (!cam.live) {
      this.setState("offline");
      this.message(cam.why_not || "不可观看", true);
      return;
    }
    const clickAt = performance.now();
    this.node.dataset.clickAt = String(clickAt);
    delete this.node.dataset.firstFrameMs;
    this.setState("connecting");
    this.message("连接中… (connecting)");
    const pc = new RTCPeerConnection({ iceServers: wall.ice });
    this.pc = pc;
    this.dets = [];
    this.zones = [];
    this.firstTs = null;
    this.rtp0 = null;
    this.lastFrameAt = 0;
    pc.addTransceiver("video", { direction: "recvonly" });
    const channel = pc.createDataChannel("overlay");
    channel.onmessage = (e) => this.onData(e.data);
    this.channel = channel;
    pc.ontrack = (e) => {
      this.video.srcObject = new MediaStream([e.track]);
      this.video.play().catch(() => {});
    };
    pc.onconnectionstatechange = () => {
      if (pc !== this.pc) return;
      if (pc.connectionState === "failed") this.fail("连接失败 (ICE/DTLS failed)");
      else if (pc.connectionState === "closed") this.fail("连接已关闭 (closed by the node)");
    };
    try {
      await pc.setLocalDescription(await pc.createOffer());
      await iceGathered(pc, ICE_GATHER_MS);
      if (pc !== this.pc) return;
      const res = await PG.send("/api/live/offer", "POST", { camera_id: cam.id, sdp: pc.localDescription.sdp });
      if (pc !== this.pc) return;
      if (!res.ok) {
        const text = await PG.errorText(res);
        this.stop("refused");
        this.wanted = res.status === 409 || res.status === 504 || res.status === 502; // retried when live again
        this.closeBtn.hidden = !this.wanted;
        this.setState("refused");
        this.node.dataset.status = String(res.status);
        this.message(text, true);
        this.retryAt = performance.now() + RETRY_MS;
        return;
      }
      const answer = await res.json();
      this.session = answer.session_id;
      this.mode = answer.mode;
      this.node.dataset.mode = answer.mode;
      this.modeLabel.textContent = answer.mode === "reencode" ? `${answer.mode_label}：${answer.reason}` : `${answer.mode_label} H.264`;
      this.modeLabel.className = `mode ${answer.mode}`;
      this.modeLabel.title = answer.mode === "reencode" ? "The node re-encodes this picture" : "The camera's H.264, passed through by the node";
      await pc.setRemoteDescription({ type: "answer", sdp: answer.sdp });
      const onFrame = (now, meta) => {
        if (pc !== this.pc) return;
        this.onFrame(meta);
        this.video.requestVideoFrameCallback(onFrame);
      };
      this.video.requestVideoFrameCallback(onFrame);
    } catch (err) {
      if (pc === this.pc) this.fail(`连接出错：${err.message || err}`);
    }
  }

  onFrame(meta) {
    const now = performance.now();
    if (!this.lastFrameAt) {
      const first = now - Number(this.node.dataset.clickAt || now);
      this.node.dataset.firstFrameMs = first.toFixed(0);
    }
    this.lastFrameAt = now;
    if (this.node.dataset.state !== "live") {
      this.setState("live");
      const cam = this.cam();
      if (!cam || cam.live) this.message("");
    }
    let frameTs = null;
    if (this.firstTs !== null && typeof meta.rtpTimestamp === "number") {
      if (this.rtp0 === null) this.rtp0 = meta.rtpTimestamp;
      frameTs = this.firstTs + ((meta.rtpTimestamp - this.rtp0) >>> 0) / RTP_CLOCK_MS;
    }
    this.node.dataset.frameTs = frameTs === null ? "" : frameTs.toFixed(0);
    this.draw(frameTs);
  }

  onData(text) {
    let m;
    try {
      m = JSON.parse(text);
    } catch (err) {
      return;
    }
    if (m.t === "hello") this.zones = Array.isArray(m.zones) ? m.zones : [];
    else if (m.t === "first") this.firstTs = m.ts_ms;
    else if (m.t === "dets") {
      this.dets.push(m);
      if (this.dets.length > DETS_KEPT) this.dets.splice(0, this.dets.length - DETS_KEPT);
    } else if (m.t === "state") {
      this.node.dataset.camState = m.state;
      const cam = this.cam();
      if (cam) cam.state = m.state;
      if (m.state !== "online") {
        this.clearOverlay(); // no boxes over a frozen picture
        this.setState("offline");
        this.message(`摄像头离线 (camera ${m.state})${m.error ? `：${m.error}` : ""}`, true);
      } else if (this.node.dataset.state === "offline") {
        this.setState("connecting");
        this.message("摄像头已恢复，等待画面… (camera back, waiting for a key frame)");
        this.lastFrameAt = performance.now();
      }
    }
  }

  // the detections stamped closest before the frame shown (its capture time on the node's clock)
  pick(frameTs) {
    if (!this.dets.length) return null;
    if (frameTs === null) return this.dets[this.dets.length - 1];
    let best = null;
    for (const d of this.dets) if (d.ts_ms <= frameTs + 40) best = d;
    // nothing analyzed in the last 3 s (a node behind under load, or analysing 1 frame a second):
    // no stale boxes over a picture that has moved on
    if (best && frameTs - best.ts_ms > STALE_DETS_MS) return null;
    return best;
  }

  clearOverlay() {
    const ctx = this.canvas.getContext("2d");
    ctx.clearRect(0, 0, this.canvas.width, this.canvas.height);
  }

  draw(frameTs) {
    const v = this.video;
    const w = v.clientWidth;
    const h = v.clientHeight;
    if (!w || !h || !v.videoWidth) return;
    const dpr = window.devicePixelRatio || 1;
    if (this.canvas.width !== Math.round(w * dpr)) this.canvas.width = Math.round(w * dpr);
    if (this.canvas.height !== Math.round(h * dpr)) this.canvas.height = Math.round(h * dpr);
    const ctx = this.canvas.getContext("2d");
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, w, h);
    const scale = Math.min(w / v.videoWidth, h / v.videoHeight); // object-fit: contain
    const pw = v.videoWidth * scale;
    const ph = v.videoHeight * scale;
    const ox = (w - pw) / 2;
    const oy = (h - ph) / 2;
    const X = (x) => ox + x * pw;
    const Y = (y) => oy + y * ph;
    ctx.lineWidth = 2;
    for (const z of this.zones) {
      if (!Array.isArray(z.points) || z.points.length < 3) continue;
      ctx.beginPath();
      z.points.forEach(([x, y], i) => (i ? ctx.lineTo(X(x), Y(y)) : ctx.moveTo(X(x), Y(y))));
      ctx.closePath();
      ctx.fillStyle = "rgba(255, 170, 0, 0.12)";
      ctx.strokeStyle = "rgba(255, 170, 0, 0.9)";
      ctx.fill();
      ctx.stroke();
      ctx.fillStyle = "rgba(255, 170, 0, 1)";
      ctx.font = "12px sans-serif";
      ctx.fillText(z.name || z.id || "", X(z.points[0][0]) + 3, Y(z.points[0][1]) + 13);
    }
    const d = this.pick(frameTs);
    let n = 0;
    ctx.font = "12px sans-serif";
    for (const [x1, y1, x2, y2, label, track] of d ? d.objs : []) {
      ctx.strokeStyle = "#2ee6a6";
      ctx.strokeRect(X(x1), Y(y1), X(x2) - X(x1), Y(y2) - Y(y1));
      const text = track >= 0 ? `${label} #${track}` : String(label);
      const tw = ctx.measureText(text).width + 6;
      ctx.fillStyle = "rgba(5, 8, 15, 0.7)";
      ctx.fillRect(X(x1), Y(y1) - 16, tw, 16);
      ctx.fillStyle = "#2ee6a6";
      ctx.fillText(text, X(x1) + 3, Y(y1) - 4);
      n += 1;
    }
    this.boxesDrawn += n;
    this.node.dataset.boxes = String(n);
    this.node.dataset.boxesDrawn = String(this.boxesDrawn);
  }

  fail(text) {
    this.stop("failed");
    this.setState("failed");
    this.message(text, true);
    this.retryAt = performance.now() + RETRY_MS;
  }

  // end the session (the node notices the closed connection; the center is told too)
  stop(why) {
    const pc = this.pc;
    const session = this.session;
    this.pc = null;
    this.session = null;
    this.mode = null;
    delete this.node.dataset.mode;
    if (pc) {
      try {
        if (this.channel && this.channel.readyState === "open") this.channel.send(JSON.stringify({ t: "bye", why }));
      } catch (err) { /* closing anyway */ }
      pc.close();
    }
    if (session && this.camera) {
      fetch("/api/live/close", {
        method: "POST",
        keepalive: true, // also while the page unloads
        headers: { ...PG.csrfHeaders, "Content-Type": "application/json" },
        body: JSON.stringify({ camera_id: this.camera, session_id: session }),
      }).catch(() => {});
    }
    this.clearOverlay();
  }

  // called every refresh: the camera's state from the center; stalls; retries
  tick() {
    const cam = this.cam();
    if (!cam) return;
    const now = performance.now();
    if (!cam.live) {
      if (this.wanted || this.node.dataset.state !== "offline") {
        this.clearOverlay();
        this.setState("offline");
        this.message(`${cam.why_not || "不可观看"}`, true);
      }
      return;
    }
    if (this.pc && this.node.dataset.state === "live" && now - this.lastFrameAt > STALL_MS) {
      this.clearOverlay();
      this.setState("stalled");
      this.message(`画面中断 ${((now - this.lastFrameAt) / 1000).toFixed(0)} 秒 (no picture)`, true);
    } else if (this.wanted && !this.pc && now >= this.retryAt) {
      this.open();
    } else if (!this.wanted && !this.pc && this.node.dataset.state === "offline") {
      this.idle();
    }
  }
}

function setLayout(n) {
  wall.layout = n;
  const grid = document.getElementById("grid");
  grid.dataset.layout = String(n);
  for (const b of document.querySelectorAll(".wall-layouts button")) b.classList.toggle("active", Number(b.dataset.layout) === n);
  while (wall.tiles.length > n) wall.tiles.pop().stop("layout");
  while (wall.tiles.length < n) {
    const t = new Tile(wall.tiles.length);
    wall.tiles.push(t);
    const shown = new Set(wall.tiles.map((x) => x.camera));
    t.assign(wall.order.find((id) => !shown.has(id)) || null);
  }
  grid.replaceChildren(...wall.tiles.map((t) => t.node));
  wall.selected = Math.min(wall.selected, n - 1);
  markShown();
}

function markShown() {
  const shown = new Set(wall.tiles.map((t) => t.camera));
  for (const li of document.querySelectorAll("#cams li")) li.classList.toggle("shown", shown.has(li.dataset.camera));
}

// a camera picked in the list: into the tile showing it, else the selected one; opened
function show(camId) {
  let tile = wall.tiles.find((t) => t.camera === camId);
  if (!tile) {
    tile = wall.tiles[wall.selected] || wall.tiles[0];
    tile.assign(camId);
  }
  markShown();
  tile.open();
}

function renderList() {
  const list = document.getElementById("cams");
  list.replaceChildren();
  for (const id of wall.order) {
    const c = wall.cams.get(id);
    const li = el("li");
    li.dataset.camera = c.id;
    li.title = `${c.enterprise_name}${c.node_name ? ` · 节点 ${c.node_name}` : ""}`;
    const name = el("span");
    name.append(el("span", "label", c.name), el("small", "sub", c.enterprise_name));
    const badge = el("span", `cam cam-${c.live ? "online" : c.state === "online" ? "offline" : c.state}`, c.live ? "在线" : c.why_not || "离线");
    li.append(name, badge);
    li.onclick = () => show(c.id);
    list.append(li);
  }
  document.getElementById("empty").hidden = wall.order.length > 0;
  document.getElementById("cam-count").textContent = `${wall.order.length} 路`;
  markShown();
}

async function refresh() {
  const res = await PG.api("/api/live/cameras");
  if (!res.ok) throw new Error(await PG.errorText(res));
  const body = await res.json();
  wall.ice = body.ice_servers || [];
  wall.cams = new Map(body.items.map((c) => [c.id, c]));
  wall.order = body.items.map((c) => c.id);
  renderList();
  for (const t of wall.tiles) t.tick();
  document.getElementById("updated").textContent = PG.time(new Date().toISOString(), { short: true });
}

function onVisibility() {
  if (document.hidden) {
    wall.hiddenTimer = setTimeout(() => {
      for (const t of wall.tiles) if (t.pc) {
        t.stop("page hidden");
        t.setState("paused");
        t.message("页面隐藏，已暂停 (paused while hidden)");
      }
    }, HIDDEN_CLOSE_MS);
  } else {
    clearTimeout(wall.hiddenTimer);
    for (const t of wall.tiles) if (t.wanted && !t.pc) t.open();
  }
}

async function main() {
  await PG.me();
  await refresh();
  const params = new URLSearchParams(location.search);
  const wantedCam = params.get("camera");
  for (const b of document.querySelectorAll(".wall-layouts button")) b.onclick = () => setLayout(Number(b.dataset.layout));
  if (wantedCam && wall.cams.has(wantedCam)) {
    setLayout(1);
    wall.tiles[0].assign(wantedCam);
    markShown();
    wall.tiles[0].open();
  } else {
    setLayout(wall.order.length <= 1 ? 1 : wall.order.length <= 4 ? 4 : 9);
    if (wantedCam) document.getElementById("note").textContent = `摄像头 ${wantedCam} 不存在或无权查看 (no such camera you may watch)`;
  }
  document.addEventListener("visibilitychange", onVisibility);
  window.addEventListener("pagehide", () => {
    for (const t of wall.tiles) t.stop("page closed");
  });
  setInterval(() => refresh().catch((err) => (document.getElementById("note").textContent = err.message)), REFRESH_MS);
  setInterval(() => {
    for (const t of wall.tiles) if (t.pc) t.tick();
  }, 1000);
}

main().catch((err) => {
  document.getElementById("note").textContent = `加载失败：${err.message}`;
});
