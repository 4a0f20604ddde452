// Log in: the API sets an HttpOnly session cookie; then go where the visitor wanted to go, when
// that is a path of this site (the center's safe_next applies the same rule), else to the
// role's landing page.
"use strict";

const MAX_NEXT_CHARS = 512;

// value when it is a path of this site, else null: one leading "/", not "//", no backslash,
// no control character, no scheme or host, on the value and on it URL-decoded
function safeNext(value) {
  if (typeof value !== "string" || value.length === 0 || value.length > MAX_NEXT_CHARS) return null;
  let decoded = value;
  for (let i = 0; i < 3; i++) {
    let once;
    try {
      once = decodeURIComponent(decoded);
    } catch {
      return null;
    }
    if (once === decoded) break;
    decoded = once;
  }
  for (const text of [value, decoded]) {
    if (!text.startsWith("/") || text.startsWith("//") || text.includes("\\")) return null;
    if (/[\u0000-\u001f\u007f]/.test(text)) return null;
  }
  const url = new URL(value, location.origin);
  if (url.origin !== location.origin) return null;
  return url.pathname + url.search + url.hash;
}

function nextPath(landing) {
  return safeNext(new URLSearchParams(location.search).get("next")) || landing || "/";
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
      headers: { "Content-Type": "application/json", "X-Requested-With": "parkguard" },
      body: JSON.stringify(body),
    });
    if (res.ok) {
      const data = await res.json().catch(() => ({}));
      location.replace(nextPath(data.user && data.user.landing));
      return;
    }
    const data = await res.json().catch(() => ({}));
    error.textContent = res.status === 401 ? "用户名或密码错误" : (typeof data.detail === "string" ? data.detail : `登录失败 (HTTP ${res.status})`);
  } catch (err) {
    error.textContent = `无法连接服务器 (${err.message})`;
  }
});
