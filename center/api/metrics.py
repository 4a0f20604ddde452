"""``GET /metrics``: the replica's Prometheus figures (center/metrics.py), for a scraper on this
machine or one holding the scrape token (center/auth/scrape.py)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import PlainTextResponse
from starlette.concurrency import run_in_threadpool

from center.auth.deps import authorize
from common.prometheus import CONTENT_TYPE, render

router = APIRouter(tags=["system"], dependencies=[Depends(authorize)])


@router.get(
    "/metrics",
    response_class=PlainTextResponse,
    responses={
        200: {"content": {"text/plain": {}}, "description": "Prometheus text format 0.0.4"},
        401: {"description": "no scrape token, and not from this machine"},
        403: {"description": "a wrong scrape token, or a login token instead of it"},
        404: {"description": "metrics.enabled is false"},
    },
)
async def metrics(request: Request) -> PlainTextResponse:
    """This replica's figures: ingest by outcome, arrival lag, commit time, quarantine, live-feed
    clients, evidence uploads, the database pool (docs/operations.md). Site-wide only: nothing by
    enterprise. Not for logins: the loopback address or ``Authorization: Bearer <scrape token>``."""
    state = request.app.state

    def collect() -> str:  # the quarantine count may touch the database: off the event loop
        return render(
            state.metrics.families(
                site=state.config.site, engine=state.engine, ingest=state.ingest, hub=state.hub
            )
        )

    body = await run_in_threadpool(collect)
    return PlainTextResponse(body, media_type=CONTENT_TYPE, headers={"Cache-Control": "no-store"})
