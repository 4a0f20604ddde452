"""User accounts and the audit log (administrators only)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Query
from sqlalchemy import select
from sqlalchemy.orm import Session

from center.errors import Invalid, NotFound, StateConflict
from center.models import AuditEntry, Enterprise, Insurer, User
from center.policy import audit
from center.routes.deps import NOT_FOUND, CurrentUser, Limit, Offset, SessionDep, count_of, make_router
from center.schemas import AuditOut, Page, UserIn, UserOut, UserPatch, iso_utc
from center.security import hash_password
from protocol import now_ms

router = make_router("users")


def user_out(u: User) -> UserOut:
    return UserOut(
        id=u.id,
        username=u.username,
        display_name=u.display_name,
        role=u.role,
        enterprise_id=u.enterprise_id,
        insurer_id=u.insurer_id,
        node=u.node,
        active=u.active,
        created_at=iso_utc(u.created_ms) or "",
    )


def check_links(session: Session, body: UserIn) -> None:
    """An enterprise user names its enterprise, an insurer its insurer, an edge node its node; no others."""
    need = {"enterprise": "enterprise_id", "insurer": "insurer_id", "edge": "node"}.get(body.role)
    for name in ("enterprise_id", "insurer_id", "node"):
        value = getattr(body, name)
        if name == need and value is None:
            raise Invalid(("body", name), f"a {body.role} user needs {name}")
        if name != need and value is not None:
            raise Invalid(("body", name), f"a {body.role} user has no {name}")
    if body.enterprise_id and session.get(Enterprise, body.enterprise_id) is None:
        raise Invalid(("body", "enterprise_id"), f"no enterprise {body.enterprise_id!r}")
    if body.insurer_id and session.get(Insurer, body.insurer_id) is None:
        raise Invalid(("body", "insurer_id"), f"no insurer {body.insurer_id!r}")


def add_user(session: Session, body: UserIn) -> User:
    check_links(session, body)
    if session.scalars(select(User).where(User.username == body.username)).first() is not None:
        raise StateConflict(f"user name {body.username!r} is taken")
    user = User(
        username=body.username,
        display_name=body.display_name,
        role=body.role,
        password_hash=hash_password(body.password),
        enterprise_id=body.enterprise_id,
        insurer_id=body.insurer_id,
        node=body.node,
        active=True,
        created_ms=now_ms(),
    )
    session.add(user)
    session.flush()
    return user


@router.get("/users", response_model=Page[UserOut])
def list_users(
    session: SessionDep,
    role: Annotated[
        str | None, Query(pattern=r"^(admin|operator|government|enterprise|insurer|edge)$")
    ] = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> Page[UserOut]:
    stmt = select(User)
    if role:
        stmt = stmt.where(User.role == role)
    rows = session.scalars(stmt.order_by(User.id).limit(limit).offset(offset))
    return Page(items=[user_out(u) for u in rows], total=count_of(session, stmt), limit=limit, offset=offset)


@router.post(
    "/users", response_model=UserOut, status_code=201, responses={409: {"description": "name taken"}}
)
def create_user(body: UserIn, session: SessionDep, user: CurrentUser) -> UserOut:
    row = add_user(session, body)
    audit(session, user, "create_user", f"user:{row.username}", {"role": row.role})
    session.commit()
    return user_out(row)


@router.patch("/users/{user_id}", response_model=UserOut, responses=NOT_FOUND)
def update_user(
    user_id: Annotated[int, Path(ge=1, le=2**31 - 1)], body: UserPatch, session: SessionDep, user: CurrentUser
) -> UserOut:
    """Rename, reset the password, or disable (``active: false`` also ends the user's sessions)."""
    row = session.get(User, user_id)
    if row is None:
        raise NotFound(f"no user {user_id}")
    changed = body.model_dump(exclude_none=True)
    if body.display_name is not None:
        row.display_name = body.display_name
    if body.password is not None:
        row.password_hash = hash_password(body.password)
    if body.active is not None:
        row.active = body.active
    changed.pop("password", None)
    audit(
        session,
        user,
        "update_user",
        f"user:{row.username}",
        {**changed, **({"password": "changed"} if body.password else {})},
    )
    session.commit()
    return user_out(row)


@router.get("/audit", response_model=Page[AuditOut])
def list_audit(
    session: SessionDep,
    username: Annotated[str | None, Query(max_length=64)] = None,
    action: Annotated[str | None, Query(max_length=64)] = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> Page[AuditOut]:
    """Every change and every read of evidence, newest first."""
    stmt = select(AuditEntry)
    if username:
        stmt = stmt.where(AuditEntry.username == username)
    if action:
        stmt = stmt.where(AuditEntry.action == action)
    rows = session.scalars(stmt.order_by(AuditEntry.id.desc()).limit(limit).offset(offset))
    items = [
        AuditOut(
            id=r.id,
            ts_ms=r.ts_ms,
            at=iso_utc(r.ts_ms) or "",
            username=r.username,
            role=r.role,
            action=r.action,
            target=r.target,
            detail=r.detail,
            ip=r.ip,
        )
        for r in rows
    ]
    return Page(items=items, total=count_of(session, stmt), limit=limit, offset=offset)
