"""The grid views' answers: the district / town figures and an insurer's obligations."""

from __future__ import annotations

from pydantic import BaseModel, Field


class CoverageRow(BaseModel):
    key: str
    label: str
    enterprises: int
    insured: int = Field(description="with a policy in force on the day")
    headcount: int = Field(description="insured headcount of the policies in force")
    premium_cny: float


class LevelCount(BaseModel):
    level: str
    level_label: str
    count: int


class TrendPoint(BaseModel):
    day: str
    levels: list[LevelCount]


class ServiceFigures(BaseModel):
    tasks: int = Field(description="tasks of the plans in force")
    due: int = Field(description="due by the day (due day on or before it)")
    done_of_due: int = Field(description="of those due, done (已完成, 双方确认 or 已归档)")
    done: int = Field(description="done, due or not")
    overdue: int = Field(description="not done by the due day")
    rate: float | None = Field(description="done_of_due / due")
    satisfaction: float | None = Field(description="mean 回访 satisfaction (1–5)")
    follow_ups: int


class HazardFigures(BaseModel):
    found: int = Field(description="hazards found up to the day")
    closed: int = Field(description="of those, closed (已销号)")
    rate: float | None = Field(description="closed / found: the rectification rate")
    from_services: int = Field(description="found during service visits")
    from_services_closed: int
    overdue_open: int = Field(description="open past their deadline")


class ClaimFigures(BaseModel):
    total: int
    by_status: list[LevelCount]
    open: int = Field(description="not paid or rejected yet")
    claimed_cny: float
    assessed_cny: float
    paid_cny: float


class ComplaintFigures(BaseModel):
    total: int
    open: int
    late: int = Field(description="past the deadline: unanswered after it or answered after it")


class OverdueTask(BaseModel):
    id: int
    enterprise_id: str
    enterprise_name: str
    insurer_name: str
    item_label: str
    due_date: str
    status_label: str


class LateComplaint(BaseModel):
    id: int
    enterprise_id: str
    enterprise_name: str
    insurer_name: str
    filed_date: str
    deadline: str
    status_label: str


class EnterpriseRow(BaseModel):
    enterprise_id: str
    name: str
    town_name: str
    grid_name: str
    industry_label: str
    insured: bool
    level: str | None
    level_label: str | None
    tasks_due: int
    tasks_done: int
    tasks_overdue: int
    open_hazards: int
    open_claims: int
    late_complaints: int


class GridOverviewOut(BaseModel):
    as_of: str = Field(description="the day the figures are of (YYYY-MM-DD, the park's time zone)")
    town_id: str | None
    town_name: str | None
    enterprises: int
    insured: int
    coverage: float | None = Field(description="insured / enterprises")
    headcount: int
    premium_cny: float
    by_town: list[CoverageRow]
    by_industry: list[CoverageRow]
    levels: list[LevelCount]
    unscored: int
    trend: list[TrendPoint] = Field(description="levels on each of the last 8 weeks' same weekday")
    services: ServiceFigures
    hazards: HazardFigures
    claims: ClaimFigures
    complaints: ComplaintFigures
    overdue_tasks: list[OverdueTask] = Field(description="the 50 longest overdue")
    late_complaints: list[LateComplaint]
    rows: list[EnterpriseRow]


class ItemFigures(BaseModel):
    item: str
    item_label: str
    due: int
    done_of_due: int
    overdue: int


class InsurerOut(BaseModel):
    as_of: str
    insurer_id: str | None
    insurer_name: str | None
    policies: int = Field(description="in force on the day")
    enterprises: int
    headcount: int
    premium_cny: float
    plans: int
    without_plan: int = Field(description="policies in force without a service plan")
    services: ServiceFigures
    by_item: list[ItemFigures]
    claims: ClaimFigures
    complaints: ComplaintFigures
    overdue_tasks: list[OverdueTask]
    late_complaints: list[LateComplaint]
