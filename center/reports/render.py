"""Reports as PDF: Jinja2 templates (center/reports/templates) → HTML → WeasyPrint → PDF.

WeasyPrint, not ReportLab, though ReportLab 5.1 is faster: 10 pages of CJK paragraphs and tables
took it 0.19 s against WeasyPrint's 1.82 s (2026-12-03). ReportLab embeds TrueType outlines only,
and the CJK font the setup installs (Debian fonts-noto-cjk) is CFF-flavoured OpenType ("postscript
outlines are not supported"); its built-in STSong-Light is not embedded, so a reader without
Adobe's Chinese pack shows no text (poppler: "Missing language pack for 'Adobe-GB1'"). WeasyPrint
(pango) embeds a subset of Noto Sans CJK, lays tables out across pages, and gives page numbers
and a table of contents with ``target-counter``; a year's report stays well inside its 10 s
(bench/report_speed.py prints each stage).
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from center.reports import charts

log = logging.getLogger(__name__)

TEMPLATES = Path(__file__).with_name("templates")
SCORING_MD = Path(__file__).resolve().parent.parent / "SCORING.md"

Progress = Callable[[str, float], None]  # (stage, fraction done 0–1)


class RenderError(RuntimeError):
    """The report cannot be rendered here (no CJK font, no pango): the message says what to install."""


@dataclass
class Rendered:
    pdf: bytes
    sha256: str
    pages: int
    timings: dict[str, float] = field(default_factory=dict)


@lru_cache(maxsize=1)
def _env() -> Environment:
    return Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(["html"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


@lru_cache(maxsize=1)
def methodology_html() -> str:
    """center/SCORING.md as HTML (the appendix). It is the project's own file (its few inline
    tags such as <sub> are kept); nothing a user typed goes through here."""
    import markdown

    text = SCORING_MD.read_text(encoding="utf-8") if SCORING_MD.is_file() else "（评分说明缺失）"
    md = markdown.Markdown(extensions=["tables"])
    return md.convert(text)


def html_of(template: str, data: dict[str, Any], chart_uris: dict[str, str | None]) -> str:
    css = (TEMPLATES / "report.css").read_text(encoding="utf-8")
    return (
        _env()
        .get_template(template)
        .render(d=data, c=data["cover"], ch=chart_uris, css=css, method_html=methodology_html())
    )


def _weasyprint() -> Any:
    try:
        import weasyprint
    except OSError as exc:  # pango missing: WeasyPrint cannot load its libraries
        raise RenderError(
            f"WeasyPrint cannot load pango ({exc}): install the Debian packages libpango-1.0-0 "
            "libpangoft2-1.0-0 (scripts/setup.sh does)"
        ) from None
    return weasyprint


def render_pdf(
    template: str,
    data: dict[str, Any],
    make_charts: Callable[[dict[str, Any]], dict[str, str | None]],
    progress: Progress | None = None,
) -> Rendered:
    """The PDF of ``data`` through ``template``; each stage's seconds in ``timings``."""
    tell = progress or (lambda _s, _f: None)
    timings: dict[str, float] = {}
    try:
        charts.cjk_font()
    except charts.FontMissing as exc:
        raise RenderError(str(exc)) from None
    weasyprint = _weasyprint()
    t = time.perf_counter()
    tell("charts", 0.0)
    chart_uris = make_charts(data)
    timings["charts"] = time.perf_counter() - t
    t = time.perf_counter()
    tell("html", 0.4)
    html = html_of(template, data, chart_uris)
    timings["html"] = time.perf_counter() - t
    t = time.perf_counter()
    tell("layout", 0.5)
    doc = weasyprint.HTML(string=html, base_url=str(TEMPLATES)).render()
    timings["layout"] = time.perf_counter() - t
    t = time.perf_counter()
    tell("pdf", 0.85)
    pdf = doc.write_pdf()
    timings["pdf"] = time.perf_counter() - t
    tell("done", 1.0)
    return Rendered(pdf, hashlib.sha256(pdf).hexdigest(), len(doc.pages), timings)


def write_atomic(path: Path, content: bytes) -> None:
    """Write ``content`` to ``path`` through a temporary file in the same folder, then rename:
    a reader never sees half a file, and a failure leaves no file behind."""
    path = path.resolve()
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(content)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
