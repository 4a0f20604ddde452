// 安全档案: the enterprises the user may see (an insurer: the ones it insures), each with its
// risk in brief, linking to its file.
"use strict";

const { el } = PG;

let timer = null;

async function load() {
  const q = document.getElementById("q").value.trim();
  const params = new URLSearchParams({ limit: "1000" });
  if (q) params.set("q", q);
  const res = await PG.api(`/api/enterprises?${params}`);
  const note = document.getElementById("note");
  if (!res.ok) {
    note.textContent = `加载失败：${await PG.errorText(res)}`;
    return;
  }
  const page = await res.json();
  const body = document.getElementById("enterprise-rows");
  body.replaceChildren();
  const score = (e) => (e.risk ? e.risk.score : -1);
  for (const e of [...page.items].sort((a, b) => score(b) - score(a))) { // the riskiest first
    const tr = el("tr");
    tr.dataset.enterpriseId = e.id;
    const name = el("td");
    const link = el("a", null, e.name);
    link.href = `/enterprises/${encodeURIComponent(e.id)}`;
    name.append(link);
    const level = el("td");
    if (e.risk) level.append(el("span", `level level-${e.risk.level}`, e.risk.level_label));
    tr.append(
      name,
      el("td", "mono", e.credit_code),
      el("td", null, e.industry_label),
      el("td", "address", e.address || "–"),
      el("td", "num", String(e.cameras)),
      level,
      el("td", "num", e.risk ? e.risk.score.toFixed(1) : "–"),
      el("td", "num", e.risk ? e.risk.coefficient.toFixed(2) : "–"),
    );
    body.append(tr);
  }
  note.textContent = page.items.length ? `共 ${page.total} 家` : "暂无可查看的企业";
}

PG.me()
  .then(() => {
    document.getElementById("q").addEventListener("input", () => {
      clearTimeout(timer);
      timer = setTimeout(load, 250);
    });
    return load();
  })
  .catch((err) => { document.getElementById("note").textContent = err.message; });
