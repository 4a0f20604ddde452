"""Response shapes of the HTTP API and the live feed (one shape for an alert everywhere)."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from center.models import Alert, Node, Quarantine

QUARANTINE_PREVIEW_BYTES = 2048


def iso_utc(ms: int | None) -> str | None:
    """Epoch ms → ISO 8601 in UTC with millisecond precision (``2025-06-01T00:00:00.000Z``)."""
    if ms is None:
        return None
    return datetime.fromtimestamp(ms / 1000, tz=UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class AlertOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"description": "An alert event as merged by the center"})

    event_id: str
    site: str
    node: str
    camera: str
    enterprise: str | None
    rule_id: str
    rule_type: str
    rule_name: str
    severity: str = Field(description="general (一般) / significant (较大) / major (重大)")
    phase: str = Field(description="last phase applied: new / update / end")
    seq: int
    started_ms: int
    started_at: str
    last_ms: int
    last_at: str
    ended_ms: int | None
    ended_at: str | None
    zone: str | None
    count: int
    score: float
    objects: list[dict[str, Any]]
    evidence: list[dict[str, Any]]
    received_ms: int
    received_at: str
    updated_ms: int
    updated_at: str

    @classmethod
    def of(cls, row: Alert) -> AlertOut:
        return cls(
            event_id=row.event_id,
            site=row.site,
            node=row.node,
            camera=row.camera,
            enterprise=row.enterprise,
            rule_id=row.rule_id,
            rule_type=row.rule_type,
            rule_name=row.rule_name,
            severity=row.severity,
            phase=row.phase,
            seq=row.seq,
            started_ms=row.started_ms,
            started_at=iso_utc(row.started_ms) or "",
            last_ms=row.last_ms,
            last_at=iso_utc(row.last_ms) or "",
            ended_ms=row.ended_ms,
            ended_at=iso_utc(row.ended_ms),
            zone=row.zone,
            count=row.count,
            score=row.score,
            objects=list(row.objects),
            evidence=list(row.evidence),
            received_ms=row.received_ms,
            received_at=iso_utc(row.received_ms) or "",
            updated_ms=row.updated_ms,
            updated_at=iso_utc(row.updated_ms) or "",
        )


class AlertPage(BaseModel):
    items: list[AlertOut]
    limit: int
    offset: int


class NodeOut(BaseModel):
    site: str
    node: str
    state: str
    status_ms: int | None
    last_seen_ms: int
    last_seen_at: str
    software: str
    cameras: list[str]
    config_version: int | None
    heartbeat: dict[str, Any] | None

    @classmethod
    def of(cls, row: Node) -> NodeOut:
        return cls(
            site=row.site,
            node=row.node,
            state=row.state,
            status_ms=row.status_ms,
            last_seen_ms=row.last_seen_ms,
            last_seen_at=iso_utc(row.last_seen_ms) or "",
            software=row.software,
            cameras=list(row.cameras),
            config_version=row.config_version,
            heartbeat=row.heartbeat,
        )


class QuarantineOut(BaseModel):
    id: int
    received_ms: int
    received_at: str
    topic: str
    reason: str
    payload_size: int
    payload_preview: str = Field(description="the payload's first bytes, as text where it decodes")
    payload_base64: str | None = Field(description="the first bytes in base64 when they are not UTF-8")

    @classmethod
    def of(cls, row: Quarantine) -> QuarantineOut:
        head = bytes(row.payload[:QUARANTINE_PREVIEW_BYTES])
        try:
            preview, b64 = head.decode("utf-8"), None
        except UnicodeDecodeError:
            preview = head.decode("utf-8", errors="replace")
            b64 = base64.b64encode(head).decode("ascii")
        return cls(
            id=row.id,
            received_ms=row.received_ms,
            received_at=iso_utc(row.received_ms) or "",
            topic=row.topic,
            reason=row.reason,
            payload_size=row.payload_size,
            payload_preview=preview,
            payload_base64=b64,
        )


class Health(BaseModel):
    status: str
    database: str
    mqtt: str
    version: str


class SiteInfo(BaseModel):
    site: str
    site_name: str
    timezone: str
