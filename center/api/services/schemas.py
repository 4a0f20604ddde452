"""The 安责险 service loop: grid cells, service organisations and staff, plans, tasks, follow-ups."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StringConstraints

from center.api.schemas import Note, Sha256, Text128
from center.domain.grid import MAX_TIMES_PER_ITEM
from center.domain.vocabulary import HazardLevel, ServiceItem
from protocol import Id

LongText = Annotated[str, StringConstraints(strip_whitespace=True, max_length=2000)]
Record = Annotated[str, StringConstraints(strip_whitespace=True, min_length=2, max_length=4000)]
Phone = Annotated[str, StringConstraints(strip_whitespace=True, max_length=32)]
Name64 = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]


class GridCellOut(BaseModel):
    id: str
    name: str
    town_id: str
    town_name: str
    keeper: str
    enterprises: int


class ServiceStaffIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "name": "刘建明",
                    "phone": "138 0000 1234",
                    "qualification": "注册安全工程师",
                    "username": "svc-liu",
                }
            ]
        },
    )
    name: Name64
    phone: Phone = ""
    qualification: Annotated[str, StringConstraints(strip_whitespace=True, max_length=128)] = ""
    username: Annotated[str | None, StringConstraints(pattern=r"^[A-Za-z0-9_.\-@]{2,64}$")] = Field(
        default=None, description="the login of this person (a user of role service), if any"
    )


class ServiceStaffOut(BaseModel):
    id: int
    org_id: str
    name: str
    phone: str
    qualification: str
    username: str | None


class ServiceOrgIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"id": "gd-anping", "name": "广东安评技术服务有限公司", "contact": "刘建明"}]
        },
    )
    id: Id
    name: Text128
    contact: Annotated[str, StringConstraints(strip_whitespace=True, max_length=64)] = ""
    phone: Phone = ""


class ServiceOrgOut(BaseModel):
    id: str
    name: str
    contact: str
    phone: str
    staff: list[ServiceStaffOut]


class PlanItemIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    item: ServiceItem = Field(description="the catalogue service (项目)")
    times: Annotated[StrictInt, Field(ge=1, le=MAX_TIMES_PER_ITEM)] = Field(
        description="频次: how many in the policy period"
    )
    staff_id: Annotated[StrictInt, Field(ge=1, le=2**31 - 1)] | None = Field(
        default=None, description="服务人员, of the plan's organisation"
    )
    measures: Note = Field(default="", description="措施")
    goal: Note = Field(default="", description="this item's expected result")


class ServicePlanIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "policy_id": 1,
                    "org_id": "gd-anping",
                    "goals": "重大隐患动态清零，一般隐患整改率不低于95%",
                    "items": [
                        {"item": "risk_assessment", "times": 1, "staff_id": 1, "measures": "全厂风险辨识"},
                        {"item": "hazard_inspection", "times": 4, "staff_id": 1},
                        {"item": "training", "times": 2, "staff_id": 2, "measures": "新员工入场培训"},
                    ],
                }
            ]
        },
    )
    policy_id: Annotated[StrictInt, Field(ge=1, le=2**31 - 1)]
    org_id: Id = Field(description="第三方服务机构")
    goals: Note = Field(default="", description="预期目标")
    items: list[PlanItemIn] = Field(min_length=1, max_length=20)


class PlanItemOut(BaseModel):
    id: int
    item: str
    item_label: str
    times: int
    staff_id: int | None
    staff_name: str | None
    measures: str
    goal: str
    done: int = Field(description="its tasks done (已完成, 双方确认 or 已归档)")


class ServicePlanOut(BaseModel):
    id: int
    policy_id: int
    policy_no: str
    start_date: str
    end_date: str
    enterprise_id: str
    enterprise_name: str
    insurer_id: str
    insurer_name: str
    org_id: str
    org_name: str
    goals: str
    created_by: str
    created_at: str | None
    tasks: int
    due: int = Field(description="tasks due by today (due day passed)")
    done: int = Field(description="tasks done")
    overdue: int
    items: list[PlanItemOut] = []


class FollowUpIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"satisfaction": 5, "opinion": "讲解细致，整改建议实用"}]},
    )
    satisfaction: Annotated[StrictInt, Field(ge=1, le=5)] = Field(description="1 (很不满意) – 5 (很满意)")
    opinion: Note = ""


class FollowUpOut(BaseModel):
    id: int
    task_id: int
    enterprise_id: str
    enterprise_name: str
    insurer_name: str
    item_label: str
    satisfaction: int
    opinion: str
    created_by: str
    created_role: str
    created_at: str | None


class BookIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"date": "2026-12-10", "note": "与陈国强确认，上午9点到厂"}]},
    )
    date: dt.date = Field(description="the visit's day agreed with the enterprise")
    note: Note = ""


class FoundHazardIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    title: Text128
    level: HazardLevel = HazardLevel.GENERAL
    description: Note = ""
    deadline_days: Annotated[StrictInt, Field(ge=1, le=365)] = 15


class VisitIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "record": "对熔铸车间、仓库开展隐患排查，发现问题2项，已书面告知企业",
                    "photos": ["9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"],
                    "hazards": [
                        {"title": "仓库消防通道堆放物料", "level": "general", "deadline_days": 7},
                    ],
                }
            ]
        },
    )
    record: Record = Field(description="what was done (服务记录), 2–4000 characters")
    photos: list[Sha256] = Field(
        default=[], max_length=20, description="photos uploaded by POST /api/evidence"
    )
    hazards: list[FoundHazardIn] = Field(default=[], max_length=20, description="hazards found (书面告知)")


class TaskHazardOut(BaseModel):
    id: int
    code: str
    title: str
    level: str
    status: str
    status_label: str


class ServiceTaskOut(BaseModel):
    id: int
    plan_id: int
    enterprise_id: str
    enterprise_name: str
    enterprise_address: str
    insurer_id: str
    insurer_name: str
    org_name: str
    staff_id: int | None
    staff_name: str | None
    item: str
    item_label: str
    seq: int
    due_date: str
    status: str
    status_label: str
    overdue: bool = Field(description="逾期: not done by its due day")
    archive_late: bool = Field(description="not archived within its working days")
    booked_date: str | None
    booking_note: str
    done_date: str | None
    record: str
    photos: int = Field(description="how many photos the record has")
    confirmed_by: str | None
    archive_due: str | None
    archived_date: str | None
    satisfaction: int | None
    hazards: list[TaskHazardOut] = []
