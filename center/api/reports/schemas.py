"""Report records: what the center issued, to check a copy against."""

from __future__ import annotations

from pydantic import BaseModel


class ReportRecordOut(BaseModel):
    report_no: str
    kind: str
    kind_label: str
    enterprise_id: str | None
    enterprise_name: str | None
    period_from: str
    period_to: str
    sha256: str
    size: int
    pages: int
    created_by: str
    created_at: str
