"""Evidence files: the answer to an upload."""

from __future__ import annotations

from pydantic import Field

from center.api.schemas import RowOut, derived, iso_utc


class EvidenceOut(RowOut):
    sha256: str
    content_type: str
    size: int
    stored_ms: int = Field(exclude=True)
    created: bool

    @derived
    def stored_at(self) -> str:
        return iso_utc(self.stored_ms) or ""
