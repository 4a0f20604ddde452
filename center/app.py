"""The center's app factory: the API's routers (center/api), the live WebSocket feed, the web
console, MQTT ingest and the hourly risk snapshot, wired into one ASGI app."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from zoneinfo import ZoneInfo

from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from fastapi.staticfiles import StaticFiles
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError
from starlette.concurrency import run_in_threadpool

from center import __version__
from center.api import pages
from center.api.alerts import routes as alerts
from center.api.cameras import routes as cameras
from center.api.card import routes as card
from center.api.cases import routes as cases
from center.api.deps import document_body_errors
from center.api.docs import install_docs
from center.api.enterprises import routes as enterprises
from center.api.evidence import routes as evidence
from center.api.feed.fanout import FeedFanout
from center.api.feed.hub import LiveHub
from center.api.feed.routes import alerts_feed
from center.api.grid import routes as grid
from center.api.hazards import routes as hazards
from center.api.headers import SecurityHeaders
from center.api.limits import BodyLimit, validation_error
from center.api.live import routes as live
from center.api.live.relay import LiveRelay
from center.api.login import routes as login
from center.api.metrics import router as metrics_router
from center.api.nodes import routes as nodes
from center.api.notify import routes as notify
from center.api.overview import routes as overview
from center.api.plan import routes as plan
from center.api.portfolio import routes as portfolio
from center.api.reports import routes as reports
from center.api.requests import routes as service_requests
from center.api.risk import routes as risk
from center.api.services import routes as services
from center.api.system import routes as system
from center.api.users import routes as users
from center.auth.policy import iter_routes, missing_policies
from center.auth.security import LoginLimiter
from center.auth.sessions import on_sessions_ended
from center.config import CenterConfig
from center.domain import scoring
from center.domain.errors import DomainError, Invalid, first_line
from center.ingest.subscriber import Ingest
from center.metrics import CenterMetrics
from center.notify.service import Notifier
from center.notify.worker import NotifyWorker
from center.store import db

log = logging.getLogger(__name__)

WEB_DIR = Path(__file__).resolve().parent / "web"
SNAPSHOT_INTERVAL_S = 3600
API_ROUTERS: list[APIRouter] = [
    system.router,
    login.router,
    users.router,
    enterprises.router,
    cameras.router,
    nodes.router,
    alerts.router,
    hazards.router,
    plan.router,
    evidence.router,
    risk.router,
    reports.router,
    card.router,
    service_requests.router,
    notify.router,
    overview.router,
    portfolio.router,
    services.router,
    cases.router,
    grid.router,
    live.router,
]

DESCRIPTION = """
ParkGuard control center of an industrial park (一中心一平台).

Log in with `POST /api/auth/login`, then send `Authorization: Bearer <token>` (browsers get
the same token as an HttpOnly cookie). What each role may call is listed in
`center/auth/policy.py`; an enterprise user sees only its own enterprise, an insurer only the
enterprises it insures and never evidence. Lists are paginated (`limit`, `offset`, `total`; the
alert list also by `cursor`).
Times are ISO 8601 (UTC) in answers, ISO 8601 or epoch ms in queries.
"""


def _database_error(_request: Request, exc: Exception) -> JSONResponse:
    log.error("database error: %s", first_line(exc))
    return JSONResponse({"detail": f"database unavailable: {type(exc).__name__}"}, status_code=503)


def _domain_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, DomainError)
    if isinstance(exc, Invalid):
        body = [{"type": "value_error", "loc": list(exc.loc), "msg": exc.msg}]
        return JSONResponse({"detail": body}, status_code=422)
    return JSONResponse({"detail": str(exc)}, status_code=exc.status_code)


async def _snapshot_loop(app: FastAPI, config: CenterConfig) -> None:
    """Store today's scores every hour (the daily history)."""
    tz = ZoneInfo(config.timezone)

    def once() -> None:
        with app.state.session_factory() as session:
            scoring.snapshot(session, config.risk, tz)
            session.commit()

    while True:
        await asyncio.sleep(SNAPSHOT_INTERVAL_S)
        try:
            await run_in_threadpool(once)
        except Exception:
            log.exception("risk snapshot failed; retrying in an hour")


def create_app(config: CenterConfig, *, start_ingest: bool = True) -> FastAPI:
    """The center's ASGI app. Its lifespan migrates the database and runs MQTT ingest."""
    engine: Engine = db.make_engine(config.database.url)
    hub = LiveHub()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await run_in_threadpool(db.upgrade, engine)
        if not config.public_url:
            log.warning(
                "public_url is not set in the config: the 全安码 QR codes and posters point at the "
                "address each request came to (e.g. http://127.0.0.1:8080), which a phone may not reach; "
                "set public_url to the address people open the center at"
            )
        hub.bind(asyncio.get_running_loop())
        notifier: Notifier = app.state.notifier
        await run_in_threadpool(notifier.seed)
        worker = NotifyWorker(notifier)
        if config.notify.enabled:
            worker.start()
        fanout: FeedFanout | None = app.state.fanout
        if fanout is not None:
            fanout.start()
        ingest = Ingest(
            config.mqtt,
            config.site,
            app.state.session_factory,
            on_alert=hub.publish_alert_threadsafe,
            on_new=notifier.enqueue_alerts,
            on_changed=fanout.announce if fanout is not None else None,
            events=config.jetstream is None,
        )
        ingest.metrics = app.state.metrics
        app.state.ingest = ingest
        relay = LiveRelay(config.mqtt, config.site)  # live video signaling (center/api/live)
        app.state.live_relay = relay
        jetstream = None
        if config.jetstream is not None:
            from center.ingest.jetstream import JetStreamIngest

            jetstream = JetStreamIngest(config.jetstream, config.site, ingest)
        app.state.jetstream = jetstream
        if start_ingest:
            ingest.start()
            relay.start()
            if jetstream is not None:
                jetstream.start()
        snapshots = asyncio.create_task(_snapshot_loop(app, config))
        try:
            yield
        finally:
            snapshots.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await snapshots
            if start_ingest:
                if jetstream is not None:
                    await run_in_threadpool(jetstream.stop)
                await run_in_threadpool(ingest.stop)
                await run_in_threadpool(relay.stop)
            await run_in_threadpool(worker.stop)
            if fanout is not None:
                await run_in_threadpool(fanout.stop)
            engine.dispose()

    app = FastAPI(
        title=f"ParkGuard center — {config.site_name}",
        description=DESCRIPTION,
        version=__version__,
        lifespan=lifespan,
        docs_url=None,  # center/api/docs.py: Swagger UI served from the center, not a CDN
        openapi_url="/api/openapi.json",
        redoc_url=None,
    )
    app.state.config = config
    app.state.engine = engine
    app.state.session_factory = db.make_session_factory(engine)
    app.state.notifier = Notifier(
        config.notify,
        app.state.session_factory,
        site_name=config.site_name,
        base_url=config.base_url(),
        timezone=config.timezone,
    )
    app.state.hub = hub
    # replicas on one PostgreSQL: every replica's feed shows what any replica stored
    app.state.fanout = (
        FeedFanout(engine, app.state.session_factory, hub.publish_alert_threadsafe)
        if engine.dialect.name == "postgresql"
        else None
    )
    on_sessions_ended(app.state.session_factory, hub.sessions_ended_threadsafe)
    app.state.ingest = None
    app.state.live_relay = None
    app.state.login_limiter = LoginLimiter(config.auth.login_max_failures, config.auth.login_window_s)
    app.state.metrics = CenterMetrics()
    app.state.metrics_token = config.metrics.token()  # ValueError: its source is empty (said at load)
    app.add_exception_handler(SQLAlchemyError, _database_error)
    app.add_exception_handler(DomainError, _domain_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_middleware(BodyLimit, limits=config.http.limits)  # before any body is read
    app.add_middleware(SecurityHeaders)  # the outer one: 413s get the headers too
    for router in API_ROUTERS:
        app.include_router(router)
    app.include_router(metrics_router)
    app.include_router(pages.router)
    app.add_api_websocket_route("/ws/alerts", alerts_feed, name="alerts_feed")
    install_docs(app)
    app.mount("/static", StaticFiles(directory=WEB_DIR), name="static")
    document_body_errors(app.routes)

    missing = missing_policies([r.name for r in iter_routes(app.routes) if isinstance(r, APIRoute)])
    if missing:  # every endpoint is decided in center/auth/policy.py, or the app does not start
        raise RuntimeError(f"routes without an access policy in center/auth/policy.py: {', '.join(missing)}")
    return app
