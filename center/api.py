"""HTTP API, live WebSocket feed and the operator page of the center."""

from __future__ import annotations

import asyncio
import html
import logging
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Query, Request, WebSocket, WebSocketDisconnect
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool

from center import __version__, crud, db
from center.config import CenterConfig
from center.ingest import Ingest
from center.live import LiveHub
from center.schemas import AlertOut, AlertPage, Health, NodeOut, QuarantineOut, SiteInfo
from center.timeparse import parse_time
from protocol import RuleType, now_ms

log = logging.getLogger(__name__)

WEB_DIR = Path(__file__).resolve().parent / "web"
IdQuery = Annotated[str | None, Query(min_length=1, max_length=64)]


# --- dependencies -----------------------------------------------------------------------


def get_session(request: Request) -> Iterator[Session]:
    factory: sessionmaker[Session] = request.app.state.session_factory
    with factory() as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session)]


def get_config(request: Request) -> CenterConfig:
    return request.app.state.config


ConfigDep = Annotated[CenterConfig, Depends(get_config)]


def _query_time(name: str, value: str | None, tz: ZoneInfo) -> int | None:
    if value is None:
        return None
    try:
        return parse_time(value, tz)
    except ValueError as exc:
        raise RequestValidationError(
            [{"type": "value_error", "loc": ("query", name), "msg": str(exc), "input": value}]
        ) from None


# --- routes -----------------------------------------------------------------------------

router = APIRouter(prefix="/api")


@router.get("/health", response_model=Health, responses={503: {"model": Health}})
def health(request: Request) -> JSONResponse:
    database = db.check(request.app.state.engine)
    ingest: Ingest | None = request.app.state.ingest
    body = Health(
        status="ok" if database == "ok" else "degraded",
        database=database,
        mqtt="connected" if ingest is not None and ingest.connected else "disconnected",
        version=__version__,
    )
    return JSONResponse(body.model_dump(), status_code=200 if database == "ok" else 503)


TIME_HELP = (
    "ISO 8601 datetime (2025-06-01T08:00:00+08:00, …Z; without an offset it is read in the "
    "site's time zone) or epoch milliseconds"
)


@router.get("/alerts", response_model=AlertPage)
def list_alerts(
    session: SessionDep,
    config: ConfigDep,
    camera: IdQuery = None,
    node: IdQuery = None,
    rule_type: RuleType | None = None,
    since: Annotated[
        str | None, Query(max_length=64, description="alerts started at or after; " + TIME_HELP)
    ] = None,
    until: Annotated[
        str | None, Query(max_length=64, description="alerts started before; " + TIME_HELP)
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> AlertPage:
    """Alerts, newest first (by start time)."""
    tz = ZoneInfo(config.timezone)
    since_ms = _query_time("since", since, tz)
    until_ms = _query_time("until", until, tz)
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
    f = crud.AlertFilter(
        camera=camera,
        node=node,
        rule_type=rule_type.value if rule_type else None,
        since_ms=since_ms,
        until_ms=until_ms,
    )
    rows = crud.list_alerts(session, f, limit=limit, offset=offset)
    return AlertPage(items=[AlertOut.of(r) for r in rows], limit=limit, offset=offset)


@router.get(
    "/alerts/{event_id}", response_model=AlertOut, responses={404: {"description": "unknown event id"}}
)
def get_alert(event_id: str, session: SessionDep) -> AlertOut:
    row = crud.get_alert(session, event_id[:64])
    if row is None:
        raise HTTPException(status_code=404, detail=f"no alert with event_id {event_id[:64]!r}")
    return AlertOut.of(row)


@router.get("/nodes", response_model=list[NodeOut])
def list_nodes(session: SessionDep) -> list[NodeOut]:
    return [NodeOut.of(r) for r in crud.list_nodes(session)]


@router.get("/quarantine", response_model=list[QuarantineOut])
def list_quarantine(
    session: SessionDep, limit: Annotated[int, Query(ge=1, le=500)] = 50
) -> list[QuarantineOut]:
    """Recent messages that did not pass the contract, newest first, with the reason."""
    return [QuarantineOut.of(r) for r in crud.list_quarantine(session, limit)]


@router.get("/site", response_model=SiteInfo)
def site_info(config: ConfigDep) -> SiteInfo:
    return SiteInfo(site=config.site, site_name=config.site_name, timezone=config.timezone)


async def alerts_feed(websocket: WebSocket) -> None:
    """Live feed: ``{"type": "hello"}`` first, then ``{"type": "alert", "alert": {…}}`` per change."""
    hub: LiveHub = websocket.app.state.hub
    config: CenterConfig = websocket.app.state.config
    await websocket.accept()
    q = hub.subscribe()

    async def pump() -> None:
        try:
            while True:
                await websocket.send_text(await q.get())
        except Exception:  # the client went away mid-send; the receive loop notices too
            return

    sender: asyncio.Task[None] | None = None
    try:
        await websocket.send_json(
            {"type": "hello", "site": config.site, "site_name": config.site_name, "server_ms": now_ms()}
        )
        sender = asyncio.create_task(pump())
        while True:  # clients say nothing we need; this notices when they leave
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                break
    except WebSocketDisconnect:
        pass
    finally:
        hub.unsubscribe(q)
        if sender is not None:
            sender.cancel()


# --- the page ---------------------------------------------------------------------------


def _index_html(config: CenterConfig) -> str:
    page = (WEB_DIR / "index.html").read_text(encoding="utf-8")
    return page.replace("__SITE_NAME__", html.escape(config.site_name)).replace(
        "__TIMEZONE__", html.escape(config.timezone)
    )


# --- the app ----------------------------------------------------------------------------


def _database_error(_request: Request, exc: Exception) -> JSONResponse:
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    log.error("database error: %s", first)
    return JSONResponse({"detail": f"database unavailable: {type(exc).__name__}"}, status_code=503)


def create_app(config: CenterConfig, *, start_ingest: bool = True) -> FastAPI:
    """The center's ASGI app. Its lifespan migrates the database and runs MQTT ingest."""
    engine: Engine = db.make_engine(config.database.url)
    hub = LiveHub()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await run_in_threadpool(db.upgrade, engine)
        hub.bind(asyncio.get_running_loop())
        ingest = Ingest(
            config.mqtt, config.site, app.state.session_factory, on_alert=hub.publish_alert_threadsafe
        )
        app.state.ingest = ingest
        if start_ingest:
            ingest.start()
        try:
            yield
        finally:
            if start_ingest:
                await run_in_threadpool(ingest.stop)
            engine.dispose()

    app = FastAPI(
        title=f"ParkGuard center — {config.site_name}",
        version=__version__,
        lifespan=lifespan,
        docs_url="/api/docs",
        openapi_url="/api/openapi.json",
        redoc_url=None,
    )
    app.state.config = config
    app.state.engine = engine
    app.state.session_factory = db.make_session_factory(engine)
    app.state.hub = hub
    app.state.ingest = None
    app.add_exception_handler(SQLAlchemyError, _database_error)
    app.include_router(router)
    app.add_api_websocket_route("/ws/alerts", alerts_feed)
    index = _index_html(config)

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def page() -> HTMLResponse:
        return HTMLResponse(index, headers={"Cache-Control": "no-cache"})

    app.mount("/static", StaticFiles(directory=WEB_DIR), name="static")
    return app
