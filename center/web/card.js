// The page a 全安码 opens: everyone sees the name and the risk colour; logged-in viewers who
// may see the enterprise get more (the API decides what).
"use strict";

const ID = document.querySelector('meta[name="pg-enterprise"]').content;
const LEVEL_TEXT = { red: "重大风险", orange: "较大风险", yellow: "一般风险", blue: "低风险" };

async function load() {
  const res = await fetch(`/api/enterprises/${encodeURIComponent(ID)}/card`, { cache: "no-store" });
  if (!res.ok) {
    document.getElementById("name").textContent = res.status === 404 ? "未找到该企业" : `加载失败 (HTTP ${res.status})`;
    return;
  }
  const c = await res.json();
  document.title = `全安码 — ${c.name}`;
  document.getElementById("name").textContent = c.name;
  const code = document.getElementById("code");
  code.style.background = c.color;
  code.dataset.level = c.level;
  document.getElementById("level-label").textContent = c.level_label;
  document.getElementById("level-text").textContent = `风险等级：${c.level_label}（${LEVEL_TEXT[c.level]}）`;
  if (c.viewer !== "anonymous") document.getElementById("login-link").hidden = true;
  if (c.score === null || c.score === undefined) return;
  const rows = [
    ["风险分", c.score.toFixed(1)],
    ["建议费率系数", c.coefficient.toFixed(2)],
    ["行业", c.industry_label],
    ["地址", c.address],
    ["未销号隐患", c.open_hazards],
    ["逾期隐患", c.overdue_hazards],
    ["近30天告警", c.alerts_30d],
  ];
  for (const p of c.policies || []) rows.push(["保单", `${p.policy_no}（${p.start_date} 至 ${p.end_date}）`]);
  const dl = document.getElementById("details");
  for (const [k, v] of rows) PG.fact(dl, k, v);
  dl.hidden = false;
  const img = PG.el("img");
  img.alt = "全安码";
  img.src = `/api/enterprises/${encodeURIComponent(ID)}/qr.svg`;
  img.onerror = () => img.remove();
  img.onload = () => { document.getElementById("level-label").remove(); };
  code.append(img);
}

// a logged-in viewer (the page says so: no 401 asked for by an anonymous one) gets the console's
// header: who, the navigation, log out
if (document.querySelector('meta[name="pg-viewer"]').content === "user") {
  PG.me().then(() => { document.getElementById("top").hidden = false; }).catch(() => {});
}
load();
