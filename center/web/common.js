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

  return {
    tz,

    // <tag class="cls">text</tag>; no text for undefined or null
    el(tag, cls, text) {
      const node = document.createElement(tag);
      if (cls) node.className = cls;
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

    async me() {
      const res = await PG.api("/api/auth/me");
      const me = await res.json();
      const box = document.getElementById("user");
      if (box) {
        box.textContent = `${me.display_name || me.username} · ${me.role_label} `;
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
        if (p.key === current && (p.key !== "card" || p.path === location.pathname)) a.className = "active";
        a.append(PG.el("small", null, p.label_en));
        nav.append(a);
      }
    },
  };
})();
