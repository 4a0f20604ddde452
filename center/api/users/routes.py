"""User accounts and the audit log (administrators only)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Query
from sqlalchemy import select

from center.api.deps import NOT_FOUND, TIME_HELP, ConfigDep, Limit, Offset, count_of, make_router, time_window
from center.api.schemas import Page
from center.api.users.schemas import AuditOut, UserIn, UserOut, UserPatch
from center.api.users.service import add_user, check_password
from center.auth.audit import audit
from center.auth.deps import CurrentUser, SessionDep
from center.auth.security import hash_password
from center.auth.sessions import end_user_sessions
from center.domain.errors import NotFound
from center.domain.vocabulary import Role
from center.store.models import AuditEntry, User

router = make_router("users")


@router.get("/users", response_model=Page[UserOut])
def list_users(
    session: SessionDep,
    role: Role | None = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> Page[UserOut]:
    stmt = select(User)
    if role:
        stmt = stmt.where(User.role == role.value)
    rows = session.scalars(stmt.order_by(User.id).limit(limit).offset(offset))
    return Page(
        items=[UserOut.model_validate(u) for u in rows],
        total=count_of(session, stmt),
        limit=limit,
        offset=offset,
    )


@router.post(
    "/users", response_model=UserOut, status_code=201, responses={409: {"description": "name taken"}}
)
def create_user(body: UserIn, session: SessionDep, user: CurrentUser) -> UserOut:
    """A new account. Its password must pass the policy (at least 10 characters, not the user
    name nor containing it, zxcvbn score 3 or more): 422 naming why otherwise."""
    row = add_user(session, body)
    audit(session, user, "create_user", f"user:{row.username}", {"role": row.role})
    session.commit()
    return UserOut.model_validate(row)


@router.patch("/users/{user_id}", response_model=UserOut, responses=NOT_FOUND)
def update_user(
    user_id: Annotated[int, Path(ge=1, le=2**31 - 1)], body: UserPatch, session: SessionDep, user: CurrentUser
) -> UserOut:
    """Rename, reset the password, disable or enable. A new password, disabling and enabling
    end every session of the user (enabling again does not revive the tokens it had)."""
    row = session.get(User, user_id)
    if row is None:
        raise NotFound(f"no user {user_id}")
    changed = body.model_dump(exclude_none=True)
    if body.display_name is not None:
        row.display_name = body.display_name
    ends_sessions = body.password is not None or (body.active is not None and body.active != row.active)
    if body.password is not None:
        check_password(body.password, row.username)
        row.password_hash = hash_password(body.password)
    if body.active is not None:
        row.active = body.active
    if ends_sessions:
        end_user_sessions(session, row)
    changed.pop("password", None)
    audit(
        session,
        user,
        "update_user",
        f"user:{row.username}",
        {**changed, **({"password": "changed"} if body.password else {})},
    )
    session.commit()
    return UserOut.model_validate(row)


@router.get("/audit", response_model=Page[AuditOut])
def list_audit(
    session: SessionDep,
    config: ConfigDep,
    username: Annotated[str | None, Query(max_length=64)] = None,
    action: Annotated[str | None, Query(max_length=64)] = None,
    target: Annotated[
        str | None, Query(max_length=128, description="the object, or its start (hazard:YH-000011, hazard:)")
    ] = None,
    since: Annotated[str | None, Query(max_length=64, description="at or after; " + TIME_HELP)] = None,
    until: Annotated[str | None, Query(max_length=64, description="before; " + TIME_HELP)] = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> Page[AuditOut]:
    """Every change and every read of evidence, newest first; filtered by who, what, which
    object and when."""
    stmt = select(AuditEntry)
    if username:
        stmt = stmt.where(AuditEntry.username == username)
    if action:
        stmt = stmt.where(AuditEntry.action == action)
    if target:
        stmt = stmt.where(AuditEntry.target.startswith(target, autoescape=True))
    since_ms, until_ms = time_window(config, since, until)
    if since_ms is not None:
        stmt = stmt.where(AuditEntry.ts_ms >= since_ms)
    if until_ms is not None:
        stmt = stmt.where(AuditEntry.ts_ms < until_ms)
    rows = session.scalars(stmt.order_by(AuditEntry.id.desc()).limit(limit).offset(offset))
    items = [AuditOut.model_validate(r) for r in rows]
    return Page(items=items, total=count_of(session, stmt), limit=limit, offset=offset)
