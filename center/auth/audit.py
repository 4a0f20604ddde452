"""The audit log: who changed what, and who read which evidence."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from center.auth.policy import Principal
from center.store.models import AuditEntry
from protocol import now_ms


def audit(
    session: Session,
    who: Principal,
    action: str,
    target: str = "",
    detail: dict[str, Any] | None = None,
) -> None:
    """Record a change or an evidence read; written in the caller's transaction."""
    session.add(
        AuditEntry(
            ts_ms=now_ms(),
            username=who.username or "(anonymous)",
            role=str(who.role or ""),
            action=action,
            target=target[:128],
            detail=detail or {},
            ip=who.ip,
        )
    )
