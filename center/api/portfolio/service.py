"""承保企业 in SQL: the policies in force today, each with its enterprise's latest stored score,
its scores of 7 and 30 days ago, its open hazards (counted) and the period's service records;
sorted and paged in the database, the summary aggregated there too."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, and_, case, func, select
from sqlalchemy.orm import Session, aliased

from center.api.overview.schemas import LevelCount
from center.api.portfolio.schemas import PortfolioOut, PortfolioRow, PortfolioSummary
from center.api.schemas import iso_utc
from center.auth.policy import Principal, service_records_visible
from center.config import CenterConfig
from center.domain.scoring import LEVELS, latest_score, level_rank
from center.domain.vocabulary import RISK_LEVEL_LABELS, HazardStatus
from center.store.models import Enterprise, Hazard, InsurancePolicy, Insurer, RiskScore, ServiceRecord, Town

SORT_KEYS = (
    "score",
    "level",
    "coefficient",
    "change_7d",
    "change_30d",
    "open_hazards",
    "services",
    "name",
    "end_date",
    "premium",
)
SORT_PATTERN = rf"^-?({'|'.join(SORT_KEYS)})$"


def portfolio(
    session: Session,
    config: CenterConfig,
    user: Principal,
    *,
    insurer_id: str | None,
    scope: frozenset[str] | None,
    days: int,
    sort: str,
    limit: int,
    offset: int,
    now: int,
) -> PortfolioOut:
    tz = ZoneInfo(config.timezone)
    today = datetime.fromtimestamp(now / 1000, tz).date()
    first = (today - timedelta(days=days)).isoformat()
    day7, day30 = (today - timedelta(days=7)).isoformat(), (today - timedelta(days=30)).isoformat()
    cur, cur_on = latest_score(Enterprise.id, today.isoformat())
    s7, s30 = aliased(RiskScore, name="s7"), aliased(RiskScore, name="s30")
    is_open = Hazard.status != HazardStatus.CLOSED.value

    def hazards(*conditions: ColumnElement[bool]) -> Any:  # counted per row through the index
        return (
            select(func.count())
            .where(Hazard.enterprise_id == Enterprise.id, is_open, *conditions)
            .scalar_subquery()
        )

    services = (
        select(func.count())
        .where(
            ServiceRecord.enterprise_id == Enterprise.id,
            ServiceRecord.date >= first,
            ServiceRecord.date <= today.isoformat(),
            service_records_visible(user),
        )
        .scalar_subquery()
    )
    p = InsurancePolicy
    rank_now, rank_7, rank_30 = level_rank(cur.level), level_rank(s7.level), level_rank(s30.level)
    where: list[ColumnElement[bool]] = [p.start_date <= today.isoformat(), p.end_date >= today.isoformat()]
    if insurer_id is not None:
        where.append(p.insurer_id == insurer_id)
    if scope is not None:
        where.append(p.enterprise_id.in_(sorted(scope)))
    base = (
        select(
            p.id.label("policy_id"),
            p.policy_no,
            p.start_date,
            p.end_date,
            p.premium_cny,
            p.insured_headcount,
            p.insurer_id,
            Insurer.name.label("insurer_name"),
            Enterprise.id.label("enterprise_id"),
            Enterprise.name.label("name"),
            Enterprise.industry,
            Town.name.label("town_name"),
            cur.level,
            cur.score,
            cur.coefficient,
            cur.day.label("scored_day"),
            s7.score.label("score_7d"),
            s7.level.label("level_7d"),
            s30.score.label("score_30d"),
            s30.level.label("level_30d"),
            (cur.score - s7.score).label("change_7d"),
            (cur.score - s30.score).label("change_30d"),
            rank_now.label("rank_now"),
            rank_7.label("rank_7d"),
            rank_30.label("rank_30d"),
            hazards().label("open_hazards"),
            hazards(Hazard.deadline_ms < now).label("overdue_hazards"),
            services.label("services"),
        )
        .select_from(p)
        .join(Enterprise, Enterprise.id == p.enterprise_id)
        .join(Insurer, Insurer.id == p.insurer_id)
        .outerjoin(Town, Town.id == Enterprise.town_id)
        .outerjoin(cur, cur_on)
        .outerjoin(s7, and_(s7.enterprise_id == Enterprise.id, s7.day == day7))
        .outerjoin(s30, and_(s30.enterprise_id == Enterprise.id, s30.day == day30))
        .where(*where)
        .subquery("pf")
    )
    b = base.c
    columns: dict[str, Any] = {
        "score": b.score,
        "level": b.rank_now,
        "coefficient": b.coefficient,
        "change_7d": b.change_7d,
        "change_30d": b.change_30d,
        "open_hazards": b.open_hazards,
        "services": b.services,
        "name": b.name,
        "end_date": b.end_date,
        "premium": b.premium_cny,
    }
    column = columns[sort.lstrip("-")]
    order = (column.desc() if sort.startswith("-") else column.asc()).nulls_last()
    rows = session.execute(
        select(base).order_by(order, b.score.desc().nulls_last(), b.policy_id).limit(limit).offset(offset)
    ).mappings()
    items = [_row(dict(r)) for r in rows]

    def enterprises(condition: ColumnElement[bool]) -> ColumnElement[int]:
        """How many enterprises (not policies: a co-insured one has two rows) meet ``condition``."""
        return func.count(func.distinct(case((condition, b.enterprise_id))))

    def worse(was: Any) -> ColumnElement[bool]:  # levels up since then
        return (b.rank_now > was) & (was > 0)

    agg = session.execute(
        select(
            func.count(),
            func.count(func.distinct(b.enterprise_id)),
            *(enterprises(b.level == lv) for lv in LEVELS),
            enterprises(worse(b.rank_7d)),
            enterprises(worse(b.rank_30d)),
            enterprises((b.rank_now < b.rank_30d) & (b.rank_now > 0)),
            func.coalesce(func.sum(b.premium_cny), 0.0),
            func.avg(b.coefficient),
        ).select_from(base)
    ).one()
    total = int(agg[0])
    levels = [
        LevelCount(level=lv, level_label=RISK_LEVEL_LABELS[lv], count=int(agg[2 + i]))
        for i, lv in enumerate(LEVELS)
    ]
    summary = PortfolioSummary(
        policies=total,
        enterprises=int(agg[1]),
        levels=levels,
        unscored=int(agg[1]) - sum(c.count for c in levels),
        worse_7d=int(agg[6]),
        worse_30d=int(agg[7]),
        better_30d=int(agg[8]),
        premium_cny=round(float(agg[9]), 2),
        # rounded twice: the database sums in row order, and a mean on a half (0.9125) must not
        # come out 0.912 or 0.913 by the order the rows were read in (seen after a restore)
        mean_coefficient=round(round(float(agg[10]), 9), 3) if agg[10] is not None else None,
    )
    insurer_name = (
        session.scalar(select(Insurer.name).where(Insurer.id == insurer_id)) if insurer_id else None
    )
    return PortfolioOut(
        as_of=iso_utc(now) or "",
        days=days,
        insurer_id=insurer_id,
        insurer_name=insurer_name,
        summary=summary,
        items=items,
        total=total,
        limit=limit,
        offset=offset,
    )


def _row(r: dict[str, Any]) -> PortfolioRow:
    def name(level: str | None) -> str | None:
        return RISK_LEVEL_LABELS.get(level) if level else None

    def delta(a: int, b: int) -> int | None:
        return a - b if a and b else None

    def rounded(v: float | None) -> float | None:
        return round(float(v), 1) if v is not None else None

    return PortfolioRow.model_validate(
        {
            **r,
            "change_7d": rounded(r["change_7d"]),
            "change_30d": rounded(r["change_30d"]),
            "level_label": name(r["level"]),
            "level_7d_label": name(r["level_7d"]),
            "level_30d_label": name(r["level_30d"]),
            "level_change_7d": delta(r["rank_now"], r["rank_7d"]),
            "level_change_30d": delta(r["rank_now"], r["rank_30d"]),
        }
    )
