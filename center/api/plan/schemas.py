"""The park plan's answers: the plan itself, and the enterprises and cameras placed on it."""

from __future__ import annotations

from pydantic import BaseModel, Field


class PlanImageOut(BaseModel):
    content_type: str
    width: int = Field(description="in the plan's own units (pixels, SVG units); positions are 0–1 of it")
    height: int
    size: int
    sha256: str
    url: str = Field(description="where the console loads it from (changes with the file)")
    uploaded_by: str
    uploaded_at: str | None


class PlanEnterprise(BaseModel):
    enterprise_id: str
    name: str
    level: str = Field(description="red / orange / yellow / blue")
    level_label: str = Field(description="红 / 橙 / 黄 / 蓝")
    score: float
    map_x: float | None = Field(description="0–1 of the plan's width from the left; null: not placed yet")
    map_y: float | None = Field(description="0–1 of the plan's height from the top")
    open_hazards: int = Field(description="hazards not yet closed (未销号)")
    major_hazards: int = Field(description="of them 重大")


class PlanCamera(BaseModel):
    camera: str
    name: str
    post_name: str
    enterprise_id: str
    enterprise_name: str
    node: str | None
    map_x: float | None
    map_y: float | None
    state: str = Field(description="online / starting / stalled / offline / no_report / unknown")
    state_label: str
    live_alerts: int = Field(description="open alerts still going on (not ended) in the last 24 hours")
    live_major: int = Field(description="of them 重大")
    live_url: str = Field(description="the camera's live picture on the camera wall")


class PlanOut(BaseModel):
    site_name: str
    plan: PlanImageOut | None = Field(description="null until the site uploads one")
    enterprises: list[PlanEnterprise]
    cameras: list[PlanCamera] = Field(description="empty for a role that sees no cameras (an insurer)")
