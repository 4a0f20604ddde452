"""Health and site information (public)."""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import JSONResponse

from center import __version__
from center.api.deps import ConfigDep, make_router
from center.api.system.schemas import Health, SiteInfo
from center.ingest.subscriber import Ingest
from center.store import db

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
    return SiteInfo.model_validate(config, from_attributes=True)
