"""Log in and out; who am I."""

from __future__ import annotations

from fastapi import HTTPException, Request, Response
from sqlalchemy import delete

from center.api.deps import ConfigDep, make_router
from center.api.login.schemas import LoginIn, LoginOut, MeOut
from center.api.schemas import iso_utc
from center.api.users.service import user_by_name
from center.auth.audit import audit
from center.auth.deps import CurrentUser, SessionDep
from center.auth.policy import Principal
from center.auth.security import LoginLimiter, verify_password
from center.auth.sessions import (
    SESSION_COOKIE,
    client_ip,
    connection_token,
    end_session,
    open_session,
    principal_of,
)
from center.auth.transport import cookie_secure
from center.store.models import AuthSession
from protocol import now_ms

router = make_router("auth")


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
    name = body.username.lower()
    pair, address, user_key = f"pair:{name}|{ip}", f"addr:{ip}", f"user:{name}"
    keys = [pair, address, user_key]
    wait = limiter.retry_after(
        [
            (pair, config.auth.login_max_failures),
            (address, config.auth.login_max_failures_per_address),
            (user_key, config.auth.login_max_failures_per_user),
        ]
    )
    if wait > 0:
        raise HTTPException(
            status_code=429,
            detail=f"登录失败次数过多，请 {int(wait) + 1} 秒后再试 (too many failed logins)",
            headers={"Retry-After": str(int(wait) + 1)},
        )
    user = user_by_name(session, body.username)
    ok = verify_password(user.password_hash if user else None, body.password)
    if not ok or user is None or not user.active:
        limiter.failed(keys)
        audit(session, Principal(username=body.username[:64], ip=ip), "login_failed")
        session.commit()
        raise HTTPException(status_code=401, detail="用户名或密码错误 (wrong user name or password)")
    limiter.succeeded([pair])  # the address's and the name's counts stay: one good login of an
    # account the sprayer owns must not reset them
    session.execute(
        delete(AuthSession).where(AuthSession.user_id == user.id, AuthSession.expires_ms <= now_ms())
    )
    token, expires = open_session(session, user.id, int(config.auth.session_hours * 3_600_000))
    who = principal_of(user, ip)
    audit(session, who, "login")
    session.commit()
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=int(config.auth.session_hours * 3600),
        httponly=True,
        samesite="strict",
        secure=cookie_secure(config, request),
        path="/",
    )
    return LoginOut(token=token, expires_at=iso_utc(expires) or "", user=MeOut.model_validate(who))


@router.post("/auth/logout", status_code=204)
def logout(request: Request, response: Response, session: SessionDep, user: CurrentUser) -> Response:
    """End this session (the token stops working at once)."""
    token = connection_token(request)
    if token:
        end_session(session, token)
    audit(session, user, "logout")
    session.commit()
    response = Response(status_code=204)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.get("/auth/me", response_model=MeOut)
def me(user: CurrentUser) -> MeOut:
    return MeOut.model_validate(user)
