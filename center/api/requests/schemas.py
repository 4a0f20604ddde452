"""Service requests: what an enterprise files and how it is answered."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from center.api.schemas import iso_utc
from center.domain.vocabulary import RequestKind

RequestText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=2, max_length=500)]
ReplyText = Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)]


class ServiceRequestIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"kind": "training", "text": "新员工20人，需要一次安全培训"}]},
    )
    kind: RequestKind
    text: RequestText = Field(description="what is asked for, 2–500 characters")


class ServiceAnswerIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"status": "accepted", "reply": "已安排，下周二上门培训"}]},
    )
    status: Literal["accepted", "done"] = Field(description="accepted (已受理) or done (已完成)")
    reply: ReplyText = Field(default="", description="the answer to the enterprise, up to 500 characters")


class ServiceRequestOut(BaseModel):
    id: int
    enterprise_id: str
    enterprise_name: str
    kind: str
    kind_label: str
    text: str
    status: str
    status_label: str
    created_by: str
    created_at: str | None
    reply: str
    replied_by: str | None
    replied_role: str | None
    replied_at: str | None

    @staticmethod
    def times(created_ms: int, replied_ms: int | None) -> tuple[str | None, str | None]:
        return iso_utc(created_ms), iso_utc(replied_ms)
