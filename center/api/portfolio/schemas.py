"""承保企业: each policy in force with its enterprise's risk and how it changed; no alert, no
evidence (insurers never get those)."""

from __future__ import annotations

from pydantic import BaseModel, Field

from center.api.enterprises.schemas import IndustryLabelled
from center.api.overview.schemas import LevelCount


class PortfolioRow(IndustryLabelled):
    policy_id: int
    policy_no: str
    start_date: str
    end_date: str
    premium_cny: float
    insured_headcount: int
    insurer_id: str
    insurer_name: str
    enterprise_id: str
    name: str
    town_name: str | None
    level: str | None = Field(description="latest stored level: red / orange / yellow / blue")
    level_label: str | None
    score: float | None
    coefficient: float | None = Field(description="suggested premium risk coefficient")
    scored_day: str | None = Field(description="the day of the latest stored score")
    score_7d: float | None = Field(description="the stored score of 7 days ago")
    level_7d: str | None
    level_7d_label: str | None
    score_30d: float | None = Field(description="the stored score of 30 days ago")
    level_30d: str | None
    level_30d_label: str | None
    change_7d: float | None = Field(description="score now − score 7 days ago")
    change_30d: float | None = Field(description="score now − score 30 days ago")
    level_change_7d: int | None = Field(description="levels up (+) or down (−) since 7 days ago")
    level_change_30d: int | None = Field(description="levels up (+) or down (−) since 30 days ago")
    open_hazards: int = Field(description="hazards not closed (a count: no hazard's details)")
    overdue_hazards: int
    services: int = Field(description="service records of the period the caller may see")


class PortfolioSummary(BaseModel):
    """Policies and premiums count each policy; the levels and changes each enterprise once."""

    policies: int
    enterprises: int
    levels: list[LevelCount] = Field(description="enterprises by latest stored level")
    unscored: int
    worse_7d: int = Field(description="enterprises whose level rose since 7 days ago")
    worse_30d: int = Field(description="… since 30 days ago")
    better_30d: int = Field(description="… whose level fell since 30 days ago")
    premium_cny: float = Field(description="premiums of the policies in force")
    mean_coefficient: float | None


class PortfolioOut(BaseModel):
    as_of: str
    days: int = Field(description="the period of the service counts")
    insurer_id: str | None = Field(description="whose portfolio (None: every insurer's)")
    insurer_name: str | None
    summary: PortfolioSummary
    items: list[PortfolioRow]
    total: int
    limit: int
    offset: int
