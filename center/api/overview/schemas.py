"""园区总览: the government's grid view of the district's enterprises, in figures."""

from __future__ import annotations

from pydantic import BaseModel, Field

from center.api.enterprises.schemas import IndustryLabelled


class LevelCount(BaseModel):
    level: str = Field(description="red / orange / yellow / blue")
    level_label: str = Field(description="红 / 橙 / 黄 / 蓝")
    count: int


class HazardFigures(BaseModel):
    """Open hazards now, and the rectification of the period's hazards."""

    open_general: int = Field(description="一般隐患 not closed (销号) yet")
    open_major: int = Field(description="重大隐患 not closed yet")
    overdue_general: int = Field(description="open 一般隐患 past their deadline")
    overdue_major: int = Field(description="open 重大隐患 past their deadline")
    created: int = Field(description="hazards recorded in the period")
    created_closed: int = Field(description="of those, how many are closed")
    rectification_rate: float | None = Field(
        description="整改率: created_closed / created (None when no hazard was recorded)"
    )
    closed: int = Field(description="hazards closed (销号) in the period, whenever recorded")
    closed_on_time: int = Field(description="of those, closed by their deadline")
    mean_days_to_close: float | None = Field(
        description="mean days from recorded to closed of the hazards closed in the period"
    )


class GroupFigures(BaseModel):
    """One 镇街 or one industry: its enterprises, their levels and hazards now, the period's alerts."""

    key: str | None = Field(description="town id or industry; None: enterprises without a 镇街")
    name: str = Field(description="the 镇街's name or the industry's Chinese label")
    enterprises: int
    red: int
    orange: int
    open_hazards: int
    overdue_hazards: int
    alerts: int = Field(description="alerts that started in the period")
    confirmed: int = Field(description="of those, acknowledged or turned into a hazard")
    dismissed: int = Field(description="of those, dismissed as false alarms")
    major: int = Field(description="of those, of severity 重大")


class DayCount(BaseModel):
    day: str = Field(description="YYYY-MM-DD in the park's time zone")
    alerts: int
    confirmed: int


class Coverage(BaseModel):
    cameras: int = Field(description="registered cameras")
    cameras_online: int = Field(description="of those, online in their node's last heartbeat")
    key_posts: int = Field(description="cameras at 重点岗位")
    key_posts_online: int
    unassigned: int = Field(description="cameras on no edge node")
    nodes: int
    nodes_online: int
    online_rate: float | None = Field(
        default=None, description="online hours ÷ hours of the period (0–1), all cameras (heartbeat history)"
    )
    key_online_rate: float | None = Field(default=None, description="the same for the key posts' cameras")


class AttentionRow(IndustryLabelled):
    """An enterprise needing attention: red or orange, or with overdue hazards."""

    enterprise_id: str
    name: str
    town_name: str | None
    level: str | None
    level_label: str | None
    score: float | None
    open_hazards: int
    overdue_hazards: int
    major_open: int
    alerts: int = Field(description="alerts that started in the period")


class OverviewOut(BaseModel):
    as_of: str = Field(description="when the figures were computed (ISO 8601)")
    days: int
    since: str = Field(description="start of the period (ISO 8601)")
    scored_at: str | None = Field(description="when the newest stored score was computed")
    enterprises: int
    levels: list[LevelCount] = Field(description="enterprises by their latest stored level, highest first")
    unscored: int = Field(description="enterprises without a stored score")
    hazards: HazardFigures
    by_town: list[GroupFigures]
    by_industry: list[GroupFigures]
    trend: list[DayCount] = Field(description="alerts of each day of the period, oldest first")
    coverage: Coverage
    services: int = Field(description="safety service records dated in the period")
    open_requests: int = Field(description="服务需求 nobody answered yet")
    attention: list[AttentionRow] = Field(
        description="up to 10 enterprises needing attention: highest level, most overdue hazards first"
    )
