"""全安码: what its page shows, by viewer."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class CardOut(BaseModel):
    """What the 全安码 page shows; more fields for callers who may see more."""

    id: str
    name: str
    level: str
    level_label: str
    color: str
    viewer: str = Field(description="anonymous, or the caller's role")
    updated_at: str | None = Field(
        default=None,
        description="when what the level rests on last changed (the file, an alert, a hazard), ISO 8601 UTC",
    )
    score: float | None = None
    coefficient: float | None = None
    industry_label: str | None = None
    address: str | None = None
    open_hazards: int | None = None
    overdue_hazards: int | None = None
    alerts_30d: int | None = None
    policies: list[dict[str, Any]] | None = None
