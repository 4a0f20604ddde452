"""Hazards in the API's shape, with the names people think in (shared by the hazards and the
alerts routes: an escalated alert answers with its hazard)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from center.api.hazards.schemas import HazardOut
from center.store.models import Camera, Enterprise, Hazard, User


def display_names(session: Session, usernames: set[str]) -> dict[str, str]:
    if not usernames:
        return {}
    rows = session.execute(
        select(User.username, User.display_name).where(User.username.in_(sorted(usernames)))
    )
    return {u: d for u, d in rows if d}


def hazards_out(session: Session, rows: Sequence[Hazard]) -> list[HazardOut]:
    """Hazards in the API's shape with the names of their enterprise, camera and creator
    (three lookups for the whole page). A camera's name is given only when the camera is the
    hazard's own enterprise's."""
    out = [HazardOut.model_validate(h) for h in rows]
    if not out:
        return out
    wanted = sorted({h.enterprise_id for h in out})
    enterprises = {
        ent_id: name
        for ent_id, name in session.execute(
            select(Enterprise.id, Enterprise.name).where(Enterprise.id.in_(wanted))
        )
    }
    cams = {h.camera_id for h in out if h.camera_id}
    cameras = {
        c.id: c for c in (session.scalars(select(Camera).where(Camera.id.in_(sorted(cams)))) if cams else [])
    }
    people = display_names(session, {h.created_by for h in out})
    for h in out:
        h.enterprise_name = enterprises.get(h.enterprise_id)
        cam = cameras.get(h.camera_id or "")
        if cam is not None and cam.enterprise_id == h.enterprise_id:
            h.camera_name = cam.name or cam.post_name or None
            h.post_name = cam.post_name if cam.post_name and cam.post_name != h.camera_name else None
        h.created_by_name = people.get(h.created_by)
    return out
