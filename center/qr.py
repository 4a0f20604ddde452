"""全安码: a QR code per enterprise, coloured by its risk level, linking to its page."""

from __future__ import annotations

import io

import segno

LEVEL_COLORS = {"red": "#c8202f", "orange": "#d9680f", "yellow": "#a88400", "blue": "#1f5fbf"}
DISPLAY_COLORS = {"red": "#e5484d", "orange": "#f76b15", "yellow": "#f5c400", "blue": "#3e7bfa"}


def card_url(base_url: str, enterprise_id: str) -> str:
    return f"{base_url.rstrip('/')}/e/{enterprise_id}"


def make(url: str, level: str) -> segno.QRCode:
    return segno.make(url, error="m", micro=False)


def png(url: str, level: str, scale: int = 8) -> bytes:
    buf = io.BytesIO()
    make(url, level).save(buf, kind="png", scale=scale, border=3, dark=LEVEL_COLORS.get(level, "#000000"))
    return buf.getvalue()


def svg(url: str, level: str, scale: int = 8) -> bytes:
    buf = io.BytesIO()
    make(url, level).save(
        buf, kind="svg", scale=scale, border=3, dark=LEVEL_COLORS.get(level, "#000000"), title="全安码"
    )
    return buf.getvalue()
