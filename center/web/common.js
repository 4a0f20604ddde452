// Shared by the console pages: who is logged in, log out, go to the login page on 401.
"use strict";

const PG = {
  async api(path, options = {}) {
    const res = await fetch(path, { cache: "no-store", ...options });
    if (res.status === 401) {
      location.replace(`/login?next=${encodeURIComponent(location.pathname)}`);
      throw new Error("请先登录");
    }
    return res;
  },
  async me() {
    const res = await PG.api("/api/auth/me");
    const me = await res.json();
    const el = document.getElementById("user");
    if (el) {
      el.textContent = `${me.display_name || me.username} · ${me.role_label} `;
      const out = document.createElement("button");
      out.id = "logout";
      out.textContent = "退出";
      out.title = "Log out";
      out.onclick = async () => {
        await fetch("/api/auth/logout", { method: "POST" });
        location.replace("/login");
      };
      el.append(out);
    }
    // links to pages whose data this role may not read (data-roles="admin operator …") go away
    for (const link of document.querySelectorAll("a[data-roles]")) {
      link.hidden = !link.dataset.roles.split(/\s+/).includes(me.role);
    }
    return me;
  },
};
