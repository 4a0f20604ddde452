"""Health and site information (public)."""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import JSONResponse

from center import __version__, db
from center.ingest import Ingest
from center.routes.deps import ConfigDep, make_router
from center.schemas import Health, SiteInfo

router = make_router("system")


@router.get("/health", response_model=Health, responses={503: {"model": Health}})
def health(request: Request) -> JSONResponse:
    """Is the database reachable, is MQTT ingest connected (no login needed)."""
    database = db.check(request.app.state.engine)
    ingest: Ingest | None = request.app.state.ingest
    body = Health(
        status="ok" if database == "ok" else "degraded",
        database=database,
        mqtt="connected" if ingest is not None and ingest.connected else "disconnected",
        version=__version__,
    )
    return JSONResponse(body.model_dump(), status_code=200 if database == "ok" else 503)


@router.get("/site", response_model=SiteInfo)
def site_info(config: ConfigDep) -> SiteInfo:
    return SiteInfo(site=config.site, site_name=config.site_name, timezone=config.timezone)
