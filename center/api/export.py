"""CSV downloads (the one CSV writer of the API)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from typing import Any

from fastapi.responses import StreamingResponse

CSV_RESPONSE = "CSV (UTF-8 with BOM), one {} a row"
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")  # a spreadsheet would run such a cell as a formula


def neutral(value: Any) -> Any:
    """A text cell that a spreadsheet would take for a formula, quoted with a leading ``'``
    (names, reasons and notes are typed by people, and now by edge nodes too)."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def csv_response(filename: str, header: list[str], rows: Iterable[list[Any]]) -> StreamingResponse:
    """CSV with a UTF-8 BOM, so Excel shows the Chinese text right; no cell starts a formula."""

    def lines() -> Iterator[str]:
        buf = io.StringIO()
        writer = csv.writer(buf)
        yield "\ufeff"
        for row in [header, *rows]:
            writer.writerow([neutral(v) for v in row])
            yield buf.getvalue()
            buf.seek(0)
            buf.truncate()

    return StreamingResponse(
        lines(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


def csv_responses(what: str) -> dict[int | str, dict[str, Any]]:
    """The OpenAPI ``responses`` of a CSV download of ``what`` (alert, hazard)."""
    return {200: {"content": {"text/csv": {}}, "description": CSV_RESPONSE.format(what)}}
