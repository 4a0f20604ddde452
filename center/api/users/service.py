"""User accounts, as the API and the CLI (``parkguard-center user …``) create them."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from center.api.users.schemas import UserIn
from center.auth.security import hash_password, password_problem
from center.domain.errors import Invalid, StateConflict
from center.store.models import Enterprise, Insurer, User
from protocol import now_ms

# the link each role names (an enterprise user its enterprise …); the other roles name none
ROLE_LINKS = {"enterprise": "enterprise_id", "insurer": "insurer_id", "edge": "node"}


def user_by_name(session: Session, username: str) -> User | None:
    return session.scalars(select(User).where(User.username == username)).first()


def check_links(session: Session, body: UserIn) -> None:
    """An enterprise user names its enterprise, an insurer its insurer, an edge node its node; no others."""
    need = ROLE_LINKS.get(body.role)
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


def check_password(password: str, username: str) -> None:
    """The password policy (center.auth.security.password_problem) as a 422 naming the field."""
    problem = password_problem(password, username)
    if problem is not None:
        raise Invalid(("body", "password"), problem)


def add_user(
    session: Session, body: UserIn, *, password_policy: bool = True, password_hash: str | None = None
) -> User:
    """A new user. ``password_policy=False`` is for the demo seed's documented passwords only,
    and so is ``password_hash``: the hash of ``body.password``, made once per process."""
    if password_policy:
        check_password(body.password, body.username)
    check_links(session, body)
    if user_by_name(session, body.username) is not None:
        raise StateConflict(f"user name {body.username!r} is taken")
    user = User(
        **body.model_dump(mode="json", exclude={"password"}),
        password_hash=password_hash or hash_password(body.password),
        active=True,
        created_ms=now_ms(),
    )
    session.add(user)
    session.flush()
    return user
