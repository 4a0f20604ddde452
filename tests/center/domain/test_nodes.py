"""Node health from the last heartbeat, and the state of a node's remote configuration."""

from __future__ import annotations

from typing import Any

import pytest

from center.domain.nodes import (
    HEARTBEAT_DEFAULT_S,
    RegisteredCamera,
    config_status,
    node_cameras,
    node_health,
)
from center.store.models import Node, NodeConfigVersion

NOW = 1_750_000_000_000


def node(state: str = "online", heartbeat: dict[str, Any] | None = None, **fields: Any) -> Node:
    values: dict[str, Any] = {
        "site": "yijia", "node": "edge-01", "state": state, "last_seen_ms": NOW, "software": "",
        "cameras": [], "heartbeat": heartbeat, "updated_ms": NOW,
    }  # fmt: skip
    return Node(**{**values, **fields})


def test_online_with_a_recent_heartbeat() -> None:
    h = node_health(node(heartbeat={"ts_ms": 1, "received_ms": NOW - 2500, "interval_s": 1.0}), NOW)
    assert (h.health, h.heartbeat_age_s, h.heartbeat_interval_s) == ("online", 2.5, 1.0)


@pytest.mark.parametrize(("age_s", "health"), [(29.9, "online"), (30.1, "stale")])
def test_stale_after_three_missed_heartbeats(age_s: float, health: str) -> None:
    hb = {"ts_ms": 1, "received_ms": NOW - int(age_s * 1000)}  # no interval: the edge's default, 10 s
    h = node_health(node(heartbeat=hb), NOW)
    assert (h.health, h.heartbeat_interval_s) == (health, HEARTBEAT_DEFAULT_S)


def test_without_heartbeat_the_last_news_of_the_node_counts() -> None:
    assert node_health(node(updated_ms=NOW - 5_000), NOW).health == "online"
    fresh = node_health(node(updated_ms=NOW - 31_000), NOW)
    assert (fresh.health, fresh.heartbeat_age_s) == ("stale", None)


@pytest.mark.parametrize("state", ["offline", "stopped"])
def test_a_node_that_said_goodbye_is_what_it_said(state: str) -> None:
    assert node_health(node(state, heartbeat={"ts_ms": 1, "received_ms": 0}), NOW).health == state


def test_config_status() -> None:
    desired = NodeConfigVersion(site="yijia", node="edge-01", version=3, config={}, source="")
    assert config_status(node(), None) == "none"
    assert config_status(None, desired) == "pending"
    assert config_status(node(config_version=2), desired) == "pending"
    assert config_status(node(config_version=3), desired) == "applied"
    assert config_status(node(config_version=2, config_rejected=3), desired) == "rejected"


def test_a_node_never_heard_from_has_no_last_seen_time() -> None:
    from dataclasses import asdict

    from center.api.nodes.schemas import NodeOut

    def answer(n: Node) -> NodeOut:
        return NodeOut.model_validate({**n.columns(), **asdict(node_health(n, NOW))})

    unset = {"name": "A区机房", "config_version": None, "config_rejected": None, "config_error": None}
    never = answer(node("offline", last_seen_ms=0, **unset))
    assert never.last_seen_at is None and never.health == "offline"
    seen = answer(node(last_seen_ms=NOW, **unset))
    assert seen.last_seen_at == "2025-06-15T15:06:40.000Z"


# --- a node's cameras: the registry's merged with the heartbeat's --------------------------

REGISTERED = [
    RegisteredCamera("cam-yard-01", "厂区主通道", "yj-metal", "毅佳金属"),
    RegisteredCamera("cam-yj-melt", "熔铸车间炉前", "yj-metal", "毅佳金属"),
]


def test_registered_cameras_are_listed_though_no_heartbeat_told_them() -> None:
    hb = {"cameras": [{"camera": "cam-yard-01", "state": "stalled", "fps_in": 3.0}, {"camera": "cam-x"}]}
    cams = node_cameras(node(heartbeat=hb, cameras=["cam-yard-01"]), "online", REGISTERED)
    got = [(c.camera, c.name, c.enterprise_name, c.registered, c.reported, c.state) for c in cams]
    assert got == [
        ("cam-yard-01", "厂区主通道", "毅佳金属", True, True, "stalled"),
        ("cam-yj-melt", "熔铸车间炉前", "毅佳金属", True, False, "no_report"),
        ("cam-x", None, None, False, True, "unknown"),
    ]
    assert cams[0].health == hb["cameras"][0] and cams[1].health is None


@pytest.mark.parametrize("health", ["offline", "stopped", "stale"])
def test_the_cameras_of_a_node_not_online_are_of_unknown_state(health: str) -> None:
    hb = {"cameras": [{"camera": "cam-yard-01", "state": "online"}]}
    cams = node_cameras(node(state="offline", heartbeat=hb), health, REGISTERED)
    assert [(c.camera, c.state, c.reported) for c in cams] == [
        ("cam-yard-01", "unknown", True),
        ("cam-yj-melt", "unknown", False),
    ]


def test_a_node_never_heard_from_lists_its_registered_cameras() -> None:
    cams = node_cameras(node(state="offline", last_seen_ms=0), "offline", REGISTERED)
    assert [(c.name, c.state, c.reported) for c in cams] == [
        ("厂区主通道", "unknown", False),
        ("熔铸车间炉前", "unknown", False),
    ]
