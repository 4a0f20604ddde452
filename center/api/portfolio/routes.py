"""承保企业: the enterprises an insurer insures (its policies in force), their levels, scores,
suggested coefficients and how those changed, open hazards (counted) and service records.
Never alerts or evidence."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query

from center.api.deps import NOT_FOUND, ConfigDep, IdQuery, Limit, Offset, PeriodDays, make_router, scope_of
from center.api.portfolio.schemas import PortfolioOut
from center.api.portfolio.service import SORT_PATTERN, portfolio
from center.auth.deps import CurrentUser, SessionDep
from center.domain.errors import NotFound
from center.domain.vocabulary import Role
from center.store.models import Insurer
from protocol import now_ms

router = make_router("portfolio")

Sort = Annotated[
    str,
    Query(
        pattern=SORT_PATTERN,
        description="the column to sort by, '-' first for descending: score, level, coefficient, "
        "change_7d, change_30d, open_hazards, services, name, end_date, premium",
    ),
]


@router.get("/portfolio", response_model=PortfolioOut, responses=NOT_FOUND)
def insurer_portfolio(
    session: SessionDep,
    config: ConfigDep,
    user: CurrentUser,
    days: PeriodDays = 30,
    insurer_id: IdQuery = None,
    sort: Sort = "-score",
    limit: Limit = 200,
    offset: Offset = 0,
) -> PortfolioOut:
    """An insurer's own policies in force today, one row each, with its enterprise's risk; the
    government and the admin see every insurer's, or one's (``insurer_id``). Scores are the
    stored daily ones (today's refreshed every hour); the changes compare with the stored scores of
    7 and 30 days ago."""
    if user.role is Role.INSURER:
        if insurer_id is not None and insurer_id != user.insurer_id:
            raise NotFound(f"no insurer {insurer_id!r}")
        insurer_id = user.insurer_id or "-"  # an insurer account linked to none sees nothing
    elif insurer_id is not None and session.get(Insurer, insurer_id) is None:
        raise NotFound(f"no insurer {insurer_id!r}")
    return portfolio(
        session, config, user, insurer_id=insurer_id, scope=scope_of(session, user, config), days=days,
        sort=sort, limit=limit, offset=offset, now=now_ms(),
    )  # fmt: skip
