"""Edge nodes (as they report themselves), their remote configuration, and the quarantine of
rejected messages.

Remote configuration: operators set it, the center publishes it retained on the node's
``config`` topic, the node applies it and reports back in its status. The center does not
know the edge's config model (it never imports ``edge``): it checks the shape (a mapping of
top-level keys, at most 256 KiB, not the node's identity or broker link) and the node is the
judge; its verdict shows in ``GET /api/nodes/{node}/config``.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Annotated, Any

import yaml
from fastapi import Path, Query
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from center.api.deps import NOT_FOUND, ConfigDep, make_router
from center.api.nodes.schemas import MAX_CONFIG_BYTES, NodeConfigIn, NodeConfigOut, NodeOut, QuarantineOut
from center.api.schemas import iso_utc
from center.auth.audit import audit
from center.auth.deps import CurrentUser, SessionDep
from center.domain.errors import Invalid, NotFound
from center.domain.nodes import (
    add_config,
    config_status,
    latest_config,
    node_cameras,
    node_health,
    registered_cameras,
)
from center.store.models import Node, NodeConfigVersion, Quarantine
from protocol import ID_PATTERN, NodeConfig, now_ms

router = make_router("nodes")

LOCAL_ONLY = ("site", "node", "mqtt", "state_dir")  # the node refuses these too (edge/comms/remote.py)
NodeId = Annotated[str, Path(pattern=ID_PATTERN)]


@router.get("/nodes", response_model=list[NodeOut])
def list_nodes(session: SessionDep) -> list[NodeOut]:
    """Edge nodes: registered ones and those that reported a status or a heartbeat."""
    now = now_ms()
    rows = session.scalars(select(Node).order_by(Node.site, Node.node))
    registry = registered_cameras(session)
    out = []
    for n in rows:
        health = node_health(n, now)
        cameras = node_cameras(n, health.health, registry.get(n.node, []))
        out.append(
            NodeOut.model_validate(
                {**n.columns(), **asdict(health), "camera_states": [asdict(c) for c in cameras]}
            )
        )
    return out


@router.get("/quarantine", response_model=list[QuarantineOut])
def list_quarantine(
    session: SessionDep, limit: Annotated[int, Query(ge=1, le=500)] = 50
) -> list[QuarantineOut]:
    """Recent messages that did not pass the contract, newest first, with the reason."""
    rows = session.scalars(select(Quarantine).order_by(Quarantine.id.desc()).limit(limit))
    return [QuarantineOut.model_validate(r) for r in rows]


def _body(body: NodeConfigIn) -> tuple[dict[str, Any], str]:
    if (body.config is None) == (body.yaml is None):
        raise Invalid(("body",), "give exactly one of config (a JSON object) or yaml (text)")
    if body.yaml is not None:
        try:
            data = yaml.safe_load(body.yaml)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
            problem = getattr(exc, "problem", None) or exc
            raise Invalid(("body", "yaml"), f"not valid YAML{where}: {problem}") from None
        if not isinstance(data, dict):
            raise Invalid(("body", "yaml"), "expected a mapping of top-level config keys")
        loc: tuple[str, ...] = ("body", "yaml")
        source = body.yaml
    else:
        data = body.config or {}
        loc = ("body", "config")
        source = ""
    try:
        text = json.dumps(data, ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as exc:  # dates from YAML, NaN
        raise Invalid(loc, f"not representable as JSON: {exc}") from None
    if len(text.encode()) > MAX_CONFIG_BYTES:
        raise Invalid(loc, f"config too large: {len(text.encode())} bytes (limit {MAX_CONFIG_BYTES})")
    if not data:
        raise Invalid(loc, "empty config")
    for key in data:
        if not isinstance(key, str):
            raise Invalid(loc, f"top-level key {key!r} is not a string")
        if key in LOCAL_ONLY:
            raise Invalid((*loc, key), "can only be set in the node's local config file")
    return json.loads(text), source or text


def _config_out(
    node: Node | None, site: str, node_id: str, desired: NodeConfigVersion | None
) -> NodeConfigOut:
    return NodeConfigOut(
        site=site,
        node=node_id,
        status=config_status(node, desired),
        desired_version=desired.version if desired else None,
        applied_version=node.config_version if node else None,
        rejected_version=node.config_rejected if node else None,
        last_error=node.config_error if node else None,
        node_state=node.state if node else "unknown",
        config=desired.config if desired else None,
        source=desired.source if desired else None,
        created_by=desired.created_by if desired else None,
        created_at=iso_utc(desired.created_ms) if desired else None,
        published=bool(desired and desired.published_ms is not None),
    )


@router.get("/nodes/{node}/config", response_model=NodeConfigOut, responses=NOT_FOUND)
def get_node_config(node: NodeId, session: SessionDep, config: ConfigDep) -> NodeConfigOut:
    """The node's desired config (newest version) beside the version it reports it runs, and
    its last refusal with the reason."""
    row = session.get(Node, (config.site, node))
    desired = latest_config(session, config.site, node)
    if row is None and desired is None:
        raise NotFound(f"no node {node!r}")
    return _config_out(row, config.site, node, desired)


@router.put("/nodes/{node}/config", response_model=NodeConfigOut, responses=NOT_FOUND)
async def put_node_config(
    node: NodeId, body: NodeConfigIn, request: Request, user: CurrentUser, config: ConfigDep
) -> NodeConfigOut:
    """Set a node's config: stored as the next version and published retained on the node's
    ``config`` topic (now, or when the broker is back). The node applies it live, or refuses it
    and keeps its old one; poll ``GET`` for the outcome."""
    data, source = _body(body)
    factory = request.app.state.session_factory

    def store() -> tuple[Node, NodeConfigVersion]:
        with factory.begin() as session:
            row = session.get(Node, (config.site, node))
            if row is None:
                raise NotFound(f"no node {node!r} (it registers itself when it first connects)")
            by = user.username or ""
            version = add_config(session, config.site, node, data, source, by, now_ms())
            audit(session, user, "set_node_config", node, {"version": version.version})
            session.expunge_all()
            return row, version

    row, version = await run_in_threadpool(store)
    msg = NodeConfig(
        site=config.site, node=node, version=version.version, config=data,
        ts_ms=version.created_ms, by=version.created_by,
    )  # fmt: skip
    ingest = request.app.state.ingest
    if ingest is not None and await run_in_threadpool(ingest.publish_config, msg):

        def mark() -> None:
            with factory.begin() as session:
                stored = session.get(NodeConfigVersion, (config.site, node, version.version))
                if stored is not None:
                    stored.published_ms = now_ms()

        await run_in_threadpool(mark)
        version.published_ms = now_ms()
    return _config_out(row, config.site, node, version)
