"""Alerts: the answer (one shape everywhere: the list, one alert, the live feed), the filters of
the routes that query alerts, and the operator's verdicts."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from center.api.deps import TIME_HELP
from center.api.schemas import DeadlineDays, Note, Page, Reason, RowOut, Text128, derived, iso_utc
from center.domain.vocabulary import (
    ALERT_STATUS_LABELS,
    RULE_TYPE_LABELS,
    SEVERITY_LABELS,
    WARNING_OUTCOME_LABELS,
    WARNING_OUTPUT_LABELS,
    AlertStatus,
    label,
)
from protocol import Id, RuleType, Severity

Time = Annotated[str | None, StringConstraints(max_length=64)]


class EvidenceStatus(BaseModel):
    """Whether the center holds an alert's snapshot or clip, and why not when it does not."""

    state: Literal["stored", "pending", "missing", "off", "expired", "none"] = Field(
        description="stored; pending (not uploaded yet / clip window not over); missing (referenced but "
        "never received: upload failed); off (the node's config makes none); expired (removed by "
        "retention); none (the node sent none)"
    )
    label: str = Field(description="the reason in Chinese with English beside (上传中 (uploading) …)")


class AlertOut(RowOut):
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
    last_ms: int
    ended_ms: int | None
    zone: str | None
    count: int
    score: float
    objects: list[dict[str, Any]]
    evidence: list[dict[str, Any]]
    warning: dict[str, Any] | None = Field(
        default=None,
        description="the on-site warning the edge played at the post (现场提醒): outcome (queued, played, "
        "partial, failed, rate_limited, outside_schedule, dropped), message, reason, decided_ms, outputs "
        "(output, name, kind, ok, ms, error); null when the rule has none",
    )
    received_ms: int
    updated_ms: int
    status: str = Field(
        description="open (待处理) / acknowledged (已确认) / dismissed (误报) / escalated (已转隐患)"
    )
    handled_by: str | None
    handled_ms: int | None = Field(default=None, exclude=True)
    dismiss_reason: str | None
    hazard_id: int | None
    camera_name: str | None = Field(
        default=None, description="the camera's name in the registry (厂区主通道); null when not registered"
    )
    enterprise_name: str | None = Field(default=None, description="the enterprise's name (毅佳金属)")
    node_name: str | None = Field(default=None, description="where the edge node is installed (A区机房)")
    post_name: str | None = Field(default=None, description="the post (岗位) the camera watches (厂区大门)")
    zone_name: str | None = Field(
        default=None,
        description="the zone's name from the node's remote config (道路交汇处禁行区); null if unknown",
    )
    evidence_status: dict[str, EvidenceStatus] | None = Field(
        default=None,
        description="per kind (snapshot, clip): whether the center holds it and, when not, why (what the "
        "center knows: not uploaded yet, upload failed, off in the node's config, removed by retention …)",
    )

    @field_validator("status", mode="before")
    @classmethod
    def _open_by_default(cls, value: str | None) -> str:
        return value or AlertStatus.OPEN.value

    @derived
    def started_at(self) -> str:
        return iso_utc(self.started_ms) or ""

    @derived
    def last_at(self) -> str:
        return iso_utc(self.last_ms) or ""

    @derived
    def ended_at(self) -> str | None:
        return iso_utc(self.ended_ms)

    @derived
    def received_at(self) -> str:
        return iso_utc(self.received_ms) or ""

    @derived
    def updated_at(self) -> str:
        return iso_utc(self.updated_ms) or ""

    @derived
    def handled_at(self) -> str | None:
        return iso_utc(self.handled_ms)

    @derived
    def rule_type_label(self) -> str:
        """the rule type's name (区域闯入, 离岗 …)"""
        return label(RULE_TYPE_LABELS, self.rule_type)

    @derived
    def severity_label(self) -> str:
        return label(SEVERITY_LABELS, self.severity)

    @derived
    def status_label(self) -> str:
        return label(ALERT_STATUS_LABELS, self.status)

    @derived
    def warning_label(self) -> str | None:
        """what became of the on-site warning (已播放, 未播放（频率限制） …); null without one"""
        return label(WARNING_OUTCOME_LABELS, str(self.warning.get("outcome"))) if self.warning else None

    @derived
    def warning_outputs(self) -> str | None:
        """where it played, by kind and name (扬声器 厂区扬声器), then the outputs that failed and why"""
        if not self.warning:
            return None
        parts, failed = [], []
        for out in self.warning.get("outputs") or []:
            name = (
                f"{label(WARNING_OUTPUT_LABELS, str(out.get('kind')))} {out.get('name') or out.get('output')}"
            )
            if out.get("ok"):
                parts.append(name)
            else:
                failed.append(f"{name}：{out.get('error') or '失败'}")
        text = "、".join(parts)
        if failed:
            text += ("；" if text else "") + "失败 " + "、".join(failed)
        return text or None


class AlertPage(Page[AlertOut]):
    next_cursor: str | None = Field(
        default=None,
        description="pass as ``cursor`` for the next (older) page; null on the last page. Keyset "
        "pagination: rows that arrive meanwhile neither shift nor repeat the next page",
    )


class AlertChanges(BaseModel):
    """Alerts changed after a point, oldest change first: what a console missed while offline."""

    items: list[AlertOut]
    next_after: str = Field(description="pass as ``after`` to continue (the last change returned)")
    more: bool = Field(description="true when more changes wait beyond this answer")


class AlertWindow(BaseModel):
    """Which alerts a query is about: started in [since, until), of one enterprise."""

    since: Time = Field(default=None, description="alerts started at or after; " + TIME_HELP)
    until: Time = Field(default=None, description="alerts started before; " + TIME_HELP)
    enterprise_id: Id | None = None


SEARCH_MAX = 64
Search = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=SEARCH_MAX)]


class AlertQuery(AlertWindow):
    """The filters of the alert list, written once for every route that lists alerts."""

    camera: Id | None = None
    node: Id | None = None
    rule_type: RuleType | None = None
    severity: Severity | None = None
    status: AlertStatus | None = None
    q: Search | None = Field(
        default=None,
        description="free text (1–64 characters, case-insensitive): matched in the rule's name, the zone, "
        "the camera's id, name and post, the enterprise's and the node's names, the event id and the "
        "dismiss reason",
    )


class DismissIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"reason": "误检：反光衣被识别为人员"}]}
    )
    reason: Reason


class EscalateIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"level": "general", "deadline_days": 7, "assignee": "陈国强"}]},
    )
    level: Literal["general", "major"] = "general"
    deadline_days: DeadlineDays = Field(default=7, description="days to rectify, from now")
    title: Text128 | None = None
    description: Note = ""
    assignee: Annotated[str, StringConstraints(max_length=64)] = ""


class PrecisionRow(BaseModel):
    key: str = Field(description="the rule id or the camera id")
    total: int
    confirmed: int
    dismissed: int
    unreviewed: int
    precision: float | None = Field(description="confirmed / (confirmed + dismissed); null before any review")


class PrecisionOut(BaseModel):
    by_rule: list[PrecisionRow]
    by_camera: list[PrecisionRow]
