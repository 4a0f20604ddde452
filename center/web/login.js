// Log in: the API sets an HttpOnly session cookie; then go where the visitor wanted to go.
"use strict";

function nextPath() {
  const next = new URLSearchParams(location.search).get("next") || "/";
  return next.startsWith("/") && !next.startsWith("//") ? next : "/";
}

document.getElementById("login").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const error = document.getElementById("error");
  error.textContent = "";
  const body = {
    username: document.getElementById("username").value.trim(),
    password: document.getElementById("password").value,
  };
  try {
    const res = await fetch("/api/auth/login", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
    });
    if (res.ok) {
      location.replace(nextPath());
      return;
    }
    const data = await res.json().catch(() => ({}));
    error.textContent = res.status === 401 ? "用户名或密码错误" : (typeof data.detail === "string" ? data.detail : `登录失败 (HTTP ${res.status})`);
  } catch (err) {
    error.textContent = `无法连接服务器 (${err.message})`;
  }
});
