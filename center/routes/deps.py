"""Dependencies and helpers shared by the routers."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import StreamingResponse
from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from center.config import CenterConfig
from center.errors import NotFound
from center.models import Enterprise
from center.policy import CurrentUser, Principal, SessionDep, authorize
from center.timeparse import parse_time

__all__ = [
    "ConfigDep",
    "CurrentUser",
    "IdQuery",
    "Limit",
    "Offset",
    "Principal",
    "SessionDep",
    "count_of",
    "csv_response",
    "enterprise_or_404",
    "make_router",
    "query_time",
    "scope_of",
]

IdQuery = Annotated[str | None, Query(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.\-]+$")]
Limit = Annotated[int, Query(ge=1, le=1000, description="page size")]
Offset = Annotated[int, Query(ge=0, le=1_000_000, description="rows to skip")]

TIME_HELP = (
    "ISO 8601 datetime (2025-06-01T08:00:00+08:00, …Z; without an offset it is read in the "
    "site's time zone) or epoch milliseconds"
)

NOT_FOUND = {404: {"description": "no such object, or not one the caller may see"}}
AUTH_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "not logged in"},
    403: {"description": "the caller's role may not use this endpoint"},
}


def make_router(tag: str) -> APIRouter:
    """A router under /api whose every route passes :func:`center.policy.authorize`."""
    return APIRouter(prefix="/api", tags=[tag], dependencies=[Depends(authorize)], responses=AUTH_ERRORS)


def get_config(request: Request) -> CenterConfig:
    return request.app.state.config


ConfigDep = Annotated[CenterConfig, Depends(get_config)]


def query_time(name: str, value: str | None, tz: ZoneInfo) -> int | None:
    if value is None:
        return None
    try:
        return parse_time(value, tz)
    except ValueError as exc:
        raise RequestValidationError(
            [{"type": "value_error", "loc": ("query", name), "msg": str(exc), "input": value}]
        ) from None


def time_window(config: CenterConfig, since: str | None, until: str | None) -> tuple[int | None, int | None]:
    tz = ZoneInfo(config.timezone)
    since_ms = query_time("since", since, tz)
    until_ms = query_time("until", until, tz)
    if since_ms is not None and until_ms is not None and until_ms < since_ms:
        raise RequestValidationError(
            [
                {
                    "type": "value_error",
                    "loc": ("query", "until"),
                    "msg": "until is before since",
                    "input": until,
                }
            ]
        )
    return since_ms, until_ms


def scope_of(session: Session, user: Principal, config: CenterConfig) -> frozenset[str] | None:
    scope = user.enterprise_scope(session, config.timezone)
    return None if scope is None else frozenset(scope)


def enterprise_or_404(
    session: Session, user: Principal, config: CenterConfig, enterprise_id: str
) -> Enterprise:
    row = session.get(Enterprise, enterprise_id[:64])
    if row is None or not user.may_see(session, row.id, config.timezone):
        raise NotFound(f"no enterprise {enterprise_id[:64]!r}")
    return row


def count_of(session: Session, stmt: Select[Any]) -> int:
    return int(session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery())) or 0)


def csv_response(filename: str, header: list[str], rows: Iterable[list[Any]]) -> StreamingResponse:
    """CSV with a UTF-8 BOM, so Excel shows the Chinese text right."""

    def lines() -> Iterator[str]:
        buf = io.StringIO()
        writer = csv.writer(buf)
        yield "\ufeff"
        for row in [header, *rows]:
            writer.writerow(row)
            yield buf.getvalue()
            buf.seek(0)
            buf.truncate()

    return StreamingResponse(
        lines(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
