"""Complaints and claims: what is filed, each step, and the answers."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictFloat, StrictInt, StringConstraints

from center.api.schemas import Note, Reason
from protocol import Id

ComplaintText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=2, max_length=2000)]
Answer = Annotated[str, StringConstraints(strip_whitespace=True, min_length=2, max_length=2000)]
Amount = Annotated[StrictFloat | StrictInt, Field(ge=0, le=1e10)]


class ComplaintIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"insurer_id": "picc", "text": "约定的第二季度隐患排查至今未上门", "task_id": 12}]
        },
    )
    insurer_id: Id = Field(description="the insurer complained about (one insuring the enterprise)")
    text: ComplaintText
    task_id: Annotated[StrictInt, Field(ge=1, le=2**31 - 1)] | None = Field(
        default=None, description="the service task it is about, if any"
    )


class ComplaintExtendIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"reason": "需调取服务机构全年记录核实"}]}
    )
    reason: Reason


class ComplaintAnswerIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"answer": "已核实，服务机构将于本周内补做并致歉"}]}
    )
    answer: Answer


class ComplaintOut(BaseModel):
    id: int
    enterprise_id: str
    enterprise_name: str
    insurer_id: str
    insurer_name: str
    task_id: int | None
    text: str
    filed_date: str
    complex: bool
    complex_reason: str
    deadline: str = Field(description="the last working day to answer (10 working days, 30 when complex)")
    late: bool = Field(description="unanswered past the deadline, or answered after it")
    status: str
    status_label: str
    answer: str
    answered_by: str | None
    answered_date: str | None
    closed_by: str | None
    created_by: str
    created_at: str | None


class ClaimIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "policy_id": 1,
                    "accident_date": "2026-11-20",
                    "accident": "挤压车间一名员工左手被挤伤，送医治疗",
                    "injured": 1,
                    "claimed_cny": 38000,
                }
            ]
        },
    )
    policy_id: Annotated[StrictInt, Field(ge=1, le=2**31 - 1)]
    accident_date: date
    accident: Annotated[str, StringConstraints(strip_whitespace=True, min_length=2, max_length=2000)]
    injured: Annotated[StrictInt, Field(ge=0, le=10_000)] = 0
    claimed_cny: Amount = 0
    alert_id: Annotated[str, StringConstraints(max_length=36, pattern=r"^[0-9a-fA-F-]{8,36}$")] | None = (
        Field(default=None, description="the alert that recorded the accident, if any")
    )


class ClaimAdvanceIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"to": "assessed", "amount_cny": 32000, "note": "医疗费用票据核定"}]},
    )
    to: Literal["surveyed", "assessed", "paid", "rejected"] = Field(
        description="the next step: surveyed (查勘), assessed (定损, with the amount), paid (赔付, with the "
        "amount), or rejected (拒赔, with the reason in note)"
    )
    amount_cny: Amount | None = None
    note: Note = ""


class ClaimOut(BaseModel):
    id: int
    claim_no: str
    policy_id: int
    policy_no: str
    enterprise_id: str
    enterprise_name: str
    insurer_id: str
    insurer_name: str
    accident_date: str
    accident: str
    alert_id: str | None
    injured: int
    status: str
    status_label: str
    claimed_cny: float
    assessed_cny: float | None
    paid_cny: float | None
    note: str
    reported_at: str | None
    surveyed_at: str | None
    assessed_at: str | None
    closed_at: str | None
    days_open: int = Field(description="days from the report to closing (or to now while open)")
