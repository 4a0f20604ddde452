// Shared by the console pages: elements, times in the park's time zone, facts, the API with
// the login (go to the login page on 401) and the CSRF header, who is logged in, the
// navigation by role, log out.
"use strict";

const PG = (() => {
  const meta = document.querySelector('meta[name="pg-timezone"]');
  const tz = (meta && meta.content) || "Asia/Shanghai";
  const clock = { hour: "2-digit", minute: "2-digit", second: "2-digit", hourCycle: "h23" };
  const full = new Intl.DateTimeFormat("zh-CN", { timeZone: tz, year: "numeric", month: "2-digit", day: "2-digit", ...clock });
  const short = new Intl.DateTimeFormat("zh-CN", { timeZone: tz, month: "2-digit", day: "2-digit", ...clock });
  const day = new Intl.DateTimeFormat("en-CA", { timeZone: tz, year: "numeric", month: "2-digit", day: "2-digit" });
  const hms = new Intl.DateTimeFormat("zh-CN", { timeZone: tz, ...clock });

  return {
    tz,

    // <tag class="cls">text</tag>; no text for undefined or null
    el(tag, cls, text) {
      const node = document.createElement(tag);
      if (cls) node.className = cls;
      if (text !== undefined && text !== null) node.textContent = text;
      return node;
    },

    // an SVG element with its attributes (charts are drawn in SVG, no inline style)
    svg(tag, attrs = {}, text) {
      const node = document.createElementNS("http://www.w3.org/2000/svg", tag);
      for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
      if (text !== undefined && text !== null) node.textContent = text;
      return node;
    },

    // a <dt>label</dt><dd class="cls">value</dd> pair in dl, none for an empty value; the <dd>
    fact(dl, label, value, cls) {
      if (value === null || value === undefined || value === "") return null;
      const dd = PG.el("dd", cls, String(value));
      dl.append(PG.el("dt", null, label), dd);
      return dd;
    },

    // a time (epoch ms, ISO string or Date) in the park's time zone; short: without the year
    time(value, { short: noYear = false } = {}) {
      if (value === null || value === undefined || value === "") return "–";
      return (noYear ? short : full).format(new Date(value));
    },

    // HH:MM:SS of a time in the park's time zone
    clock(value) {
      if (value === null || value === undefined || value === "") return "–";
      return hms.format(new Date(value));
    },

    // YYYY-MM-DD of a time in the park's time zone
    day(value) {
      return day.format(new Date(value));
    },

    // the header the center wants on every state-changing request the session cookie
    // authenticates (its CSRF check): a page of another origin cannot send it
    csrfHeaders: { "X-Requested-With": "parkguard" },

    async api(path, options = {}) {
      const headers = { ...PG.csrfHeaders, ...(options.headers || {}) };
      const res = await fetch(path, { cache: "no-store", ...options, headers });
      if (res.status === 401) {
        location.replace(`/login?next=${encodeURIComponent(location.pathname)}`);
        throw new Error("请先登录");
      }
      return res;
    },

    // a JSON request that changes something (POST/PATCH/PUT), through api()
    async send(path, method, body) {
      return PG.api(path, {
        method,
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify(body === undefined ? {} : body),
      });
    },

    // a stored photo as a figure: the image (lazy, opens full size in a new tab) and its caption
    photo(sha, caption) {
      const fig = PG.el("figure", "evidence-item");
      const img = PG.el("img");
      img.alt = caption;
      img.loading = "lazy";
      img.src = `/api/evidence/${sha}`;
      const link = PG.el("a");
      link.href = img.src;
      link.target = "_blank";
      link.rel = "noopener";
      link.append(img);
      fig.append(link, PG.el("figcaption", null, caption));
      return fig;
    },

    // the photos (sha256s) into box, captioned "caption 1", "caption 2", …; how many
    photos(box, shas, caption) {
      box.replaceChildren();
      (shas || []).forEach((sha, i) => box.append(PG.photo(sha, `${caption} ${i + 1}`)));
      return (shas || []).length;
    },

    // a file input for photos, the phone's camera first (rectification, on-site hazards)
    photoInput(name) {
      const input = PG.el("input");
      input.type = "file";
      input.name = name;
      input.accept = "image/*";
      input.setAttribute("capture", "environment");
      input.multiple = true;
      return input;
    },

    // upload the chosen photos (at most 20; at least one when ``required``): their sha256s in order
    PHOTOS_MAX: 20,
    async uploadPhotos(files, required = false) {
      const chosen = [...(files || [])];
      if (required && !chosen.length) throw new Error("请拍摄或选择至少一张照片");
      if (chosen.length > PG.PHOTOS_MAX) throw new Error(`最多上传 ${PG.PHOTOS_MAX} 张照片`);
      const shas = [];
      for (const file of chosen) shas.push(await PG.uploadPhoto(file));
      return shas;
    },

    // 服务需求: one service request as an item (kind, status, who, text, the reply), with the
    // answer form (已受理/已完成 + a reply) when ``answerable``; ``onAnswered`` reloads the list,
    // ``showError`` says why an answer was refused
    serviceRequest(r, { answerable, onAnswered, showError }) {
      const { el } = PG;
      const item = el("div", "item request");
      item.dataset.id = r.id;
      const head = el("div", "item-head");
      head.append(el("strong", null, r.kind_label), el("span", `badge req-${r.status}`, r.status_label));
      item.append(head, el("p", "note", `${PG.time(r.created_at, { short: true })} · ${r.created_by}`), el("p", "text", r.text));
      if (r.reply) item.append(el("p", "reply", `答复（${r.replied_by}，${PG.time(r.replied_at, { short: true })}）：${r.reply}`));
      if (!answerable || r.status === "done") return item;
      const form = el("form", "step-form answer");
      const status = el("select");
      status.name = "status";
      PG.options(status, [["accepted", "已受理"], ["done", "已完成"]]);
      if (r.status === "accepted") status.value = "done";
      const reply = el("textarea");
      reply.name = "reply";
      reply.maxLength = 500;
      reply.rows = 2;
      reply.placeholder = "答复企业，例：已安排，下周二上门培训";
      const send = el("button", "btn primary", "答复");
      send.type = "submit";
      form.append(status, reply, send);
      form.addEventListener("submit", async (ev) => {
        ev.preventDefault();
        send.disabled = true;
        showError("");
        try {
          const res = await PG.send(`/api/service-requests/${r.id}/answer`, "POST", { status: status.value, reply: reply.value.trim() });
          if (!res.ok) throw new Error(await PG.errorText(res));
          await onAnswered();
        } catch (err) {
          showError(err.message);
          send.disabled = false;
        }
      });
      item.append(form);
      return item;
    },

    // upload a photo (a File from <input type=file>): checked here first (type, size), then the
    // center hashes and checks it; the stored file's sha256, or an Error with the reason
    PHOTO_MAX: 10 * 1024 * 1024,
    async uploadPhoto(file) {
      if (!/^image\/(jpeg|png)$/.test(file.type)) {
        throw new Error(`“${file.name}”不是 JPEG 或 PNG 照片`);
      }
      if (file.size > PG.PHOTO_MAX) {
        throw new Error(`“${file.name}”大于 10 MB，请压缩后再上传`);
      }
      const res = await PG.api("/api/evidence", { method: "POST", headers: { "Content-Type": file.type }, body: file });
      if (!res.ok) throw new Error(`“${file.name}”上传失败：${await PG.errorText(res)}`);
      return (await res.json()).sha256;
    },

    // what went wrong with an answer, for the page: the center's reason (its detail) after a
    // few words on the status
    // fetch a PDF the center renders (a report) and hand it to the browser to save; its report
    // number (X-Report-No), or an Error with the center's reason
    async downloadPdf(path) {
      const res = await PG.api(path);
      if (!res.ok) throw new Error(await PG.errorText(res));
      const number = res.headers.get("X-Report-No") || "report";
      const a = PG.el("a");
      a.href = URL.createObjectURL(await res.blob());
      a.download = `${number}.pdf`;
      document.body.append(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(a.href), 60000);
      return number;
    },

    async errorText(res) {
      const what = {
        400: "请求有误", 401: "请先登录", 403: "无权执行此操作", 404: "未找到或无权查看",
        409: "当前状态不允许此操作", 413: "文件过大", 422: "输入有误", 429: "操作过于频繁",
      }[res.status] || "操作失败";
      let detail = "";
      try {
        const body = await res.json();
        if (typeof body.detail === "string") detail = body.detail;
        else if (Array.isArray(body.detail)) {
          detail = body.detail.map((d) => `${(d.loc || []).filter((x) => x !== "body" && x !== "query").join(".")} ${d.msg}`.trim()).join("；");
        }
      } catch (err) { /* no JSON body */ }
      return detail ? `${what}：${detail}` : `${what} (HTTP ${res.status})`;
    },

    // a <select> filled with [value, label] pairs, the first one being "any"
    options(select, pairs, anyLabel) {
      select.replaceChildren();
      if (anyLabel !== undefined) select.append(new Option(anyLabel, ""));
      for (const [value, text] of pairs) select.append(new Option(text, value));
    },

    async me() {
      const res = await PG.api("/api/auth/me");
      const me = await res.json();
      const box = document.getElementById("user");
      if (box) {
        // the role once: a demo account is often named after it (管控中心值班员 · 管控中心值班员)
        const who = me.display_name || me.username;
        box.textContent = who === me.role_label ? `${who} ` : `${who} · ${me.role_label} `;
        const out = PG.el("button", null, "退出");
        out.id = "logout";
        out.title = "Log out";
        out.onclick = async () => {
          await fetch("/api/auth/logout", { method: "POST", headers: PG.csrfHeaders });
          location.replace("/login");
        };
        box.append(out);
      }
      PG.nav(me);
      return me;
    },

    // the navigation: the pages this account may open, as the center lists them (me.pages);
    // the current page (<body data-page="…">) is marked
    nav(me) {
      const nav = document.querySelector("nav.nav");
      if (!nav) return;
      const current = document.body.dataset.page;
      nav.replaceChildren();
      for (const p of me.pages || []) {
        const a = PG.el("a", null, `${p.label} `);
        a.href = p.path;
        a.dataset.page = p.key;
        const own = p.key !== "card" && p.key !== "file";
        if (p.key === current && (own || p.path === location.pathname)) a.className = "active";
        if (p.key === "enterprises" && current === "file") a.className = "active"; // a file of the list
        a.append(PG.el("small", null, p.label_en));
        nav.append(a);
      }
    },
  };
})();
