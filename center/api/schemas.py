"""What the answers of every resource share: ISO times, pages, the base of answers read from
rows, and the string types of request bodies. Each resource's own shapes are in its package."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Generic, TypeVar, cast

from pydantic import BaseModel, ConfigDict, Field, StrictFloat, StrictInt, StringConstraints, computed_field

T = TypeVar("T")
M = TypeVar("M")
R = TypeVar("R")

Sha256 = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]
Text128 = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=128)]
Note = Annotated[str, StringConstraints(strip_whitespace=True, max_length=2000)]
Reason = Annotated[str, StringConstraints(strip_whitespace=True, min_length=2, max_length=256)]
# numbers and flags of request bodies are strict: JSON 0 is not false, "7" is not 7
MapPos = Annotated[StrictFloat, Field(ge=0.0, le=1.0)]
DeadlineDays = Annotated[StrictInt, Field(ge=1, le=365)]


def iso_utc(ms: int | None) -> str | None:
    """Epoch ms → ISO 8601 in UTC with millisecond precision (``2025-06-01T00:00:00.000Z``)."""
    if ms is None:
        return None
    return datetime.fromtimestamp(ms / 1000, tz=UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def derived(method: Callable[[M], R]) -> R:
    """An answer field computed from the others (pydantic's ``computed_field`` on a property;
    its docstring is its description), typed as its value: ``out.started_at`` is a ``str``."""
    return cast(R, computed_field(property(method)))


class RowOut(BaseModel):
    """An answer read from a row's attributes (``Model.model_validate(row)``); times the row
    keeps in epoch ms come out as ISO 8601 too, through computed fields."""

    model_config = ConfigDict(from_attributes=True)


class Page(BaseModel, Generic[T]):
    items: list[T]
    total: int = Field(description="how many match the filters, over all pages")
    limit: int
    offset: int
