"""Edge nodes as the center sees them: their health from the last heartbeat, and the versions
of their remote configuration (desired, published, applied or refused)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from center.store.models import Camera, Enterprise, Node, NodeConfigVersion

HEARTBEAT_DEFAULT_S = 10.0  # the edge's default period, for nodes that do not send theirs
STALE_MISSED = 3  # heartbeats missed before an online node counts as stale


@dataclass(frozen=True)
class NodeHealth:
    health: str  # online / stale (online, but 3 heartbeats missed) / offline / stopped
    heartbeat_age_s: float | None  # seconds since the last heartbeat, None before the first
    heartbeat_interval_s: float  # the node's period


def node_health(node: Node, now_ms: int) -> NodeHealth:
    """The node's health at ``now_ms``: its last told state, unless it stopped sending heartbeats."""
    hb = node.heartbeat or {}
    interval = float(hb.get("interval_s") or HEARTBEAT_DEFAULT_S)
    hb_ms = hb.get("received_ms", hb.get("ts_ms"))  # when the center got it (its own clock)
    age = round(max(0, now_ms - hb_ms) / 1000, 1) if isinstance(hb_ms, int) else None
    health = node.state
    if node.state == "online":
        # no heartbeat yet: count from when the center last heard of the node
        since = hb_ms if isinstance(hb_ms, int) else node.updated_ms
        if now_ms - since > STALE_MISSED * interval * 1000:
            health = "stale"
    return NodeHealth(health, age, interval)


# --- the cameras of a node: the registry's and the heartbeat's ---------------------------


@dataclass(frozen=True)
class RegisteredCamera:
    """A camera the park registered on a node (the ``cameras`` table)."""

    id: str
    name: str
    enterprise_id: str
    enterprise_name: str


@dataclass(frozen=True)
class NodeCamera:
    camera: str
    name: str | None  # the registry's name; None: the node reports a camera the park never registered
    enterprise_id: str | None
    enterprise_name: str | None
    registered: bool
    reported: bool  # in the node's last heartbeat or status
    state: str  # starting / online / stalled / offline (heartbeat), no_report, unknown (node not online)
    health: dict[str, Any] | None  # the camera's figures in the last heartbeat, as sent


def registered_cameras(session: Session) -> dict[str, list[RegisteredCamera]]:
    """Registered cameras by node id, in the order of their ids (one query)."""
    stmt = (
        select(Camera.id, Camera.name, Camera.post_name, Camera.node, Enterprise.id, Enterprise.name)
        .join(Enterprise, Enterprise.id == Camera.enterprise_id)
        .where(Camera.node.is_not(None))
        .order_by(Camera.node, Camera.id)
    )
    out: dict[str, list[RegisteredCamera]] = {}
    for cid, name, post, node, eid, ename in session.execute(stmt):
        out.setdefault(node or "", []).append(RegisteredCamera(cid, name or post or cid, eid, ename))
    return out


def node_cameras(node: Node, health: str, registered: list[RegisteredCamera]) -> list[NodeCamera]:
    """The node's cameras: the registered ones first (reported or not), then those it reports that
    the park did not register. A camera's state is its last heartbeat's while the node is online
    (``health``), ``unknown`` when the node is not, and ``no_report`` when no heartbeat told it."""
    figures: dict[str, dict[str, Any]] = {}
    for c in (node.heartbeat or {}).get("cameras") or []:
        if isinstance(c, dict) and isinstance(c.get("camera"), str):
            figures[c["camera"]] = c
    told = set(node.cameras or []) | set(figures)
    live = health == "online"

    def state(camera: str) -> str:
        if not live:
            return "unknown"
        hb = figures.get(camera)
        return str(hb.get("state") or "unknown") if hb is not None else "no_report"

    out = [
        NodeCamera(
            c.id,
            c.name,
            c.enterprise_id,
            c.enterprise_name,
            True,
            c.id in told,
            state(c.id),
            figures.get(c.id),
        )
        for c in registered
    ]
    known = {c.id for c in registered}
    for camera in dict.fromkeys([*(node.cameras or []), *figures]):
        if camera not in known:
            out.append(NodeCamera(camera, None, None, None, False, True, state(camera), figures.get(camera)))
    return out


# --- remote configuration ------------------------------------------------------------------


def latest_config(session: Session, site: str, node: str) -> NodeConfigVersion | None:
    """The desired configuration of a node: its newest version."""
    stmt = (
        select(NodeConfigVersion)
        .where(NodeConfigVersion.site == site, NodeConfigVersion.node == node)
        .order_by(NodeConfigVersion.version.desc())
        .limit(1)
    )
    return session.scalars(stmt).first()


def add_config(
    session: Session, site: str, node: str, config: dict[str, Any], source: str, by: str, now_ms: int
) -> NodeConfigVersion:
    """Store a new version (the previous newest + 1); a racing writer fails on the primary key."""
    last = latest_config(session, site, node)
    row = NodeConfigVersion(
        site=site,
        node=node,
        version=(last.version if last else 0) + 1,
        config=config,
        source=source,
        created_ms=now_ms,
        created_by=by,
        published_ms=None,
    )
    session.add(row)
    session.flush()
    return row


def unpublished_configs(session: Session, site: str) -> list[NodeConfigVersion]:
    """Each node's newest config version, where it was never handed to the broker."""
    newest = (
        select(NodeConfigVersion.node, func.max(NodeConfigVersion.version).label("version"))
        .where(NodeConfigVersion.site == site)
        .group_by(NodeConfigVersion.node)
        .subquery()
    )
    stmt = (
        select(NodeConfigVersion)
        .join(
            newest,
            (NodeConfigVersion.node == newest.c.node) & (NodeConfigVersion.version == newest.c.version),
        )
        .where(NodeConfigVersion.site == site, NodeConfigVersion.published_ms.is_(None))
    )
    return list(session.scalars(stmt))


def config_status(node: Node | None, desired: NodeConfigVersion | None) -> str:
    """none (never set) / pending / applied / rejected (the node kept its old one)."""
    if desired is None:
        return "none"
    if node is not None and node.config_version is not None and node.config_version >= desired.version:
        return "applied"
    if node is not None and node.config_rejected is not None and node.config_rejected >= desired.version:
        return "rejected"
    return "pending"
