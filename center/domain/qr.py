"""全安码: a QR code per enterprise, coloured by its risk level, linking to its page."""

from __future__ import annotations

import io
import os
from typing import Any

import segno

LEVEL_COLORS = {"red": "#c8202f", "orange": "#d9680f", "yellow": "#a88400", "blue": "#1f5fbf"}
DISPLAY_COLORS = {"red": "#e5484d", "orange": "#f76b15", "yellow": "#f5c400", "blue": "#3e7bfa"}


def card_url(base_url: str, enterprise_id: str) -> str:
    return f"{base_url.rstrip('/')}/e/{enterprise_id}"


def _save(url: str, level: str, kind: str, scale: int, **options: str) -> bytes:
    buf = io.BytesIO()
    code = segno.make(url, error="m", micro=False)
    code.save(buf, kind=kind, scale=scale, border=3, dark=LEVEL_COLORS.get(level, "#000000"), **options)
    return buf.getvalue()


def png(url: str, level: str, scale: int = 8) -> bytes:
    return _save(url, level, "png", scale)


def svg(url: str, level: str, scale: int = 8) -> bytes:
    return _save(url, level, "svg", scale, title="全安码")


# --- the printable poster (A4 portrait, ~150 dpi) ---------------------------------------------

A4_150DPI = (1240, 1754)
RISK_TEXT = {"red": "重大风险", "orange": "较大风险", "yellow": "一般风险", "blue": "低风险"}
#: where a CJK font is looked for (Debian's fonts-noto-cjk first; scripts/setup.sh installs it)
CJK_FONTS = (
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/noto-cjk/NotoSansCJK-Bold.ttc",
    "/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/google-noto-cjk/NotoSansCJK-Bold.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
)


class FontMissing(RuntimeError):
    """No CJK font on this machine: the poster cannot be drawn (its text is Chinese)."""


def cjk_font_path() -> str:
    for path in CJK_FONTS:
        if os.path.isfile(path):
            return path
    raise FontMissing("no CJK font found (install fonts-noto-cjk): looked for " + ", ".join(CJK_FONTS))


def poster_png(
    url: str, level: str, level_label: str, enterprise_name: str, park_name: str, day: str
) -> bytes:
    """A printable A4 poster: the park, the enterprise's name, its level colour, the QR code,
    '扫码查看企业安全信息' and the date. Only what the public card shows."""
    from PIL import Image, ImageDraw, ImageFont  # Pillow: only the poster needs it

    font_path = cjk_font_path()
    width, height = A4_150DPI
    colour = LEVEL_COLORS.get(level, "#000000")
    page = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(page)

    def font(size: int) -> Any:
        return ImageFont.truetype(font_path, size)

    def centred(y: int, text: str, size: int, fill: str, max_width: int = width - 160) -> int:
        while size > 24 and draw.textlength(text, font=font(size)) > max_width:
            size -= 4
        f = font(size)
        x = (width - draw.textlength(text, font=f)) / 2
        draw.text((x, y), text, font=f, fill=fill)
        return y + int(size * 1.35)

    draw.rectangle((0, 0, width, 230), fill=colour)
    centred(50, park_name[:40], 64, "white")
    centred(140, "全安码 · 企业安全信息", 44, "white")
    y = centred(300, enterprise_name[:60], 76, "#111111")
    pill = f"风险等级：{level_label} · {RISK_TEXT.get(level, '')}".rstrip(" ·")
    half = int(draw.textlength(pill, font=font(44)) / 2) + 40
    draw.rounded_rectangle((width // 2 - half, y + 10, width // 2 + half, y + 90), radius=20, fill=colour)
    centred(y + 20, pill, 44, "white")

    code = segno.make(url, error="m", micro=False)
    modules = code.symbol_size(scale=1, border=4)[0]
    scale = max(1, 860 // modules)
    buf = io.BytesIO()
    code.save(buf, kind="png", scale=scale, border=4, dark=colour)
    qr_image = Image.open(io.BytesIO(buf.getvalue())).convert("RGB")
    qy = y + 140
    page.paste(qr_image, ((width - qr_image.width) // 2, qy))
    y = qy + qr_image.height + 40
    y = centred(y, "扫码查看企业安全信息", 60, "#111111")
    y = centred(y + 10, "Scan for the enterprise's safety information", 32, "#555555")
    draw.line((120, height - 170, width - 120, height - 170), fill="#cccccc", width=3)
    centred(height - 140, f"{park_name[:40]} · 生成日期 {day}", 36, "#333333")
    out = io.BytesIO()
    page.save(out, format="PNG", dpi=(150, 150), optimize=True)
    return out.getvalue()
