"""Edge nodes (as they report themselves) and the quarantine of rejected messages."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query

from center import crud
from center.routes.deps import SessionDep, make_router
from center.schemas import NodeOut, QuarantineOut

router = make_router("nodes")


@router.get("/nodes", response_model=list[NodeOut])
def list_nodes(session: SessionDep) -> list[NodeOut]:
    """Edge nodes: registered ones and those that reported a status or a heartbeat."""
    return [NodeOut.of(r) for r in crud.list_nodes(session)]


@router.get("/quarantine", response_model=list[QuarantineOut])
def list_quarantine(
    session: SessionDep, limit: Annotated[int, Query(ge=1, le=500)] = 50
) -> list[QuarantineOut]:
    """Recent messages that did not pass the contract, newest first, with the reason."""
    return [QuarantineOut.of(r) for r in crud.list_quarantine(session, limit)]
