"""What the routers share: the router factory (every route authorized), the config, query
parameters (ids, pages, time windows), the caller's enterprise scope and common answers."""

from __future__ import annotations

from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from center.auth.deps import authorize
from center.auth.policy import Principal, iter_routes
from center.config import CenterConfig
from center.domain.errors import NotFound
from center.domain.timeparse import parse_time
from center.store.models import Enterprise
from protocol import ID_PATTERN

Responses = dict[int | str, dict[str, Any]]

IdQuery = Annotated[str | None, Query(pattern=ID_PATTERN)]
Limit = Annotated[int, Query(ge=1, le=1000, description="page size")]
Offset = Annotated[int, Query(ge=0, le=1_000_000, description="rows to skip")]
PeriodDays = Annotated[
    int, Query(ge=1, le=366, description="the period: this many days back (the console offers 7, 30, 90)")
]

TIME_HELP = (
    "ISO 8601 datetime (2025-06-01T08:00:00+08:00, …Z; without an offset it is read in the "
    "site's time zone) or epoch milliseconds"
)

NOT_FOUND: Responses = {404: {"description": "no such object, or not one the caller may see"}}
AUTH_ERRORS: Responses = {
    401: {"description": "not logged in"},
    403: {"description": "the caller's role may not use this endpoint"},
}


def conflict(subject: str) -> Responses:
    """The 409 of a state change the object's status does not allow."""
    return {409: {"description": f"the {subject}'s status does not allow it (the reason is in detail)"}}


BAD_BODY: Responses = {
    400: {"description": "the body could not be read (not UTF-8 JSON)"},
    413: {"description": "the body is larger than its route's limit (http.limits, center/api/limits.py)"},
}


def document_body_errors(routes: list[Any]) -> None:
    """Each route that reads a JSON body may answer 400 before any validation (FastAPI's "There
    was an error parsing the body", for bytes that are not UTF-8) and 413 (the body limit, before
    it is read): put them in the route's ``responses`` so the OpenAPI says every answer it gives."""
    for route in iter_routes(routes):
        if isinstance(route, APIRoute) and route.body_field is not None:
            for code, doc in BAD_BODY.items():
                route.responses.setdefault(code, doc)


def make_router(tag: str) -> APIRouter:
    """A router under /api whose every route passes :func:`center.auth.deps.authorize`."""
    return APIRouter(prefix="/api", tags=[tag], dependencies=[Depends(authorize)], responses=AUTH_ERRORS)


def get_config(request: Request) -> CenterConfig:
    config: CenterConfig = request.app.state.config
    return config


ConfigDep = Annotated[CenterConfig, Depends(get_config)]


def _invalid_query(name: str, msg: str, value: str | None) -> RequestValidationError:
    return RequestValidationError(
        [{"type": "value_error", "loc": ("query", name), "msg": msg, "input": value}]
    )


def query_time(name: str, value: str | None, tz: ZoneInfo) -> int | None:
    if value is None:
        return None
    try:
        return parse_time(value, tz)
    except ValueError as exc:
        raise _invalid_query(name, str(exc), value) from None


def time_window(
    config: CenterConfig,
    since: str | None,
    until: str | None,
    names: tuple[str, str] = ("since", "until"),
) -> tuple[int | None, int | None]:
    """``since`` and ``until`` (ISO 8601 or epoch ms) as epoch ms; 422 naming the parameter
    (``names``: the query parameters' names)."""
    tz = ZoneInfo(config.timezone)
    since_ms = query_time(names[0], since, tz)
    until_ms = query_time(names[1], until, tz)
    if since_ms is not None and until_ms is not None and until_ms < since_ms:
        raise _invalid_query(names[1], f"{names[1]} is before {names[0]}", until)
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
