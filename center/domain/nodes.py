"""Edge nodes as the center sees them: their health from the last heartbeat, and the versions
of their remote configuration (desired, published, applied or refused)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from center.store.models import Node, NodeConfigVersion

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
