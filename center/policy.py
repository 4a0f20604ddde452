"""Roles and who may call what: the one place access is decided.

Every HTTP route of the app has an entry in :data:`POLICY`, keyed by the route's name (its
function name). :func:`authorize` is a dependency of every router: it finds the caller
(bearer token or session cookie), looks the route up and answers 401/403 before the route
runs. ``create_app`` refuses to start when a route has no entry, and the authorization
matrix test walks the app's routes, so a new endpoint without a policy cannot slip through.

Which *rows* a caller sees is :meth:`Principal.enterprise_scope`: all enterprises for the
park's staff and the government, its own for an enterprise user, the ones it insures (a
policy in force today) for an insurer, none for an edge node. Routes filter by it and
answer 404 for objects outside it, so ids of other enterprises' data are not confirmed.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import Depends, HTTPException, Request
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from center.models import AuditEntry, AuthSession, InsurancePolicy, User
from center.security import token_hash
from protocol import now_ms

SESSION_COOKIE = "pg_session"


class Role(StrEnum):
    ADMIN = "admin"  # 系统管理员: everything, including users
    OPERATOR = "operator"  # 园区管控中心值班员: handles alerts and hazards, manages the park's registry
    GOVERNMENT = "government"  # 应急管理部门: reads everything
    ENTERPRISE = "enterprise"  # 企业安全员: its own enterprise only; rectifies its hazards
    INSURER = "insurer"  # 保险公司: scores and reports of the enterprises it insures; no evidence
    EDGE = "edge"  # 边缘节点 machine account: uploads evidence


ROLE_LABELS = {
    Role.ADMIN: "系统管理员",
    Role.OPERATOR: "管控中心值班员",
    Role.GOVERNMENT: "政府监管",
    Role.ENTERPRISE: "企业安全员",
    Role.INSURER: "保险公司",
    Role.EDGE: "边缘节点",
}


class Access(StrEnum):
    PUBLIC = "public"  # anyone; the caller is still identified when a token is sent


R = Role
STAFF = frozenset({R.ADMIN, R.OPERATOR})
ADMIN = frozenset({R.ADMIN})
READ_ALL = frozenset({R.ADMIN, R.OPERATOR, R.GOVERNMENT})
PEOPLE = READ_ALL | {R.ENTERPRISE}  # may see alerts, hazards and evidence (scoped)
RISK_READERS = PEOPLE | {R.INSURER}  # may see enterprises, scores, reports (scoped)
HANDLE_HAZARD = STAFF | {R.ENTERPRISE}  # the enterprise rectifies, the park reviews
UPLOADERS = STAFF | {R.ENTERPRISE, R.EDGE}
ANY_USER = frozenset(Role)

POLICY: dict[str, frozenset[Role] | Access] = {
    # system
    "health": Access.PUBLIC,
    "site_info": Access.PUBLIC,
    "login": Access.PUBLIC,
    "logout": ANY_USER,
    "me": ANY_USER,
    # users and audit
    "list_users": ADMIN,
    "create_user": ADMIN,
    "update_user": ADMIN,
    "list_audit": ADMIN,
    # park registry
    "list_towns": RISK_READERS,
    "list_parks": RISK_READERS,
    "list_enterprises": RISK_READERS,
    "create_enterprise": STAFF,
    "get_enterprise": RISK_READERS,
    "update_enterprise": STAFF,
    "list_cameras": PEOPLE,
    "create_camera": STAFF,
    "update_camera": STAFF,
    "list_insurers": RISK_READERS,
    "list_policies": RISK_READERS,
    "create_policy": STAFF,
    "list_services": RISK_READERS,
    "create_service": STAFF | {R.INSURER},
    # nodes
    "list_nodes": READ_ALL,
    "list_quarantine": STAFF,
    "get_node_config": STAFF,  # camera URLs may carry credentials
    "put_node_config": STAFF,
    # alerts
    "list_alerts": PEOPLE,
    "export_alerts": PEOPLE,
    "alert_precision": PEOPLE,
    "alerts_feed": PEOPLE,  # the WebSocket; alerts_feed checks it itself (routers do not cover it)
    "get_alert": PEOPLE,
    "acknowledge_alert": STAFF,
    "dismiss_alert": STAFF,
    "escalate_alert": STAFF,
    # hazards
    "list_hazards": PEOPLE,
    "export_hazards": PEOPLE,
    "create_hazard": STAFF,
    "get_hazard": PEOPLE,
    "update_hazard": STAFF,
    "start_hazard": HANDLE_HAZARD,
    "submit_hazard": HANDLE_HAZARD,
    "approve_hazard": STAFF,
    "reject_hazard": STAFF,
    # evidence
    "upload_evidence": UPLOADERS,
    "get_evidence": PEOPLE,
    # risk
    "risk_overview": RISK_READERS,
    "get_risk": RISK_READERS,
    "risk_history": RISK_READERS,
    "risk_report": RISK_READERS,
    "snapshot_risk": STAFF,
    # 全安码
    "enterprise_card": Access.PUBLIC,
    "enterprise_qr_png": RISK_READERS,
    "enterprise_qr_svg": RISK_READERS,
    # web pages (they fetch their data through the API, which checks)
    "page": Access.PUBLIC,
    "login_page": Access.PUBLIC,
    "risk_page": Access.PUBLIC,
    "nodes_page": Access.PUBLIC,  # the page checks the login; its data comes from list_nodes
    "card_page": Access.PUBLIC,
}

# Routes whose answers carry evidence (images, clips, boxes around people): never for insurers.
EVIDENCE_ROUTES = frozenset(
    {
        "list_alerts",
        "export_alerts",
        "get_alert",
        "list_hazards",
        "export_hazards",
        "get_hazard",
        "get_evidence",
    }
)
assert not any(isinstance(POLICY[r], frozenset) and R.INSURER in POLICY[r] for r in EVIDENCE_ROUTES)


@dataclass
class Principal:
    """Who is calling. ``role`` is None for an anonymous caller of a public route."""

    username: str = ""
    role: Role | None = None
    user_id: int | None = None
    display_name: str = ""
    enterprise_id: str | None = None
    insurer_id: str | None = None
    node: str | None = None
    ip: str = ""
    _scope: set[str] | None = field(default=None, repr=False)
    _scope_known: bool = field(default=False, repr=False)

    @property
    def authenticated(self) -> bool:
        return self.role is not None

    @property
    def sees_all(self) -> bool:
        return self.role in READ_ALL

    def enterprise_scope(self, session: Session, tz: str = "Asia/Shanghai") -> set[str] | None:
        """Enterprise ids this caller may see; None means all of them."""
        if self._scope_known:
            return self._scope
        scope: set[str] | None
        if self.sees_all:
            scope = None
        elif self.role is Role.ENTERPRISE:
            scope = {self.enterprise_id} if self.enterprise_id else set()
        elif self.role is Role.INSURER and self.insurer_id:
            today = datetime.now(ZoneInfo(tz)).date().isoformat()
            scope = set(
                session.scalars(
                    select(InsurancePolicy.enterprise_id).where(
                        InsurancePolicy.insurer_id == self.insurer_id,
                        InsurancePolicy.start_date <= today,
                        InsurancePolicy.end_date >= today,
                    )
                )
            )
        else:
            scope = set()
        self._scope, self._scope_known = scope, True
        return scope

    def may_see(self, session: Session, enterprise_id: str | None, tz: str = "Asia/Shanghai") -> bool:
        scope = self.enterprise_scope(session, tz)
        return scope is None or (enterprise_id is not None and enterprise_id in scope)


def request_token(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    if header[:7].lower() == "bearer ":
        return header[7:].strip() or None
    return request.cookies.get(SESSION_COOKIE) or None


def client_ip(request: Any) -> str:
    client = getattr(request, "client", None)
    return (client.host if client else "")[:64]


def principal_for_token(session: Session, token: str | None, ip: str = "") -> Principal | None:
    """The user behind a token (None for a missing, unknown or expired one, or a disabled user)."""
    if not token or len(token) > 256:
        return None
    row = session.get(AuthSession, token_hash(token))
    if row is None or row.expires_ms <= now_ms():
        return None
    user = session.get(User, row.user_id)
    if user is None or not user.active:
        return None
    return Principal(
        username=user.username,
        role=Role(user.role),
        user_id=user.id,
        display_name=user.display_name,
        enterprise_id=user.enterprise_id,
        insurer_id=user.insurer_id,
        node=user.node,
        ip=ip,
    )


def get_session(request: Request) -> Any:
    factory = request.app.state.session_factory
    with factory() as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session)]


def authorize(request: Request, session: SessionDep) -> Principal:
    """The dependency every router carries: 401 without a valid login, 403 for a role the
    route's policy does not list."""
    route = request.scope.get("route")
    rule = POLICY.get(getattr(route, "name", ""))
    if rule is None:  # create_app refuses such an app; this is the belt to those braces
        raise HTTPException(status_code=403, detail="this endpoint has no access policy")
    if rule is Access.PUBLIC:
        try:
            principal = principal_for_token(session, request_token(request), client_ip(request))
        except SQLAlchemyError:  # /api/health must answer while the database is down
            session.rollback()
            principal = None
        return principal or Principal(ip=client_ip(request))
    principal = principal_for_token(session, request_token(request), client_ip(request))
    if principal is None:
        raise HTTPException(
            status_code=401, detail="请先登录 (log in first)", headers={"WWW-Authenticate": "Bearer"}
        )
    assert isinstance(rule, frozenset)
    if principal.role not in rule:
        raise HTTPException(
            status_code=403,
            detail=f"role {principal.role} may not use this endpoint ({ROLE_LABELS[principal.role]})",
        )
    return principal


CurrentUser = Annotated[Principal, Depends(authorize)]


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


def iter_routes(routes: list[Any]) -> Iterator[Any]:
    """The app's routes, with included routers flattened (FastAPI nests them)."""
    for route in routes:
        inner = getattr(route, "original_router", None)
        if inner is not None:
            yield from iter_routes(inner.routes)
        else:
            yield route


def missing_policies(route_names: list[str]) -> list[str]:
    return sorted(n for n in route_names if n not in POLICY)
