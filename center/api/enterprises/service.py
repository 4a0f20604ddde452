"""Answers about enterprises that other resources show too (the risk report, the 全安码)."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from center.api.enterprises.schemas import EnterpriseOut, PolicyOut, RiskBrief
from center.config import CenterConfig
from center.domain import scoring
from center.store.models import Camera, Enterprise, InsurancePolicy, Insurer


def today(config: CenterConfig) -> str:
    """Today in the park's time zone, YYYY-MM-DD (policies are in force by day)."""
    return datetime.now(ZoneInfo(config.timezone)).date().isoformat()


def in_force(policy: InsurancePolicy, day: str) -> bool:
    return policy.start_date <= day <= policy.end_date


def risk_brief(session: Session, config: CenterConfig, enterprise_id: str) -> RiskBrief:
    return RiskBrief.model_validate(scoring.current(session, enterprise_id, config.risk))


def enterprise_out(
    session: Session, config: CenterConfig, e: Enterprise, with_risk: bool = True
) -> EnterpriseOut:
    cams = session.scalar(select(func.count()).select_from(Camera).where(Camera.enterprise_id == e.id)) or 0
    risk = risk_brief(session, config, e.id) if with_risk else None
    return EnterpriseOut.model_validate({**e.columns(), "cameras": int(cams), "risk": risk})


def policy_out(p: InsurancePolicy, insurer: Insurer | None, day: str) -> PolicyOut:
    name = insurer.name if insurer else p.insurer_id
    return PolicyOut.model_validate({**p.columns(), "insurer_name": name, "in_force": in_force(p, day)})
