// 园区一张图: the park's plan as the base, enterprises coloured 红/橙/黄/蓝 by risk level, their open
// hazards and their cameras' live alerts pulsing, cameras as icons with their state. A click on an
// enterprise opens its risk file, on a camera its live picture (/wall?camera=ID). Shared by the
// risk page (/risk) and the placement page (/admin/plan). Positions are 0–1 of the plan's size.
"use strict";

const PlanMap = (() => {
  const COLORS = { red: "#e5484d", orange: "#f76b15", yellow: "#f5c400", blue: "#3e7bfa" };
  const LIVE = new Set(["online", "starting"]);
  const svg = (tag, attrs, text) => PG.svg(tag, attrs, text);

  function shortName(name) {
    return name.replace(/^佛山市南海(区)?/, "").replace(/(有限公司|有限责任公司)$/, "");
  }

  // draw the map into <svg id=...>; returns {width, height} of the plan (the SVG's user units)
  function draw(map, data, { onEnterprise, onCamera, onPlan } = {}) {
    const plan = data.plan;
    const width = plan ? plan.width : 1200;
    const height = plan ? plan.height : 900;
    const unit = Math.max(width, height) / 1000; // marker sizes follow the plan's size
    map.setAttribute("viewBox", `0 0 ${width} ${height}`);
    const same = plan && map.dataset.plan === plan.sha256 && map.querySelector("image.plan-image");
    if (same) { // the same plan: only the markers are drawn again (no flicker, no reload)
      for (const g of map.querySelectorAll("g.markers")) g.remove();
    } else {
      map.replaceChildren();
    }
    map.dataset.plan = plan ? plan.sha256 : "";
    if (same) {
      // kept
    } else if (plan) {
      // an SVG <image>: whatever the file holds, no script of it runs here
      const img = svg("image", { href: plan.url, x: 0, y: 0, width, height, preserveAspectRatio: "none" });
      img.classList.add("plan-image");
      map.append(img);
    } else {
      map.append(svg("rect", { x: 0, y: 0, width, height, class: "plan-empty" }));
      map.append(svg("text", { x: width / 2, y: height / 2, "text-anchor": "middle", class: "plan-empty-text", "font-size": 28 * unit },
        "尚未上传园区底图 (no park plan yet: 园区底图 page)"));
    }
    if (onPlan) {
      map.onclick = (ev) => {
        const pt = map.createSVGPoint();
        pt.x = ev.clientX; pt.y = ev.clientY;
        const at = pt.matrixTransform(map.getScreenCTM().inverse());
        onPlan(Math.min(1, Math.max(0, at.x / width)), Math.min(1, Math.max(0, at.y / height)));
      };
    }
    const layer = svg("g", { class: "markers" });
    map.append(layer);
    for (const e of data.enterprises) {
      if (e.map_x === null || e.map_y === null) continue;
      const x = e.map_x * width, y = e.map_y * height;
      const g = svg("g", { class: `ent level-${e.level}`, transform: `translate(${x} ${y})` });
      g.dataset.enterpriseId = e.enterprise_id;
      g.dataset.level = e.level;
      g.dataset.openHazards = String(e.open_hazards);
      if (e.open_hazards > 0) g.append(svg("circle", { r: 30 * unit, class: `pulse${e.major_hazards ? " major" : ""}` }));
      g.append(svg("circle", { r: 16 * unit, fill: COLORS[e.level], class: "ent-dot" }));
      g.append(svg("text", { y: 5 * unit, "text-anchor": "middle", class: "ent-level", "font-size": 15 * unit }, e.level_label));
      if (!plan) { // a plan labels its buildings itself; without one the marker says whose it is
        g.append(svg("text", { x: 0, y: -24 * unit, "text-anchor": "middle", class: "ent-name", "font-size": 17 * unit }, shortName(e.name)));
      }
      if (e.open_hazards) {
        g.append(svg("text", { x: 22 * unit, y: 22 * unit, class: "ent-hazards", "font-size": 14 * unit },
          `隐患 ${e.open_hazards}${e.major_hazards ? `（重大 ${e.major_hazards}）` : ""}`));
      }
      g.append(svg("title", {}, `${e.name} · ${e.level_label}（${e.score.toFixed(1)} 分）· 未销号隐患 ${e.open_hazards} — 点击打开安全档案`));
      g.addEventListener("click", (ev) => { ev.stopPropagation(); (onEnterprise || openFile)(e); });
      layer.append(g);
    }
    for (const c of data.cameras) {
      if (c.map_x === null || c.map_y === null) continue;
      const x = c.map_x * width, y = c.map_y * height;
      const state = LIVE.has(c.state) ? "online" : (c.state === "offline" || c.state === "stalled" ? "offline" : "unknown");
      const g = svg("g", { class: `cam state-${state}${c.live_alerts ? " alerting" : ""}`, transform: `translate(${x} ${y})` });
      g.dataset.camera = c.camera;
      g.dataset.state = c.state;
      g.dataset.liveAlerts = String(c.live_alerts);
      if (c.live_alerts) g.append(svg("circle", { r: 20 * unit, class: `pulse${c.live_major ? " major" : ""}` }));
      // a camera icon: body and lens
      const u = 1.3 * unit;
      g.append(svg("rect", { x: -9 * u, y: -6 * u, width: 14 * u, height: 12 * u, rx: 2 * u, class: "cam-body" }));
      g.append(svg("path", { d: `M${5 * u} ${-3 * u} L${11 * u} ${-7 * u} L${11 * u} ${7 * u} L${5 * u} ${3 * u} Z`, class: "cam-body" }));
      g.append(svg("title", {}, `${c.name}（${c.post_name || c.camera}）· ${c.enterprise_name} · ${c.state_label}${c.live_alerts ? ` · 进行中告警 ${c.live_alerts}` : ""} — 点击查看实时画面`));
      g.addEventListener("click", (ev) => { ev.stopPropagation(); (onCamera || openLive)(c); });
      layer.append(g);
    }
    return { width, height };
  }

  function openFile(e) { location.href = `/enterprises/${encodeURIComponent(e.enterprise_id)}`; }
  function openLive(c) { location.href = c.live_url; }

  return { draw, shortName };
})();
