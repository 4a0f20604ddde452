"""Cameras and their posts."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path
from sqlalchemy import select
from sqlalchemy.orm import Session

from center.api.cameras.schemas import CameraIn, CameraOut, CameraPatch
from center.api.deps import NOT_FOUND, ConfigDep, IdQuery, Limit, Offset, count_of, make_router, scope_of
from center.api.schemas import Page
from center.auth.audit import audit
from center.auth.deps import CurrentUser, SessionDep
from center.config import CenterConfig
from center.domain import uptime
from center.domain.errors import Invalid, NotFound, StateConflict
from center.domain.timeparse import DAY_MS
from center.store.models import Camera, Enterprise, Node
from protocol import now_ms

router = make_router("cameras")
ONLINE_WINDOW_DAYS = 30  # a camera's online rate in the list: over the last 30 days


@router.get("/cameras", response_model=Page[CameraOut])
def list_cameras(
    session: SessionDep,
    config: ConfigDep,
    user: CurrentUser,
    enterprise_id: IdQuery = None,
    node: IdQuery = None,
    key_post: bool | None = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> Page[CameraOut]:
    stmt = select(Camera)
    scope = scope_of(session, user, config)
    if scope is not None:
        stmt = stmt.where(Camera.enterprise_id.in_(sorted(scope)))
    if enterprise_id is not None:
        stmt = stmt.where(Camera.enterprise_id == enterprise_id)
    if node is not None:
        stmt = stmt.where(Camera.node == node)
    if key_post is not None:
        stmt = stmt.where(Camera.key_post == key_post)
    rows = list(session.scalars(stmt.order_by(Camera.id).limit(limit).offset(offset)))
    items = [CameraOut.model_validate(c) for c in rows]
    nodes = sorted({c.node for c in items if c.node})
    named = select(Node.node, Node.name).where(Node.site == config.site, Node.node.in_(nodes))
    names = {node: name for node, name in session.execute(named) if name} if nodes else {}
    now = now_ms()
    created = {c.id: row.created_ms for c, row in zip(items, rows, strict=True)}
    rates = uptime.uptime(session, created, now - ONLINE_WINDOW_DAYS * DAY_MS, now, now)
    for c in items:
        c.node_name = names.get(c.node or "")
        up = rates.get(c.id)
        c.online_rate_30d = up.rate if up else None
    return Page(
        items=items,
        total=count_of(session, stmt),
        limit=limit,
        offset=offset,
    )


def _check_node(session: Session, config: CenterConfig, node: str | None) -> None:
    """A camera is assigned only to a node the center knows (one registers itself when it first
    connects, or the seed adds it): the ingest takes its events from that node alone."""
    if node is not None and session.get(Node, (config.site, node)) is None:
        raise Invalid(
            ("body", "node"),
            f"no node {node!r} at site {config.site} (a node registers itself when it first connects)",
        )


@router.post(
    "/cameras",
    response_model=CameraOut,
    status_code=201,
    responses={409: {"description": "taken"}, 422: {"description": "invalid, or no such enterprise or node"}},
)
def create_camera(body: CameraIn, session: SessionDep, config: ConfigDep, user: CurrentUser) -> CameraOut:
    if session.get(Camera, body.id) is not None:
        raise StateConflict(f"camera {body.id!r} exists")
    if session.get(Enterprise, body.enterprise_id) is None:
        raise Invalid(("body", "enterprise_id"), f"no enterprise {body.enterprise_id!r}")
    _check_node(session, config, body.node)
    row = Camera(**body.model_dump(), created_ms=now_ms())
    session.add(row)
    session.flush()
    audit(session, user, "create_camera", f"camera:{row.id}", {"enterprise_id": row.enterprise_id})
    session.commit()
    return CameraOut.model_validate(row)


@router.patch(
    "/cameras/{camera_id}",
    response_model=CameraOut,
    responses={**NOT_FOUND, 422: {"description": "invalid, or no such node"}},
)
def update_camera(
    camera_id: Annotated[str, Path(min_length=1, max_length=64)],
    body: CameraPatch,
    session: SessionDep,
    config: ConfigDep,
    user: CurrentUser,
) -> CameraOut:
    row = session.get(Camera, camera_id)
    if row is None:
        raise NotFound(f"no camera {camera_id!r}")
    changes = body.model_dump(exclude_unset=True)
    _check_node(session, config, changes.get("node"))
    for key, value in changes.items():
        if value is None and key in ("name", "post_name", "key_post"):
            raise Invalid(("body", key), "may not be null")
        setattr(row, key, value)
    audit(session, user, "update_camera", f"camera:{row.id}", changes)
    session.commit()
    return CameraOut.model_validate(row)
