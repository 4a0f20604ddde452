"""Edge nodes as they report themselves, their remote configuration, and the quarantine of
messages that did not pass the contract."""

from __future__ import annotations

import base64
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from center.api.schemas import RowOut, derived, iso_utc
from center.domain.nodes import HEARTBEAT_DEFAULT_S
from center.domain.vocabulary import CAMERA_STATE_LABELS, label
from protocol import EvidenceHealth, WarningHealth

QUARANTINE_PREVIEW_BYTES = 2048
MAX_CONFIG_BYTES = 256 * 1024


class CameraHealthOut(BaseModel):
    """One camera's figures, as its node's last heartbeat told them."""

    model_config = ConfigDict(json_schema_serialization_defaults_required=True)  # always all there

    camera: str = ""
    state: str = Field(
        default="", description="starting / online / stalled / offline, from the last heartbeat"
    )
    fps_in: float = 0.0
    fps_out: float = Field(default=0.0, description="frames analyzed per second")
    infer_ms: float = 0.0
    dropped_frames: int = 0
    reconnects: int = 0
    last_frame_ms: int | None = Field(default=None, exclude=True)
    error: str | None = None

    @derived
    def last_frame_at(self) -> str | None:
        return iso_utc(self.last_frame_ms)


class NodeCameraOut(BaseModel):
    """A camera of the node: registered by the park on it, reported by its heartbeat, or both."""

    camera: str
    name: str | None = Field(description="the registry's name; null: reported but never registered")
    enterprise_id: str | None
    enterprise_name: str | None
    registered: bool
    reported: bool = Field(description="in the node's last status or heartbeat")
    state: str = Field(
        description="starting / online / stalled / offline (last heartbeat, node online); "
        "no_report (the heartbeat did not tell it); unknown (the node is not online)"
    )
    health: CameraHealthOut | None = Field(description="figures of the last heartbeat, when it told them")

    @derived
    def state_label(self) -> str:
        return label(CAMERA_STATE_LABELS, self.state)


class NodeOut(RowOut):
    """A node's row with its health (:func:`center.domain.nodes.node_health`)."""

    site: str
    node: str
    state: str = Field(description="as the node last told: online / offline (its last will) / stopped")
    health: str = Field(description="online / stale (online, but 3 heartbeats missed) / offline / stopped")
    status_ms: int | None
    last_seen_ms: int
    software: str
    cameras: list[str]
    config_version: int | None
    heartbeat: dict[str, Any] | None = Field(description="the last heartbeat as sent, with received_ms added")
    name: str = ""
    heartbeat_age_s: float | None = Field(default=None, description="seconds since the last heartbeat")
    heartbeat_interval_s: float = Field(default=HEARTBEAT_DEFAULT_S, description="the node's period")
    config_rejected: int | None = None
    config_error: str | None = None
    camera_states: list[NodeCameraOut] = Field(
        default_factory=list,
        description="the cameras registered on the node (by name, with their enterprise) and those it "
        "reports, each with its state",
    )

    @derived
    def last_seen_at(self) -> str | None:
        """None for a node registered but never heard from (``last_seen_ms`` 0)."""
        return iso_utc(self.last_seen_ms) if self.last_seen_ms > 0 else None

    @derived
    def camera_health(self) -> list[CameraHealthOut]:
        return [CameraHealthOut.model_validate(c) for c in (self.heartbeat or {}).get("cameras") or []]

    @derived
    def outbox_depth(self) -> int | None:
        return (self.heartbeat or {}).get("outbox_depth")

    @derived
    def outbox_dropped(self) -> int | None:
        return (self.heartbeat or {}).get("outbox_dropped")

    @derived
    def evidence(self) -> EvidenceHealth | None:
        """Clips and evidence uploads as of the last heartbeat (None from nodes that do not say)."""
        raw = (self.heartbeat or {}).get("evidence")
        return EvidenceHealth.model_validate(raw) if raw else None

    @derived
    def warning(self) -> WarningHealth | None:
        """On-site warnings (现场提醒) as of the last heartbeat: played, failed, not played by reason
        (None from nodes without warning outputs)."""
        raw = (self.heartbeat or {}).get("warning")
        return WarningHealth.model_validate(raw) if raw else None


class NodeConfigIn(BaseModel):
    """A node's new configuration: ``config`` (a JSON object) or ``yaml`` (the same as YAML text).

    Its top-level keys replace the node's local ones (usually ``cameras``); the node validates
    it as it validates its file and reports the result (see ``GET …/config``)."""

    model_config = ConfigDict(extra="forbid")

    config: dict[str, Any] | None = None
    yaml: Annotated[str, StringConstraints(max_length=MAX_CONFIG_BYTES)] | None = None


class NodeConfigOut(BaseModel):
    site: str
    node: str
    status: str = Field(
        description="none (never set) / pending / applied / rejected (the node kept its old one)"
    )
    desired_version: int | None
    applied_version: int | None = Field(description="the version the node reports it runs")
    rejected_version: int | None
    last_error: str | None = Field(description="the node's reason for refusing rejected_version")
    node_state: str
    config: dict[str, Any] | None = Field(description="the desired config")
    source: str | None = Field(description="the desired config as the operator sent it")
    created_by: str | None
    created_at: str | None
    published: bool = Field(description="the broker holds the desired version (retained)")


class QuarantineOut(RowOut):
    id: int
    received_ms: int
    topic: str
    reason: str
    payload_size: int
    payload: bytes = Field(exclude=True)

    @derived
    def received_at(self) -> str:
        return iso_utc(self.received_ms) or ""

    def _head(self) -> bytes:
        return bytes(self.payload[:QUARANTINE_PREVIEW_BYTES])

    @derived
    def payload_preview(self) -> str:
        """the payload's first bytes, as text where it decodes"""
        return self._head().decode("utf-8", errors="replace")

    @derived
    def payload_base64(self) -> str | None:
        """the first bytes in base64 when they are not UTF-8"""
        head = self._head()
        try:
            head.decode("utf-8")
        except UnicodeDecodeError:
            return base64.b64encode(head).decode("ascii")
        return None
