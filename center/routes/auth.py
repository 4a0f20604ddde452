"""Log in and out; who am I."""

from __future__ import annotations

from fastapi import HTTPException, Request, Response
from sqlalchemy import delete, select

from center.models import AuthSession, User
from center.policy import ROLE_LABELS, SESSION_COOKIE, Principal, Role, audit, client_ip, request_token
from center.routes.deps import ConfigDep, CurrentUser, SessionDep, make_router
from center.schemas import LoginIn, LoginOut, MeOut, iso_utc
from center.security import LoginLimiter, new_token, token_hash, verify_password
from protocol import now_ms

router = make_router("auth")


def me_of(p: Principal) -> MeOut:
    assert p.role is not None
    return MeOut(
        username=p.username,
        display_name=p.display_name,
        role=p.role.value,
        role_label=ROLE_LABELS[p.role],
        enterprise_id=p.enterprise_id,
        insurer_id=p.insurer_id,
        node=p.node,
    )


@router.post(
    "/auth/login",
    response_model=LoginOut,
    responses={
        401: {"description": "wrong user name or password"},
        429: {"description": "too many failed logins; see Retry-After"},
    },
)
def login(
    body: LoginIn, request: Request, response: Response, session: SessionDep, config: ConfigDep
) -> LoginOut:
    """Check the password and open a session: the token comes back in the body and as an
    HttpOnly, SameSite=Strict cookie (for the web console and its WebSocket)."""
    limiter: LoginLimiter = request.app.state.login_limiter
    ip = client_ip(request)
    keys = [f"{body.username.lower()}|{ip}"]
    wait = limiter.retry_after(keys)
    if wait > 0:
        raise HTTPException(
            status_code=429,
            detail=f"登录失败次数过多，请 {int(wait) + 1} 秒后再试 (too many failed logins)",
            headers={"Retry-After": str(int(wait) + 1)},
        )
    user = session.scalars(select(User).where(User.username == body.username)).first()
    ok = verify_password(user.password_hash if user else None, body.password)
    if not ok or user is None or not user.active:
        limiter.failed(keys)
        audit(session, Principal(username=body.username[:64], ip=ip), "login_failed")
        session.commit()
        raise HTTPException(status_code=401, detail="用户名或密码错误 (wrong user name or password)")
    limiter.succeeded(keys)
    token = new_token()
    now = now_ms()
    expires = now + int(config.auth.session_hours * 3_600_000)
    session.execute(delete(AuthSession).where(AuthSession.user_id == user.id, AuthSession.expires_ms <= now))
    session.add(
        AuthSession(token_hash=token_hash(token), user_id=user.id, created_ms=now, expires_ms=expires)
    )
    who = Principal(
        username=user.username,
        role=Role(user.role),
        user_id=user.id,
        display_name=user.display_name,
        enterprise_id=user.enterprise_id,
        insurer_id=user.insurer_id,
        node=user.node,
        ip=ip,
    )
    audit(session, who, "login")
    session.commit()
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=int(config.auth.session_hours * 3600),
        httponly=True,
        samesite="strict",
        secure=config.auth.cookie_secure,
        path="/",
    )
    return LoginOut(token=token, expires_at=iso_utc(expires) or "", user=me_of(who))


@router.post("/auth/logout", status_code=204)
def logout(request: Request, response: Response, session: SessionDep, user: CurrentUser) -> Response:
    """End this session (the token stops working at once)."""
    token = request_token(request)
    if token:
        session.execute(delete(AuthSession).where(AuthSession.token_hash == token_hash(token)))
    audit(session, user, "logout")
    session.commit()
    response = Response(status_code=204)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.get("/auth/me", response_model=MeOut)
def me(user: CurrentUser) -> MeOut:
    return me_of(user)
