"""Health and site information (public)."""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import JSONResponse

from center import __version__
from center.api.deps import ConfigDep, make_router
from center.api.system.schemas import Health, Ready, SiteInfo
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


@router.get("/ready", response_model=Ready, responses={503: {"model": Ready}})
def ready(request: Request) -> JSONResponse:
    """May this replica take traffic: 200 when the database answers and its schema is the one this
    code needs; 503 while the database is unreachable or migrations are not applied (a load
    balancer or an orchestrator routes around it). No login needed."""
    ok, database, current = db.readiness(request.app.state.engine)
    needed = db.head_revision()
    if database != "ok":
        detail = f"database unreachable: {database}"
    elif not ok and current is not None and not db.known_revision(current):
        detail = f"schema at {current}, newer than this code's {needed}: this replica runs an older release"
    elif not ok:
        detail = f"schema at {current or 'nothing'}, this code needs {needed}: migrations not applied"
    else:
        detail = ""
    body = Ready(ready=ok, database=database, schema_revision=current, schema_needed=needed, detail=detail)
    return JSONResponse(body.model_dump(), status_code=200 if ok else 503)


@router.get("/site", response_model=SiteInfo)
def site_info(config: ConfigDep) -> SiteInfo:
    return SiteInfo.model_validate(config, from_attributes=True)
