"""MQTT topic names: ``parkguard/v1/{site}/{node}/{kind}``.

Edge → center: ``event`` (QoS 1), ``status`` (retained birth/death), ``heartbeat``.
Center → edge: ``config`` (retained), ``live-request`` (WebRTC offers relayed for a viewer).
Edge → center: ``live-response`` (the node's answers to them).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from protocol.ids import valid_id

ROOT = "parkguard/v1"


class TopicKind(StrEnum):
    EVENT = "event"
    STATUS = "status"
    HEARTBEAT = "heartbeat"
    CONFIG = "config"
    LIVE_REQUEST = "live-request"
    LIVE_RESPONSE = "live-response"


@dataclass(frozen=True)
class Topic:
    site: str
    node: str
    kind: TopicKind

    def __str__(self) -> str:
        return f"{ROOT}/{self.site}/{self.node}/{self.kind.value}"

    @classmethod
    def of(cls, site: str, node: str, kind: TopicKind | str) -> str:
        if not valid_id(site) or not valid_id(node):
            raise ValueError(f"invalid site/node id for a topic: {site!r}/{node!r}")
        return str(cls(site, node, TopicKind(kind)))


def subscription(kind: TopicKind | str, site: str = "+", node: str = "+") -> str:
    """A subscription filter, e.g. ``parkguard/v1/+/+/event``."""
    return f"{ROOT}/{site}/{node}/{TopicKind(kind).value}"


def parse_topic(topic: str) -> Topic | None:
    """Parse a concrete topic; None when it is not a ParkGuard v1 topic."""
    parts = topic.split("/")
    if len(parts) != 5 or "/".join(parts[:2]) != ROOT:
        return None
    site, node, kind = parts[2], parts[3], parts[4]
    if not (valid_id(site) and valid_id(node)):
        return None
    try:
        return Topic(site, node, TopicKind(kind))
    except ValueError:
        return None
