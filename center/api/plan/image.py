"""Checking a park plan a site uploads: PNG, JPEG or SVG, bounded, its size read from the file.

An SVG is refused (422 with the reason) when it holds anything that could run or reach out: a
script, an event handler, ``foreignObject``, animation elements (they can rewrite a link), a
DOCTYPE or entity (entity expansion), a link or ``url()`` that is not a fragment or an embedded
PNG/JPEG. The center serves the plan with a Content-Security-Policy of its own that forbids
scripts too (center/api/plan/routes.py), and the console shows it through an SVG ``<image>``,
where no script ever runs: three walls, not one."""

from __future__ import annotations

import re
import struct
from xml.etree import ElementTree

from center.domain.errors import Invalid

MIB = 1024 * 1024
PLAN_MAX_BYTES = 2 * MIB
MAX_SIDE = 20_000  # pixels or SVG units
SVG = "image/svg+xml"
TYPES = ("image/svg+xml", "image/png", "image/jpeg")
FORBIDDEN_ELEMENTS = {
    *("script", "foreignobject", "iframe", "embed", "object", "handler", "listener"),
    *("set", "animate", "animatemotion", "animatetransform", "animatecolor", "discard"),
}
SAFE_LINK = re.compile(r"^(#[A-Za-z0-9_.:-]{1,128}|data:image/(png|jpeg);base64,[A-Za-z0-9+/=\s]+)$")
URL_IN_STYLE = re.compile(r"url\(\s*['\"]?\s*(?!#)", re.IGNORECASE)
BODY = ("body",)


def _refuse(why: str) -> Invalid:
    return Invalid(BODY, f"园区底图不可用：{why}")


def _local(name: str) -> str:
    return name.rsplit("}", 1)[-1].lower()


def _svg_size(root: ElementTree.Element) -> tuple[float, float]:
    box = root.get("viewBox")
    if box:
        parts = re.split(r"[\s,]+", box.strip())
        if len(parts) == 4:
            try:
                return float(parts[2]), float(parts[3])
            except ValueError:
                pass
        raise _refuse(f"viewBox {box[:40]!r} is not four numbers")
    try:
        return float(re.sub(r"px$", "", root.get("width", ""))), float(
            re.sub(r"px$", "", root.get("height", ""))
        )
    except ValueError:
        raise _refuse("an SVG needs a viewBox, or a width and a height in pixels") from None


def check_svg(data: bytes) -> tuple[int, int]:
    """The SVG's width and height (its viewBox), or :class:`Invalid` naming what is refused."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise _refuse("the SVG is not UTF-8") from None
    if re.search(r"<!(DOCTYPE|ENTITY)", text, re.IGNORECASE):
        raise _refuse("a DOCTYPE or an entity in the SVG (not allowed)")
    try:
        root = ElementTree.fromstring(text)
    except ElementTree.ParseError as exc:
        raise _refuse(f"not well-formed XML ({exc})") from None
    if _local(root.tag) != "svg":
        raise _refuse(f"the root element is <{_local(root.tag)[:32]}>, not <svg>")
    for node in root.iter():
        tag = _local(str(node.tag))
        if tag in FORBIDDEN_ELEMENTS:
            raise _refuse(f"<{tag}> is not allowed in a plan (scripts, embedded pages and animations)")
        for name, value in node.attrib.items():
            attr = _local(name)
            if attr.startswith("on"):
                raise _refuse(f"the event handler {attr}= is not allowed")
            if attr == "href" and not SAFE_LINK.match(value.strip()):
                raise _refuse(
                    f"the link {value[:60]!r} is not allowed (only #fragments and embedded PNG/JPEG)"
                )
            if "javascript:" in value.lower().replace(" ", ""):
                raise _refuse(f"a javascript: URL in {attr}=")
            if URL_IN_STYLE.search(value) or (attr == "style" and "@import" in value.lower()):
                raise _refuse(f"a url() or @import in {attr}= (only url(#fragment))")
        if (
            tag == "style"
            and node.text
            and (URL_IN_STYLE.search(node.text) or "@import" in node.text.lower())
        ):
            raise _refuse("a url() or @import in a <style> (no outside files)")
    width, height = _svg_size(root)
    return _bounded(width, height)


def _bounded(width: float, height: float) -> tuple[int, int]:
    if not (1 <= width <= MAX_SIDE and 1 <= height <= MAX_SIDE):
        raise _refuse(f"size {width:g}×{height:g} is outside 1–{MAX_SIDE}")
    return round(width), round(height)


def png_size(data: bytes) -> tuple[int, int]:
    if len(data) < 24 or data[:8] != b"\x89PNG\r\n\x1a\n" or data[12:16] != b"IHDR":
        raise _refuse("not a PNG file")
    width, height = struct.unpack(">II", data[16:24])
    return _bounded(width, height)


def jpeg_size(data: bytes) -> tuple[int, int]:
    if data[:2] != b"\xff\xd8":
        raise _refuse("not a JPEG file")
    i = 2
    while i + 9 < len(data):
        if data[i] != 0xFF:
            i += 1
            continue
        marker = data[i + 1]
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7 or marker == 0xFF:
            i += 1 if marker == 0xFF else 2
            continue
        length = struct.unpack(">H", data[i + 2 : i + 4])[0]
        if marker in (0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF):
            height, width = struct.unpack(">HH", data[i + 5 : i + 9])
            return _bounded(width, height)
        i += 2 + length
    raise _refuse("no image size found in the JPEG")


def plan_size(data: bytes, content_type: str) -> tuple[int, int]:
    """The plan's width and height; :class:`Invalid` (422) for an empty, oversized, unknown or unsafe file."""
    if not data:
        raise _refuse("the body is empty")
    if len(data) > PLAN_MAX_BYTES:
        raise _refuse(f"{len(data)} bytes, at most {PLAN_MAX_BYTES // MIB} MiB")
    if content_type == SVG:
        return check_svg(data)
    if content_type == "image/png":
        return png_size(data)
    if content_type == "image/jpeg":
        return jpeg_size(data)
    raise Invalid(("header", "content-type"), f"园区底图须为 SVG、PNG 或 JPEG，不是 {content_type[:64]!r}")
