"""Hazards (隐患): the answer with its history, the list's filters, and the bodies of each step
of the rectification loop."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from center.api.deps import TIME_HELP
from center.api.schemas import DeadlineDays, Note, Reason, RowOut, Sha256, Text128, derived, iso_utc
from center.domain.vocabulary import (
    HAZARD_LEVEL_LABELS,
    HAZARD_STATUS_LABELS,
    HazardSource,
    HazardStatus,
    label,
)
from center.domain.workflow import is_overdue
from protocol import Id

Level = Literal["general", "major"]
Assignee = Annotated[str, StringConstraints(max_length=64)]
Time = Annotated[str | None, StringConstraints(max_length=64)]


class HazardIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "enterprise_id": "yj-metal",
                    "title": "熔铸车间消防通道堆放杂物",
                    "level": "general",
                    "deadline_days": 7,
                    "assignee": "陈国强",
                }
            ]
        },
    )
    enterprise_id: Id
    title: Text128
    description: Note = ""
    level: Level = "general"
    camera_id: Id | None = None
    deadline_days: DeadlineDays = 7
    assignee: Assignee = ""
    before_evidence: list[Sha256] = Field(default_factory=list, max_length=20)
    service_id: int | None = Field(
        default=None, ge=1, le=2**31 - 1, description="the service visit (服务记录) on which it was found"
    )


class HazardPatch(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"assignee": "李伟", "deadline_days": 14}]}
    )
    title: Text128 | None = None
    description: Note | None = None
    level: Level | None = None
    assignee: Assignee | None = None
    deadline_days: DeadlineDays | None = Field(default=None, description="new deadline, days from now")


class HazardQuery(BaseModel):
    """The filters of the hazard list and its CSV export."""

    enterprise_id: Id | None = None
    status: HazardStatus | None = None
    level: Level | None = None
    source: HazardSource | None = None
    overdue: bool | None = Field(default=None, description="true: open past the deadline, or closed after it")
    assignee: Assignee | None = Field(default=None, description="the person it is assigned to (exactly)")
    deadline_after: Time = Field(default=None, description="deadline at or after; " + TIME_HELP)
    deadline_before: Time = Field(default=None, description="deadline before; " + TIME_HELP)


class StepIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"note": "已安排维修班组"}]})
    note: Note = ""


class RejectIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"note": "照片未显示通道已清空"}]}
    )
    note: Reason


class SubmitIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"rectification": "已清理通道杂物并划设禁止堆放标线", "after_evidence": ["a" * 64]}]
        },
    )
    rectification: Reason = Field(description="what was done (整改措施)")
    after_evidence: list[Sha256] = Field(
        min_length=1, max_length=20, description="photos after (uploaded first)"
    )


class HazardStepOut(RowOut):
    ts_ms: int = Field(exclude=True)
    actor: str
    action: str
    from_status: str | None
    to_status: str
    note: str
    actor_name: str | None = Field(default=None, description="the account's display name")

    @derived
    def at(self) -> str:
        return iso_utc(self.ts_ms) or ""


class HazardOut(RowOut):
    id: int
    code: str
    enterprise_id: str
    camera_id: str | None
    alert_id: str | None
    title: str
    description: str
    level: str
    source: str
    status: str
    deadline_ms: int
    assignee: str
    before_evidence: list[str]
    after_evidence: list[str]
    rectification: str
    review_note: str
    created_by: str
    created_ms: int = Field(exclude=True)
    updated_ms: int = Field(exclude=True)
    rectified_ms: int | None = Field(exclude=True)
    closed_ms: int | None = Field(exclude=True)
    service_id: int | None = Field(default=None, description="the service visit on which it was found")
    history: list[HazardStepOut] | None = None
    enterprise_name: str | None = Field(default=None, description="the enterprise's name")
    camera_name: str | None = Field(default=None, description="the camera's name (the place it watches)")
    post_name: str | None = Field(default=None, description="the 岗位 (post) the camera watches")
    created_by_name: str | None = Field(default=None, description="the creator's display name")

    @derived
    def level_label(self) -> str:
        return label(HAZARD_LEVEL_LABELS, self.level)

    @derived
    def status_label(self) -> str:
        return label(HAZARD_STATUS_LABELS, self.status)

    @derived
    def deadline_at(self) -> str:
        return iso_utc(self.deadline_ms) or ""

    @derived
    def overdue(self) -> bool:
        """open past its deadline, or closed after it"""
        return is_overdue(self)

    @derived
    def created_at(self) -> str:
        return iso_utc(self.created_ms) or ""

    @derived
    def updated_at(self) -> str:
        return iso_utc(self.updated_ms) or ""

    @derived
    def rectified_at(self) -> str | None:
        return iso_utc(self.rectified_ms)

    @derived
    def closed_at(self) -> str | None:
        return iso_utc(self.closed_ms)
