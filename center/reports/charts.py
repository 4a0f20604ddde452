"""Report charts: matplotlib (Agg backend, no display) with Noto Sans CJK, as PNG data URIs."""

from __future__ import annotations

import base64
import io
import shutil
import subprocess
from functools import lru_cache
from pathlib import Path
from typing import Any

KNOWN_FONTS = (
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJKsc-Regular.otf",
    "/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/google-noto-cjk/NotoSansCJK-Regular.ttc",
)
DPI = 150
BAR = "#1565c0"
ACCENT = "#ef6c00"


class FontMissing(RuntimeError):
    """No CJK font: reports cannot be drawn (the message says which package to install)."""


@lru_cache(maxsize=1)
def cjk_font() -> str:
    """The path of Noto Sans CJK (fc-match, then the Debian and Fedora paths); FontMissing otherwise."""
    candidates: list[str] = []
    if shutil.which("fc-match"):
        try:
            out = subprocess.run(
                ["fc-match", "-f", "%{file}", "Noto Sans CJK SC:style=Regular"],
                capture_output=True,
                text=True,
                timeout=10,
                check=False,
            ).stdout.strip()
        except (OSError, subprocess.TimeoutExpired):
            out = ""
        if "CJK" in Path(out).name:
            candidates.append(out)
    candidates += KNOWN_FONTS
    for c in candidates:
        if Path(c).is_file():
            return c
    raise FontMissing(
        "no CJK font for the report (Noto Sans CJK): install the Debian package fonts-noto-cjk "
        "(scripts/setup.sh does)"
    )


@lru_cache(maxsize=1)
def _setup() -> str:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import font_manager, rcParams

    path = cjk_font()
    font_manager.fontManager.addfont(path)
    name = font_manager.FontProperties(fname=path).get_name()
    rcParams["font.family"] = [name]
    rcParams["axes.unicode_minus"] = False
    rcParams["font.size"] = 9
    rcParams["axes.spines.top"] = False
    rcParams["axes.spines.right"] = False
    return name


def _png(fig: Any) -> str:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, bbox_inches="tight")
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _bars_h(labels: list[str], values: list[float], title: str, unit: str = "") -> str:
    import matplotlib.pyplot as plt

    _setup()
    height = max(1.6, 0.32 * len(labels) + 0.8)
    fig, ax = plt.subplots(figsize=(6.2, height))
    y = list(range(len(labels)))[::-1]
    ax.barh(y, values, color=BAR)
    ax.set_yticks(y, labels)
    top = max(values) if values else 0
    for yy, v in zip(y, values, strict=True):
        ax.text(v + top * 0.01, yy, f"{v:g}{unit}", va="center", fontsize=8)
    ax.set_xlim(0, top * 1.15 if top else 1)
    ax.set_title(title, loc="left", fontsize=10)
    return _png(fig)


def alerts_by_type(rows: list[dict[str, Any]]) -> str | None:
    rows = rows[:12]
    if not rows:
        return None
    return _bars_h([r["type"] for r in rows], [r["count"] for r in rows], "告警类型分布（条）")


def alerts_by_severity(rows: list[dict[str, Any]]) -> str | None:
    import matplotlib.pyplot as plt

    if not any(r["count"] for r in rows):
        return None
    _setup()
    fig, ax = plt.subplots(figsize=(3.0, 2.4))
    colours = ["#90caf9", "#ffb74d", "#e57373"]
    labels = [r["severity"] for r in rows]
    values = [r["count"] for r in rows]
    ax.bar(labels, values, color=colours)
    for i, v in enumerate(values):
        ax.text(i, v, f"{v}", ha="center", va="bottom", fontsize=8)
    ax.set_title("告警严重程度（条）", loc="left", fontsize=10)
    return _png(fig)


def alerts_by_hour(counts: list[int], timezone: str = "") -> str | None:
    import matplotlib.pyplot as plt

    if not any(counts):
        return None
    _setup()
    fig, ax = plt.subplots(figsize=(6.2, 2.2))
    ax.bar(range(24), counts, color=BAR)
    ax.set_xticks(range(0, 24, 2), [f"{h}时" for h in range(0, 24, 2)])
    ax.set_title(f"告警时段分布（按小时，园区时间 {timezone}）".replace(" ）", "）"), loc="left", fontsize=10)
    return _png(fig)


def alerts_trend(trend: dict[str, Any]) -> str | None:
    import matplotlib.pyplot as plt

    labels, counts = trend["labels"], trend["counts"]
    if not any(counts):
        return None
    _setup()
    fig, ax = plt.subplots(figsize=(6.2, 2.2))
    x = list(range(len(labels)))
    ax.plot(x, counts, color=ACCENT, marker="o" if len(x) <= 40 else None, markersize=3)
    ax.fill_between(x, counts, color=ACCENT, alpha=0.15)
    step = max(1, len(labels) // 10)
    ticks = x[::step]
    ax.set_xticks(ticks, [labels[i][5:] if trend["unit"] == "日" else labels[i] for i in ticks], rotation=30)
    ax.set_ylim(bottom=0)
    ax.set_title(f"告警趋势（按{trend['unit']}）", loc="left", fontsize=10)
    return _png(fig)


def alerts_by_post(rows: list[dict[str, Any]]) -> str | None:
    rows = rows[:10]
    if not rows:
        return None
    labels = [("★" if r["key_post"] else "") + r["post"] for r in rows]
    return _bars_h(labels, [r["total"] for r in rows], "告警最多的岗位（★ 重点岗位）")


def false_alarms(rows: list[dict[str, Any]]) -> str | None:
    rows = [r for r in rows if r["false_alarm_pct"] is not None][:12]
    if not rows:
        return None
    return _bars_h([r["rule"] for r in rows], [r["false_alarm_pct"] for r in rows], "各规则误报率", "%")


def enterprise_charts(data: dict[str, Any]) -> dict[str, str | None]:
    a = data["alerts"]
    return {
        "by_type": alerts_by_type(a["by_type"]),
        "by_severity": alerts_by_severity(a["by_severity"]),
        "by_hour": alerts_by_hour(a["by_hour"], data["cover"]["timezone"]),
        "trend": alerts_trend(a["trend"]),
        "by_post": alerts_by_post(a["by_post"]),
        "false_alarms": false_alarms(a["rules"]),
    }


def levels_chart(levels: list[dict[str, Any]]) -> str | None:
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    if not any(x["count"] for x in levels):
        return None
    _setup()
    fig, ax = plt.subplots(figsize=(3.2, 2.4))
    names = [x["label"] + "色" for x in levels]
    values = [x["count"] for x in levels]
    ax.bar(names, values, color=[x["colour"] for x in levels])
    for i, v in enumerate(values):
        ax.text(i, v, f"{v}", ha="center", va="bottom", fontsize=8)
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_title("风险等级分布（家）", loc="left", fontsize=10)
    return _png(fig)


def groups_by_level(groups: list[dict[str, Any]], colours: list[str], title: str) -> str | None:
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    groups = groups[:15]
    if not groups:
        return None
    _setup()
    fig, ax = plt.subplots(figsize=(6.2, max(1.6, 0.34 * len(groups) + 0.8)))
    y = list(range(len(groups)))[::-1]
    left = [0] * len(groups)
    for i, (colour, name) in enumerate(zip(colours, ["红", "橙", "黄", "蓝"], strict=True)):
        values = [g["levels"][i] for g in groups]
        ax.barh(y, values, left=left, color=colour, label=name)
        left = [a + b for a, b in zip(left, values, strict=True)]
    ax.set_yticks(y, [g["name"] for g in groups])
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.legend(ncols=4, fontsize=8, loc="lower right", bbox_to_anchor=(1.0, 1.0), frameon=False)
    ax.set_title(title, loc="left", fontsize=10)
    return _png(fig)


def park_charts(data: dict[str, Any]) -> dict[str, str | None]:
    colours = [x["colour"] for x in data["summary"]["levels"]]
    return {
        "levels": levels_chart(data["summary"]["levels"]),
        "by_town": groups_by_level(data["by_town"], colours, "各镇街企业风险等级（家）"),
        "by_industry": groups_by_level(data["by_industry"], colours, "各行业企业风险等级（家）"),
        "problems": _bars_h(
            [p["type"] for p in data["problems"]],
            [p["alerts"] for p in data["problems"]],
            "突出问题（非误报告警，条）",
        )
        if data["problems"]
        else None,
    }
