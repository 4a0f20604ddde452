"""Request dependencies of every route: the database session and the authorized caller."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from center.auth.origin import csrf_problem
from center.auth.policy import POLICY, Access, Principal, allows
from center.auth.scrape import scrape_refusal
from center.auth.sessions import caller, client_ip, token_and_source
from center.domain.vocabulary import ROLE_LABELS


def get_session(request: Request) -> Iterator[Session]:
    factory = request.app.state.session_factory
    with factory() as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session)]


def authorize(request: Request, session: SessionDep) -> Principal:
    """The dependency every router carries: 401 without a valid login, 403 for a role the
    route's policy does not list, and 403 for a state-changing request that the session cookie
    authenticates without the console's CSRF header or from another origin
    (center/auth/origin.py)."""
    route = request.scope.get("route")
    name = getattr(route, "name", "")
    rule = POLICY.get(name)
    if rule is None:  # create_app refuses such an app; this is the belt to those braces
        raise HTTPException(status_code=403, detail="this endpoint has no access policy")
    if rule is Access.SCRAPE:
        refusal = scrape_refusal(request)
        if refusal is not None:
            status, why = refusal
            raise HTTPException(status_code=status, detail=why, headers={"WWW-Authenticate": "Bearer"})
        return Principal(ip=client_ip(request))
    if rule is Access.PUBLIC:
        try:
            principal = caller(session, request)
        except SQLAlchemyError:  # /api/health must answer while the database is down
            session.rollback()
            principal = None
        return principal or Principal(ip=client_ip(request))
    if token_and_source(request)[1] == "cookie" and (problem := csrf_problem(request, request.method)):
        raise HTTPException(status_code=403, detail=f"跨站请求被拒绝 (cross-site request refused: {problem})")
    principal = caller(session, request)
    if principal is None or principal.role is None:
        raise HTTPException(
            status_code=401, detail="请先登录 (log in first)", headers={"WWW-Authenticate": "Bearer"}
        )
    if not allows(name, principal.role):
        raise HTTPException(
            status_code=403,
            detail=f"role {principal.role} may not use this endpoint ({ROLE_LABELS[principal.role]})",
        )
    return principal


CurrentUser = Annotated[Principal, Depends(authorize)]
