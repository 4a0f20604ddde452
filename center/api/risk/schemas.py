"""Risk scores: one enterprise's explained score, the park overview, the daily history and
the risk-diagnosis report (风险诊断报告)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from center.api.enterprises.schemas import EnterpriseOut, IndustryLabelled, PolicyOut, RiskBrief, ServiceOut
from center.api.schemas import RowOut


class RiskTerm(BaseModel):
    key: str
    label: str
    points: float
    detail: dict[str, Any]


class RiskOut(RiskBrief):
    enterprise_id: str
    as_of_ms: int
    raw_points: float
    inputs: dict[str, Any]
    terms: list[RiskTerm]
    thresholds: dict[str, float]
    formula: str
    window: dict[str, int]


class RiskOverviewRow(RiskBrief, IndustryLabelled):
    enterprise_id: str
    name: str
    map_x: float | None
    map_y: float | None


class RiskDayOut(RowOut):
    day: str
    score: float
    level: str
    coefficient: float
    terms: dict[str, float]


class ReportOut(BaseModel):
    """风险诊断报告 data (the PDF is built from the same)."""

    enterprise: EnterpriseOut
    risk: RiskOut
    history: list[RiskDayOut]
    hazards: dict[str, Any]
    alerts: dict[str, Any]
    services: list[ServiceOut]
    policies: list[PolicyOut]
    generated_at: str
    period: dict[str, Any]
    diagnosis: dict[str, Any]


class SnapshotOut(BaseModel):
    day: str
    stored: int
