"""Roles and who may call what: the one place access is decided.

Every HTTP route of the app has an entry in :data:`POLICY`, keyed by the route's name (its
function name). :func:`center.auth.deps.authorize` is a dependency of every router: it finds
the caller (bearer token or session cookie), looks the route up with :func:`allows` and
answers 401/403 before the route runs; the WebSocket feed asks :func:`allows` too.
``create_app`` refuses to start when a route has no entry, and the authorization matrix test
walks the app's routes, so a new endpoint without a policy cannot slip through.

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
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, false, select, true
from sqlalchemy.orm import Session

from center.domain.vocabulary import Role
from center.store.models import InsurancePolicy, ServiceRecord, ServiceStaff, ServiceTask


class Access(StrEnum):
    PUBLIC = "public"  # anyone; the caller is still identified when a token is sent
    SCRAPE = "scrape"  # a metrics scraper: the loopback address or the scrape token, no login (metrics.*)


R = Role
STAFF = frozenset({R.ADMIN, R.OPERATOR})
ADMIN = frozenset({R.ADMIN})
READ_ALL = frozenset({R.ADMIN, R.OPERATOR, R.GOVERNMENT})
PEOPLE = READ_ALL | {R.ENTERPRISE}  # may see alerts, hazards and evidence (scoped)
RISK_READERS = PEOPLE | {R.INSURER}  # may see enterprises, scores, reports (scoped)
HANDLE_HAZARD = STAFF | {R.ENTERPRISE}  # the enterprise rectifies, the park reviews
UPLOADERS = STAFF | {R.ENTERPRISE, R.EDGE}
INSURANCE_READERS = frozenset({R.ADMIN, R.GOVERNMENT, R.INSURER})  # portfolios: insurers and supervisors
SERVICE_STAFF = frozenset({R.SERVICE})  # 第三方服务人员: their own service tasks only
TASK_READERS = RISK_READERS | SERVICE_STAFF  # service tasks (rows by insured_rows below)
ANY_USER = frozenset(Role)

POLICY: dict[str, frozenset[Role] | Access] = {
    # system
    "health": Access.PUBLIC,
    "ready": Access.PUBLIC,
    "site_info": Access.PUBLIC,
    "metrics": Access.SCRAPE,
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
    "alert_changes": PEOPLE,  # what a console missed while its live feed was down
    "export_alerts": PEOPLE,
    "alert_precision": PEOPLE,
    "alerts_feed": PEOPLE,  # the WebSocket; alerts_feed checks it itself (routers do not cover it)
    "get_alert": PEOPLE,
    "acknowledge_alert": STAFF,
    "dismiss_alert": STAFF,
    "escalate_alert": STAFF,
    # live video (实时视频): the park's staff and the government all cameras, an enterprise its own
    # (scoped in center/api/live/routes.py before anything reaches a node), an insurer none
    "live_cameras": PEOPLE,
    "live_offer": PEOPLE,
    "live_close": PEOPLE,
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
    "upload_photo": HANDLE_HAZARD | SERVICE_STAFF,  # a photo from the console (the center hashes it)
    "get_evidence": PEOPLE,
    # risk
    "risk_overview": RISK_READERS,
    "get_risk": RISK_READERS,
    "risk_history": RISK_READERS,
    "risk_report": RISK_READERS,
    "risk_report_pdf": RISK_READERS,  # images only as face-blurred thumbnails (center/reports/faces.py)
    "verify_report": RISK_READERS,
    "service_report_pdf": RISK_READERS,  # scoped like list_services; photos face-blurred thumbnails only
    "park_report": READ_ALL,  # every enterprise of the park (the government's report)
    "park_report_pdf": READ_ALL,  # a record of a report of an enterprise in the caller's scope
    "snapshot_risk": STAFF,
    # 园区总览 (the government's grid view) and 承保企业 (an insurer's portfolio: no alerts, no evidence)
    "park_overview": READ_ALL,
    # 园区一张图: the plan and what stands on it (scoped; cameras not for insurers), its upload by the admin
    "park_plan": RISK_READERS,
    "park_plan_image": RISK_READERS,
    "put_park_plan": ADMIN,
    "insurer_portfolio": INSURANCE_READERS,
    # service requests (服务需求): the enterprise asks, the park and its insurers answer
    "list_service_requests": RISK_READERS,
    "create_service_request": frozenset({R.ENTERPRISE}),
    "answer_service_request": STAFF | {R.INSURER},
    # the 安责险 service loop (center/domain/grid.py): rows scoped by insured_rows (an insurer its
    # own plans, tasks, complaints and claims, an enterprise its own, service staff their tasks)
    "list_grid_cells": RISK_READERS,
    "list_service_orgs": RISK_READERS,
    "create_service_org": STAFF,
    "create_service_staff": STAFF,
    "list_service_plans": RISK_READERS,
    "get_service_plan": RISK_READERS,
    "create_service_plan": STAFF | {R.INSURER},  # for a policy of its own
    "list_service_tasks": TASK_READERS,
    "get_service_task": TASK_READERS,
    "my_service_tasks": SERVICE_STAFF,  # the phone page's agenda
    "book_service_task": STAFF | {R.INSURER, R.SERVICE},  # 服务前确认 (已预约)
    "record_service_visit": SERVICE_STAFF,  # the visit's record, photos and hazards found
    "confirm_service_task": frozenset({R.ENTERPRISE}),  # the enterprise's side of 双方确认
    "archive_service_task": STAFF | {R.INSURER},
    "follow_up_service_task": frozenset({R.ENTERPRISE, R.INSURER}),  # 回访
    "list_follow_ups": RISK_READERS,
    "list_complaints": RISK_READERS,
    "create_complaint": frozenset({R.ENTERPRISE}),
    "extend_complaint": STAFF | {R.INSURER},  # 复杂投诉: 30 working days
    "answer_complaint": STAFF | {R.INSURER},
    "close_complaint": STAFF | {R.ENTERPRISE},
    "list_claims": RISK_READERS,
    "create_claim": STAFF | {R.ENTERPRISE, R.INSURER},  # 报案
    "advance_claim": ADMIN | {R.INSURER},  # 查勘 → 定损 → 赔付 / 拒赔
    "grid_overview": READ_ALL,  # 网格监管: the district / town figures
    "insurer_obligations": INSURANCE_READERS,  # 服务履约: an insurer's obligations, claims, complaints
    # notifications (通知): channels and routes by the admin, the outbox by the park's staff,
    # an alert's notifications by whoever may see the alert, one's own subscriptions by each user
    "list_notify_channels": ADMIN,  # names of secret variables, never their values
    "put_notify_channel": ADMIN,
    "list_notify_routes": ADMIN,
    "put_notify_route": ADMIN,
    "delete_notify_route": ADMIN,
    "list_notifications": STAFF,
    "count_notifications": STAFF,
    "retry_notification": ADMIN,
    "alert_notifications": PEOPLE,  # scoped by the alert's enterprise; addresses masked but for the admin
    "my_notifications": PEOPLE,  # only alerts the user may see reach them
    "put_my_notifications": PEOPLE,
    # 全安码
    "enterprise_card": Access.PUBLIC,
    "enterprise_qr_png": Access.PUBLIC,  # they only encode the card's URL, in the level's colour
    "enterprise_qr_svg": Access.PUBLIC,
    "enterprise_poster_png": Access.PUBLIC,  # name, colour, QR, park, date: what the card shows anyone
    # web pages (they fetch their data through the API, which checks)
    # (each checks the login itself and sends a role that may not open it to its landing page,
    # by CONSOLE_PAGES below)
    "page": Access.PUBLIC,
    "alerts_page": Access.PUBLIC,
    "login_page": Access.PUBLIC,
    "risk_page": Access.PUBLIC,
    "nodes_page": Access.PUBLIC,
    "card_page": Access.PUBLIC,
    "hazards_page": Access.PUBLIC,
    "enterprises_page": Access.PUBLIC,
    "enterprise_page": Access.PUBLIC,
    "users_page": Access.PUBLIC,
    "audit_page": Access.PUBLIC,
    "notify_page": Access.PUBLIC,
    "my_notify_page": Access.PUBLIC,
    "overview_page": Access.PUBLIC,
    "portfolio_page": Access.PUBLIC,
    "plan_page": Access.PUBLIC,
    "grid_page": Access.PUBLIC,
    "services_page": Access.PUBLIC,
    "tasks_page": Access.PUBLIC,
    "wall_page": Access.PUBLIC,
}

# Routes whose answers carry evidence (images, clips, boxes around people): never for insurers.
EVIDENCE_ROUTES = frozenset(
    {
        "list_alerts",
        "alert_changes",
        "export_alerts",
        "get_alert",
        "list_hazards",
        "export_hazards",
        "get_hazard",
        "get_evidence",
        "live_cameras",  # live pictures of people: never for insurers either
        "live_offer",
        "live_close",
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


def service_records_visible(principal: Principal) -> ColumnElement[bool]:
    """Which service records of an enterprise in its scope the caller sees: an insurer its own
    and those no insurer gave (the enterprise's, the park's), never a co-insurer's of the same
    enterprise; every other role all of them."""
    if principal.role is Role.INSURER:
        return (ServiceRecord.insurer_id == principal.insurer_id) | ServiceRecord.insurer_id.is_(None)
    return true()


def insured_rows(principal: Principal, model: Any) -> ColumnElement[bool]:
    """Which rows of a table of the service loop (plans, tasks, follow-ups, complaints, claims:
    each with ``enterprise_id``, most with ``insurer_id``) the caller sees: the park's staff and the
    government all; an enterprise its own; an insurer its own (never another insurer's, even of an
    enterprise both insure); a 第三方服务人员 the tasks assigned to them; nobody else any."""
    if principal.sees_all:
        return true()
    if principal.role is Role.ENTERPRISE:
        return model.enterprise_id == (principal.enterprise_id or "")
    if principal.role is Role.INSURER and hasattr(model, "insurer_id"):
        return model.insurer_id == (principal.insurer_id or "")
    if principal.role is Role.SERVICE and model is ServiceTask:
        mine = select(ServiceStaff.id).where(ServiceStaff.username == principal.username)
        return ServiceTask.staff_id.in_(mine)
    return false()


def allows(route: str, role: Role | None) -> bool:
    """May a caller of ``role`` (None: anonymous) use the route named ``route``?"""
    rule = POLICY.get(route)
    if rule is Access.PUBLIC:
        return True
    return isinstance(rule, frozenset) and role in rule


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


# --- the web console's pages: who may open which, where each role lands --------------------------


@dataclass(frozen=True)
class ConsolePage:
    """A page of the web console. ``needs`` are the API routes its scripts call to show it;
    ``roles`` the roles that may open it: exactly those that may call every route it needs
    (tests/center/auth/test_pages.py holds the two to each other). ``{enterprise_id}`` in a
    path is the caller's own enterprise; such a page is only for a caller linked to one.
    ``offers`` are routes the page calls only for a caller that may (its buttons, or parts of
    it): the console learns which from ``/api/auth/me`` (``may``). ``many``: only for callers
    that may see several enterprises (an enterprise account has its own file instead)."""

    key: str
    path: str
    label: str
    label_en: str
    roles: frozenset[Role]
    needs: tuple[str, ...]
    offers: tuple[str, ...] = ()
    many: bool = False

    def path_for(self, principal: Principal) -> str | None:
        """The page's path for this caller, None when the caller may not open it."""
        if principal.role is None or principal.role not in self.roles:
            return None
        if self.many and principal.role is Role.ENTERPRISE:
            return None
        if "{enterprise_id}" in self.path:
            if not principal.enterprise_id:
                return None
            return self.path.replace("{enterprise_id}", principal.enterprise_id)
        return self.path


CONSOLE_PAGES: tuple[ConsolePage, ...] = (
    ConsolePage("overview", "/overview", "园区总览", "Overview", READ_ALL, ("me", "park_overview")),
    ConsolePage(
        "grid",
        "/grid",
        "网格监管",
        "Grid view",
        READ_ALL,
        ("me", "grid_overview", "list_towns"),
    ),
    ConsolePage(
        "portfolio",
        "/portfolio",
        "承保企业",
        "Portfolio",
        INSURANCE_READERS,
        ("me", "insurer_portfolio", "list_insurers"),
    ),
    ConsolePage(
        "alerts",
        "/alerts",
        "实时告警",
        "Alerts",
        PEOPLE,
        (
            *("me", "list_alerts", "alert_changes", "alerts_feed", "get_alert", "get_evidence"),
            *("alert_notifications", "list_enterprises", "list_cameras"),
        ),
        ("acknowledge_alert", "dismiss_alert", "escalate_alert"),
    ),
    ConsolePage(
        "hazards",
        "/hazards",
        "隐患整改",
        "Hazards",
        PEOPLE,
        ("me", "list_hazards", "get_hazard", "get_alert", "get_evidence", "list_enterprises", "list_cameras"),
        ("create_hazard", "start_hazard", "submit_hazard", "approve_hazard", "reject_hazard", "upload_photo"),
    ),
    ConsolePage(
        "risk",
        "/risk",
        "企业风险",
        "Risk map",
        RISK_READERS,
        (
            "me",
            "risk_overview",
            "risk_report_pdf",
            "park_plan",
        ),  # the plan's file: its URL comes in park_plan
        ("park_report_pdf",),  # the park report: the park's staff and the government
    ),
    ConsolePage(
        "enterprises",
        "/enterprises",
        "安全档案",
        "Risk files",
        RISK_READERS,
        ("me", "list_enterprises"),
        many=True,
    ),
    ConsolePage(
        "file",
        "/enterprises/{enterprise_id}",
        "本企业档案",
        "Our risk file",
        RISK_READERS,  # /enterprises/<id> of any enterprise it may see; in the navigation: its own
        (
            *("me", "get_enterprise", "get_risk", "risk_history", "list_policies", "list_services"),
            *("list_service_requests", "enterprise_poster_png", "risk_report_pdf", "service_report_pdf"),
        ),
        (  # the first five not for insurers; answering requests for the park and the insurer
            *("list_cameras", "list_alerts", "list_hazards", "alert_precision", "list_nodes"),
            "answer_service_request",
        ),
    ),
    ConsolePage(
        "wall", "/wall", "视频墙", "Camera wall", PEOPLE, ("me", "live_cameras"), ("live_offer", "live_close")
    ),
    ConsolePage("nodes", "/nodes", "节点与摄像头", "Nodes", READ_ALL, ("me", "list_nodes")),
    ConsolePage(
        "card",
        "/e/{enterprise_id}",
        "本企业全安码",
        "Our safety code",
        RISK_READERS,  # in the navigation of an account linked to an enterprise: its own card
        (
            *("me", "enterprise_card", "enterprise_qr_svg", "enterprise_poster_png"),
            *("list_service_requests", "list_services", "service_report_pdf"),
        ),
        # the officer: its open hazards (their photos; start, submit with photos) and 服务需求; the
        # park and the insurer answer requests; the government reads
        (
            *("list_hazards", "get_evidence", "start_hazard", "submit_hazard", "upload_photo"),
            *("create_service_request", "answer_service_request"),
        ),
    ),
    ConsolePage(
        "services",
        "/services",
        "安责险服务",
        "Insurance services",
        RISK_READERS,
        (
            *("me", "list_service_plans", "get_service_plan", "list_service_tasks", "list_follow_ups"),
            *("list_complaints", "list_claims"),
        ),
        (  # the insurer's figures, and each side's steps of the loop
            *("insurer_obligations", "book_service_task", "confirm_service_task", "archive_service_task"),
            *("follow_up_service_task", "create_complaint", "extend_complaint", "answer_complaint"),
            *("close_complaint", "create_claim", "advance_claim", "list_policies"),
        ),
    ),
    ConsolePage(
        "tasks",
        "/tasks",
        "我的服务任务",
        "My service tasks",
        SERVICE_STAFF,
        ("me", "my_service_tasks"),
        ("book_service_task", "record_service_visit", "upload_photo"),
    ),
    ConsolePage(
        "users",
        "/admin/users",
        "用户管理",
        "Users",
        ADMIN,
        ("me", "list_users", "list_enterprises", "list_insurers"),
        ("create_user", "update_user"),
    ),
    ConsolePage("audit", "/admin/audit", "审计日志", "Audit log", ADMIN, ("me", "list_audit", "list_users")),
    ConsolePage(
        "plan",
        "/admin/plan",
        "园区底图",
        "Park plan",
        ADMIN,
        (
            *("me", "park_plan", "park_plan_image", "put_park_plan"),
            *("get_enterprise", "update_enterprise", "update_camera"),  # PATCH /api/enterprises/{id} …
        ),
    ),
    ConsolePage(
        "notify",
        "/admin/notify",
        "通知设置",
        "Notifications",
        ADMIN,
        (
            "me",
            "list_notify_channels",
            "list_notify_routes",
            "list_notifications",
            "count_notifications",
            "list_enterprises",
        ),
        ("put_notify_channel", "put_notify_route", "delete_notify_route", "retry_notification"),
    ),
    ConsolePage(
        "mynotify",
        "/notify",
        "我的通知",
        "My notifications",
        PEOPLE,
        ("me", "my_notifications"),
        ("put_my_notifications",),
    ),
)
PAGES_BY_KEY = {p.key: p for p in CONSOLE_PAGES}

# Where ``/`` takes each role after login: the park's staff watch the live alerts (``/`` is the
# alerts console for them), the government the park overview (园区总览: levels, hazards, alerts by
# 镇街 and industry), an insurer its portfolio (承保企业: the enterprises it insures, their levels,
# coefficients and changes), an enterprise officer its own risk file (安全档案: profile, score and
# its terms, cameras, alerts, hazards, policies, services).
LANDING: dict[Role, str] = {
    R.ADMIN: "alerts",
    R.OPERATOR: "alerts",
    R.GOVERNMENT: "overview",
    R.INSURER: "portfolio",
    R.ENTERPRISE: "file",
    R.SERVICE: "tasks",
}
ROOT_IS_ALERTS = frozenset(r for r, key in LANDING.items() if key == "alerts")


def nav_pages(principal: Principal) -> list[tuple[ConsolePage, str]]:
    """The pages this caller may open, with their paths for it, in the navigation's order."""
    out = []
    for p in CONSOLE_PAGES:
        path = p.path_for(principal)
        if path is not None:
            out.append((p, path))
    return out


def offered(principal: Principal) -> list[str]:
    """The routes of the pages' ``offers`` this caller may use (the console shows those buttons)."""
    role = principal.role
    names = {r for p in CONSOLE_PAGES if role in p.roles for r in p.offers if allows(r, role)}
    return sorted(names)


def landing_path(principal: Principal) -> str:
    """Where ``/`` takes this caller: its role's page, the login page for a caller without one
    (not logged in, an edge machine account). Only the caller's own enterprise id goes into it."""
    if principal.role is None:
        return "/login"
    if principal.role in ROOT_IS_ALERTS:
        return "/"
    key = LANDING.get(principal.role)
    path = PAGES_BY_KEY[key].path_for(principal) if key else None
    if path is None:  # e.g. an enterprise account linked to no enterprise: the first page it may open
        pages = nav_pages(principal)
        return pages[0][1] if pages else "/login"
    return path
