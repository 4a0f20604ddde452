"""What the park plan shows: the enterprises a caller may see with their risk level and open
hazards, and their cameras with their state and live alerts."""

from __future__ import annotations

from collections import Counter
from urllib.parse import quote

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from center.api.plan.schemas import PlanCamera, PlanEnterprise
from center.config import CenterConfig
from center.domain import scoring
from center.domain.nodes import node_cameras, node_health, registered_cameras
from center.domain.vocabulary import CAMERA_STATE_LABELS, AlertStatus, HazardLevel, HazardStatus
from center.store.models import Alert, Camera, Enterprise, Hazard, Node

LIVE_WINDOW_MS = 24 * 3600 * 1000


def plan_enterprises(
    session: Session, config: CenterConfig, scope: frozenset[str] | None
) -> list[PlanEnterprise]:
    stmt = select(Enterprise).order_by(Enterprise.id)
    if scope is not None:
        stmt = stmt.where(Enterprise.id.in_(sorted(scope)))
    hazards: dict[str, Counter[str]] = {}
    for eid, level, n in session.execute(
        select(Hazard.enterprise_id, Hazard.level, func.count())
        .where(Hazard.status != HazardStatus.CLOSED.value)
        .group_by(Hazard.enterprise_id, Hazard.level)
    ):
        hazards.setdefault(eid, Counter())[level] += n
    enterprises = list(session.scalars(stmt))
    scores = scoring.current_many(session, [e.id for e in enterprises], config.risk)
    out = []
    for e in enterprises:
        r = scores[e.id]
        open_ = hazards.get(e.id, Counter())
        out.append(
            PlanEnterprise(
                enterprise_id=e.id, name=e.name, level=r["level"], level_label=r["level_label"],
                score=r["score"], map_x=e.map_x, map_y=e.map_y, open_hazards=sum(open_.values()),
                major_hazards=open_[HazardLevel.MAJOR.value],
            )
        )  # fmt: skip
    return out


def plan_cameras(session: Session, scope: frozenset[str] | None, now: int) -> list[PlanCamera]:
    stmt = (
        select(Camera, Enterprise.name)
        .join(Enterprise, Enterprise.id == Camera.enterprise_id)
        .order_by(Camera.id)
    )
    if scope is not None:
        stmt = stmt.where(Camera.enterprise_id.in_(sorted(scope)))
    rows = list(session.execute(stmt))
    if not rows:
        return []
    registry = registered_cameras(session)
    states: dict[str, str] = {}
    for node in session.scalars(select(Node)):
        health = node_health(node, now).health
        for c in node_cameras(node, health, registry.get(node.node, [])):
            states[c.camera] = c.state
    live: dict[str, Counter[str]] = {}
    for camera, enterprise, severity, n in session.execute(
        select(Alert.camera, Alert.enterprise, Alert.severity, func.count())
        .where(
            Alert.status == AlertStatus.OPEN.value,
            Alert.phase != "end",
            Alert.started_ms >= now - LIVE_WINDOW_MS,
            Alert.camera.in_([cam.id for cam, _ in rows]),
        )
        .group_by(Alert.camera, Alert.enterprise, Alert.severity)
    ):
        live.setdefault(f"{camera}\x00{enterprise}", Counter())[severity] += n
    out = []
    for cam, enterprise_name in rows:
        state = states.get(cam.id, "unknown")
        alerts = live.get(f"{cam.id}\x00{cam.enterprise_id}", Counter())  # its own enterprise's alerts only
        out.append(
            PlanCamera(
                camera=cam.id, name=cam.name or cam.post_name or cam.id, post_name=cam.post_name,
                enterprise_id=cam.enterprise_id, enterprise_name=enterprise_name, node=cam.node,
                map_x=cam.map_x, map_y=cam.map_y, state=state,
                state_label=CAMERA_STATE_LABELS.get(state, state),
                live_alerts=sum(alerts.values()), live_major=alerts["major"],
                live_url=f"/wall?camera={quote(cam.id)}",
            )
        )  # fmt: skip
    return out
