"""Check an MQTT message against the wire contract (topic, size, JSON, model, site), and an
alert's attribution against the center's camera registry (:func:`attribute`)."""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, ValidationError

from center.ingest.registry import CameraRegistry
from protocol import AlertEvent, Heartbeat, NodeStatus, TopicKind, parse_topic

MAX_PAYLOAD_BYTES = 256 * 1024  # a legitimate message is far smaller (≤ 200 objects, ≤ 8 evidence items)
MAX_REASON_ERRORS = 5
_MODELS: dict[TopicKind, type[BaseModel]] = {
    TopicKind.EVENT: AlertEvent,
    TopicKind.STATUS: NodeStatus,
    TopicKind.HEARTBEAT: Heartbeat,
}


def summarize(exc: ValidationError) -> str:
    """``AlertEvent: seq: Input should be ≥ 0 (got -1); camera: …`` — short, for the quarantine."""
    parts = []
    for err in exc.errors()[:MAX_REASON_ERRORS]:
        where = ".".join(str(p) for p in err["loc"]) or "(message)"
        text = f"{where}: {err['msg'].removeprefix('Value error, ')}"
        if err["type"] != "missing" and not isinstance(err.get("input"), dict | list):
            shown = repr(err.get("input"))
            text += f" (got {shown[:40]}{'…' if len(shown) > 40 else ''})"
        parts.append(text)
    more = len(exc.errors()) - MAX_REASON_ERRORS
    if more > 0:
        parts.append(f"and {more} more")
    return f"{exc.title}: " + "; ".join(parts)


class Rejected(Exception):
    """The message does not pass the contract; ``str()`` is the quarantine reason."""


def validate(topic: str, payload: bytes, site: str) -> tuple[TopicKind, BaseModel | None]:
    """Check a message against the contract; (kind, None) for a message to skip silently."""
    parsed = parse_topic(topic)
    if parsed is None or parsed.kind not in _MODELS:
        raise Rejected(f"not a ParkGuard v1 event/status/heartbeat topic: {topic!r}")
    if not payload and parsed.kind is TopicKind.STATUS:
        return parsed.kind, None  # someone cleared the retained status
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise Rejected(f"payload too large: {len(payload)} bytes (limit {MAX_PAYLOAD_BYTES})")
    try:
        msg: Any = _MODELS[parsed.kind].model_validate_json(payload)  # the JSON is parsed once
    except ValidationError as exc:
        # say what is wrong in the sender's terms: the bytes, the JSON, then the contract
        try:
            json.loads(payload.decode("utf-8"))
        except UnicodeDecodeError:
            raise Rejected("payload is not UTF-8 text") from None
        except json.JSONDecodeError as jexc:
            raise Rejected(f"payload is not valid JSON: {jexc}") from None
        except RecursionError:
            raise Rejected("payload is not valid JSON: nested too deeply") from None
        raise Rejected(summarize(exc)) from None
    if msg.site != parsed.site:
        raise Rejected(f"payload site {msg.site} does not match topic site {parsed.site}")
    if msg.node != parsed.node:
        raise Rejected(f"payload node {msg.node} does not match topic node {parsed.node}")
    if msg.site != site:
        raise Rejected(f"site {msg.site} is not this center's site {site}")
    return parsed.kind, msg


def attribute(ev: AlertEvent, registry: CameraRegistry) -> AlertEvent:
    """The event as the center attributes it: only for a camera registered to the node that sent
    it (the topic's node, which :func:`validate` matched), and with the enterprise of that camera
    in the registry, whatever the message claims. Raises :class:`Rejected` otherwise."""
    placed = registry.place(ev.camera, ev.node)
    if isinstance(placed, str):
        raise Rejected(placed)
    if ev.enterprise == placed.enterprise_id:
        return ev
    return ev.model_copy(update={"enterprise": placed.enterprise_id})
