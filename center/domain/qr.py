"""全安码: a QR code per enterprise, coloured by its risk level, linking to its page."""

from __future__ import annotations

import io

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
