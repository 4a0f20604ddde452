"""What the lists of the service loop share (center/api/services, cases, grid): the park's day,
id → name lookups for the names people read, and the ``format=csv`` switch with its bound."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from fastapi import Query
from sqlalchemy import select
from sqlalchemy.orm import Session

from center.config import CenterConfig

Format = Annotated[Literal["json", "csv"], Query(description="json (a page) or csv (every row, a download)")]
CSV_DOC: dict[int | str, dict[str, Any]] = {
    200: {"content": {"text/csv": {}}, "description": "a page (JSON), or with format=csv every row as CSV"}
}
CSV_MAX_ROWS = 20_000  # a CSV holds every row that matches, up to this many


def today_of(config: CenterConfig) -> date:
    """Today in the park's time zone."""
    return datetime.now(ZoneInfo(config.timezone)).date()


def names(session: Session, model: Any, ids: set[Any]) -> dict[Any, str]:
    """id → name of the rows of ``model`` among ``ids`` (one query)."""
    if not ids:
        return {}
    return dict(session.execute(select(model.id, model.name).where(model.id.in_(sorted(ids)))).all())
