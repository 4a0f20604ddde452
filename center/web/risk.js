// 企业风险一张图: the enterprises the user may see, coloured 红/橙/黄/蓝, as a list and on the park's
// plan (plan-map.js: cameras with their state, open hazards and live alerts pulsing, refreshed);
// each with its 风险诊断报告 (the last 30 days; the risk file offers any period), and for the park's
// staff and the government the park report.
"use strict";


const { el } = PG;

const note = (text) => { document.getElementById("note").textContent = text || ""; };

// a button that fetches a PDF the center renders and saves it; failures go to the note
function pdfButton(button, path) {
  button.addEventListener("click", async () => {
    button.disabled = true;
    try {
      const number = await PG.downloadPdf(path);
      note(`已生成 ${number}`);
    } catch (err) {
      note(`无法生成报告：${err.message}`);
    } finally {
      button.disabled = false;
    }
  });
  return button;
}

async function load(me) {
  const may = new Set((me && me.may) || []);
  if (may.has("park_report_pdf")) {
    const park = document.getElementById("park-report");
    pdfButton(park, "/api/reports/park.pdf");
    park.hidden = false;
  }
  const res = await PG.api("/api/risk");
  if (!res.ok) {
    document.getElementById("note").textContent = `加载失败 (HTTP ${res.status})`;
    return;
  }
  const rows = await res.json();
  const body = document.getElementById("enterprise-rows");
  body.replaceChildren();
  for (const r of rows) {
    const tr = el("tr");
    tr.dataset.enterpriseId = r.enterprise_id;
    tr.dataset.level = r.level;
    const name = el("td");
    const link = el("a", null, r.name);
    link.href = `/enterprises/${encodeURIComponent(r.enterprise_id)}`; // its risk file (安全档案)
    name.append(link);
    const level = el("td");
    level.append(el("span", `level level-${r.level}`, r.level_label));
    const report = el("td");
    const get = el("button", "btn small", "风险诊断报告");
    get.type = "button";
    report.append(pdfButton(get, `/api/enterprises/${encodeURIComponent(r.enterprise_id)}/report.pdf`));
    tr.append(name, el("td", null, r.industry_label), level, el("td", "num score", r.score.toFixed(1)), el("td", "num", r.coefficient.toFixed(2)), report);
    body.append(tr);
  }
  document.getElementById("note").textContent = rows.length ? "" : "暂无可查看的企业";
}

const PLAN_REFRESH_MS = 5000;

async function loadPlan() {
  const planNote = document.getElementById("plan-note");
  try {
    const res = await PG.api("/api/plan");
    if (!res.ok) { planNote.textContent = `园区一张图加载失败 (HTTP ${res.status})`; return; }
    const data = await res.json();
    PlanMap.draw(document.getElementById("map"), data);
    const unplaced = data.enterprises.filter((e) => e.map_x === null).length;
    const live = data.cameras.reduce((n, c) => n + c.live_alerts, 0);
    planNote.textContent = [
      `${data.site_name} · ${data.enterprises.length} 家企业 · ${data.cameras.length} 路摄像头`,
      live ? `进行中告警 ${live}` : "",
      unplaced ? `${unplaced} 家企业未标注位置` : "",
    ].filter(Boolean).join(" · ");
    document.getElementById("map").dataset.loaded = String(Date.now());
  } catch (err) {
    planNote.textContent = `园区一张图加载失败 (${err.message})`;
  }
}

PG.me().then(load).catch((err) => { document.getElementById("note").textContent = err.message; });
loadPlan();
setInterval(() => { if (!document.hidden) loadPlan(); }, PLAN_REFRESH_MS);
