"""园区总览: risk levels, hazards and their rectification, alerts by 镇街 and industry, coverage
and the enterprises needing attention, over a chosen period."""

from __future__ import annotations

from center.api.deps import ConfigDep, PeriodDays, make_router, scope_of
from center.api.overview.schemas import OverviewOut
from center.api.overview.service import Figures
from center.auth.deps import CurrentUser, SessionDep
from protocol import now_ms

router = make_router("overview")


@router.get("/overview", response_model=OverviewOut)
def park_overview(
    session: SessionDep, config: ConfigDep, user: CurrentUser, days: PeriodDays = 30
) -> OverviewOut:
    """The figures of every enterprise the caller may see: levels (latest stored score), open and
    overdue hazards, the period's rectification, alerts by 镇街 and industry and by day, cameras
    and nodes online, and the enterprises needing attention. Aggregated in the database."""
    return Figures(session, config, scope_of(session, user, config), days, now_ms()).answer()
