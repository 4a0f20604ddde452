// 企业风险一张图: the enterprises the user may see, coloured 红/橙/黄/蓝, as a list and on the park map;
// each with its 风险诊断报告 (the last 30 days; the risk file offers any period), and for the park's
// staff and the government the park report.
"use strict";

const COLORS = { red: "#e5484d", orange: "#f76b15", yellow: "#f5c400", blue: "#3e7bfa" };
const SVG = "http://www.w3.org/2000/svg";

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
  const map = document.getElementById("map");
  body.replaceChildren();
  map.replaceChildren();
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
    if (r.map_x !== null && r.map_y !== null) {
      const g = document.createElementNS(SVG, "g");
      const dot = document.createElementNS(SVG, "circle");
      dot.setAttribute("cx", r.map_x);
      dot.setAttribute("cy", r.map_y * 0.75);
      dot.setAttribute("r", 0.018);
      dot.setAttribute("fill", COLORS[r.level]);
      dot.dataset.enterpriseId = r.enterprise_id;
      const title = document.createElementNS(SVG, "title");
      title.textContent = `${r.name} · ${r.level_label} · ${r.score.toFixed(1)}`;
      dot.append(title);
      dot.addEventListener("click", () => { location.href = `/enterprises/${encodeURIComponent(r.enterprise_id)}`; });
      const label = document.createElementNS(SVG, "text");
      label.setAttribute("x", r.map_x + 0.022);
      label.setAttribute("y", r.map_y * 0.75 + 0.008);
      label.textContent = r.name.replace(/^佛山市南海(区)?/, "").replace(/有限公司$/, "");
      g.append(dot, label);
      map.append(g);
    }
  }
  document.getElementById("note").textContent = rows.length ? "" : "暂无可查看的企业";
}

PG.me().then(load).catch((err) => { document.getElementById("note").textContent = err.message; });
