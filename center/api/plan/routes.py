"""The park plan (园区一张图): the base image a site uploads, and the map's data (enterprises
coloured by risk level with their open hazards, cameras with their state and live alerts).
Positions are the enterprises' and cameras' ``map_x`` / ``map_y`` (0–1 of the plan's width and
height), set through PATCH /api/enterprises/{id} and /api/cameras/{id} (the placement page
/admin/plan does it by clicking on the plan)."""

from __future__ import annotations

import hashlib
from typing import Annotated

from fastapi import Header, Request, Response
from starlette.concurrency import run_in_threadpool

from center.api.deps import NOT_FOUND, ConfigDep, make_router, scope_of
from center.api.plan import image
from center.api.plan.schemas import PlanImageOut, PlanOut
from center.api.plan.service import plan_cameras, plan_enterprises
from center.api.schemas import iso_utc
from center.auth.audit import audit
from center.auth.deps import CurrentUser, SessionDep
from center.auth.policy import POLICY
from center.domain.errors import NotFound
from center.store.models import ParkPlan
from protocol import now_ms

router = make_router("plan")

# the plan as served: nothing in it may run or load anything (an SVG opened on its own included)
PLAN_CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; sandbox"
BINARY = {"schema": {"type": "string", "format": "binary"}}


def _image_out(row: ParkPlan) -> PlanImageOut:
    return PlanImageOut(
        content_type=row.content_type, width=row.width, height=row.height, size=len(row.data),
        sha256=row.sha256, url=f"/api/plan/image?v={row.sha256[:12]}", uploaded_by=row.uploaded_by,
        uploaded_at=iso_utc(row.uploaded_ms),
    )  # fmt: skip


@router.get("/plan", response_model=PlanOut)
def park_plan(session: SessionDep, config: ConfigDep, user: CurrentUser) -> PlanOut:
    """The map: the plan (if uploaded), the enterprises the caller may see with their level and open
    hazards, and (for the roles that see cameras) their cameras with state and live alerts."""
    row = session.get(ParkPlan, config.site)
    scope = scope_of(session, user, config)
    cameras_ok = user.role in POLICY["list_cameras"]
    return PlanOut(
        site_name=config.site_name,
        plan=_image_out(row) if row is not None else None,
        enterprises=plan_enterprises(session, config, scope),
        cameras=plan_cameras(session, scope, now_ms()) if cameras_ok else [],
    )


@router.get(
    "/plan/image",
    response_class=Response,
    responses={**NOT_FOUND, 200: {"content": {t: BINARY for t in image.TYPES}}},
)
def park_plan_image(session: SessionDep, config: ConfigDep) -> Response:
    """The plan's file, with a Content-Security-Policy that lets nothing in it run."""
    row = session.get(ParkPlan, config.site)
    if row is None:
        raise NotFound("no park plan uploaded yet")
    return Response(
        row.data,
        media_type=row.content_type,
        headers={
            "Content-Security-Policy": PLAN_CSP,
            "Cache-Control": "private, max-age=3600",
            "ETag": f'"{row.sha256}"',
            "Content-Disposition": "inline; filename=park-plan",
        },
    )


@router.put(
    "/plan/image",
    response_model=PlanImageOut,
    openapi_extra={"requestBody": {"required": True, "content": {t: BINARY for t in image.TYPES}}},
)
async def put_park_plan(
    request: Request,
    config: ConfigDep,
    user: CurrentUser,
    content_type: Annotated[str, Header(max_length=128)],
) -> PlanImageOut:
    """Upload the park's plan (SVG, PNG or JPEG, at most 2 MiB): it replaces the last one. An SVG
    with a script, an event handler, an outside link and the like is refused with the reason."""
    kind = content_type.split(";")[0].strip().lower()
    data = await request.body()  # bounded before it is read (center/api/limits.py)
    width, height = image.plan_size(data, kind)

    def store() -> PlanImageOut:
        with request.app.state.session_factory() as session:
            row = session.get(ParkPlan, config.site) or ParkPlan(site=config.site)
            row.content_type, row.data, row.sha256 = kind, data, hashlib.sha256(data).hexdigest()
            row.width, row.height, row.uploaded_by, row.uploaded_ms = width, height, user.username, now_ms()
            session.add(row)
            audit(session, user, "put_park_plan", f"plan:{config.site}", {"type": kind, "size": len(data)})
            session.commit()
            return _image_out(row)

    return await run_in_threadpool(store)
