"""The web console's pages. They carry no data: their scripts fetch it through the API,
which checks every call. A visitor who is not logged in is sent to /login; a role that may not
open a page (by :data:`center.auth.policy.CONSOLE_PAGES`) to its own landing page, so no page
loads only to fail with 403s. ``/`` is each role's landing page."""

from __future__ import annotations

import html
import re
from pathlib import Path
from typing import Annotated
from urllib.parse import quote, unquote, urlsplit

from fastapi import APIRouter, Depends, Query
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from center.api.deps import ConfigDep
from center.auth.deps import CurrentUser, authorize
from center.auth.policy import PAGES_BY_KEY, Principal, landing_path
from center.config import CenterConfig
from center.domain.vocabulary import Role
from protocol import ID_PATTERN

WEB_DIR = Path(__file__).resolve().parent.parent / "web"

router = APIRouter(include_in_schema=False, dependencies=[Depends(authorize)])


def render(name: str, config: CenterConfig, **extra: str) -> HTMLResponse:
    page = (WEB_DIR / name).read_text(encoding="utf-8")
    values = {"SITE_NAME": config.site_name, "TIMEZONE": config.timezone, **extra}
    for key, value in values.items():
        page = page.replace(f"__{key}__", html.escape(value))
    return HTMLResponse(page, headers={"Cache-Control": "no-cache"})


MAX_NEXT_CHARS = 512
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def safe_next(value: str | None) -> str | None:
    """``value`` when it is a path of this site to go to after login, else None.

    A path of this site starts with one ``/``: not ``//`` (another host), no backslash
    (browsers read ``/\\host`` as ``//host``), no scheme, no control character, checked on the
    value and on it URL-decoded (up to three times). center/web/login.js applies the same rule.
    """
    if not value or len(value) > MAX_NEXT_CHARS:
        return None
    decoded = value
    for _ in range(3):
        once = unquote(decoded)
        if once == decoded:
            break
        decoded = once
    for text in (value, decoded):
        if not text.startswith("/") or text.startswith("//") or "\\" in text or _CONTROL.search(text):
            return None
        parts = urlsplit(text)
        if parts.scheme or parts.netloc:
            return None
    return value


def _login_first(path: str) -> RedirectResponse:
    return RedirectResponse(f"/login?next={quote(path)}", status_code=303)


def _to_landing(user: Principal) -> RedirectResponse:
    return RedirectResponse(quote(landing_path(user), safe="/"), status_code=303)


def _console_page(key: str, name: str, path: str, config: CenterConfig, user: Principal) -> Response:
    if not user.authenticated:
        return _login_first(path)
    if PAGES_BY_KEY[key].path_for(user) is None:
        return _to_landing(user)
    return render(name, config)


@router.get("/", response_class=HTMLResponse)
def page(config: ConfigDep, user: CurrentUser) -> Response:
    """Each role's landing page: the alerts console for the park's staff, a redirect (303) to
    the role's page for the others."""
    if not user.authenticated:
        return _login_first("/")
    if landing_path(user) != "/":
        return _to_landing(user)
    return render("index.html", config)


@router.get("/alerts", response_class=HTMLResponse)
def alerts_page(config: ConfigDep, user: CurrentUser) -> Response:
    """实时告警: the alerts console, for every role that may read alerts (``/`` for the staff)."""
    return _console_page("alerts", "index.html", "/alerts", config, user)


@router.get("/login", response_class=HTMLResponse)
def login_page(
    config: ConfigDep, next_path: Annotated[str | None, Query(alias="next", max_length=4096)] = None
) -> Response:
    """The login form; after login it goes to ``next`` when that is a path of this site, else to
    the role's landing page. A ``next`` that is not is dropped here (303 to plain /login)."""
    if next_path is not None and safe_next(next_path) is None:
        return RedirectResponse("/login", status_code=303)
    return render("login.html", config)


@router.get("/risk", response_class=HTMLResponse)
def risk_page(config: ConfigDep, user: CurrentUser) -> Response:
    """企业风险一张图: the enterprises with their risk colours, as a list and on the park map."""
    return _console_page("risk", "risk.html", "/risk", config, user)


@router.get("/overview", response_class=HTMLResponse)
def overview_page(config: ConfigDep, user: CurrentUser) -> Response:
    """园区总览: levels, hazards and rectification, alerts by 镇街 and industry, coverage, the
    enterprises needing attention (the government's landing page)."""
    return _console_page("overview", "overview.html", "/overview", config, user)


@router.get("/portfolio", response_class=HTMLResponse)
def portfolio_page(config: ConfigDep, user: CurrentUser) -> Response:
    """承保企业: the enterprises an insurer insures with their risk and its policies (the
    insurer's landing page; the government and the admin choose the insurer)."""
    return _console_page("portfolio", "portfolio.html", "/portfolio", config, user)


@router.get("/wall", response_class=HTMLResponse)
def wall_page(config: ConfigDep, user: CurrentUser) -> Response:
    """视频墙: 1/4/9 tiles of the cameras the caller may watch, each opened live on demand
    (``?camera=ID`` opens that camera at once: the alert list links here)."""
    return _console_page("wall", "wall.html", "/wall", config, user)


@router.get("/nodes", response_class=HTMLResponse)
def nodes_page(config: ConfigDep, user: CurrentUser) -> Response:
    """节点与摄像头: the edge nodes' health and their cameras' figures."""
    return _console_page("nodes", "nodes.html", "/nodes", config, user)


@router.get("/hazards", response_class=HTMLResponse)
def hazards_page(config: ConfigDep, user: CurrentUser) -> Response:
    """隐患整改: the hazards board (list and columns by status), a hazard's steps and photos."""
    return _console_page("hazards", "hazards.html", "/hazards", config, user)


@router.get("/enterprises", response_class=HTMLResponse)
def enterprises_page(config: ConfigDep, user: CurrentUser) -> Response:
    """安全档案: the enterprises the caller may see, each linking to its file."""
    return _console_page("enterprises", "enterprises.html", "/enterprises", config, user)


@router.get("/enterprises/{enterprise_id}", response_class=HTMLResponse)
def enterprise_page(
    enterprise_id: Annotated[str, PathParam(pattern=ID_PATTERN)], config: ConfigDep, user: CurrentUser
) -> Response:
    """An enterprise's risk file (安全档案). An enterprise account opens its own only (another's
    id sends it to its own); the API decides what else the caller sees."""
    path = f"/enterprises/{enterprise_id}"
    if not user.authenticated:
        return _login_first(path)
    if user.role not in PAGES_BY_KEY["file"].roles:
        return _to_landing(user)
    if user.role is Role.ENTERPRISE and enterprise_id != user.enterprise_id:
        return _to_landing(user)
    return render("enterprise.html", config, ENTERPRISE_ID=enterprise_id)


@router.get("/admin/users", response_class=HTMLResponse)
def users_page(config: ConfigDep, user: CurrentUser) -> Response:
    """用户管理: accounts, their roles and links; create, disable, reset a password."""
    return _console_page("users", "users.html", "/admin/users", config, user)


@router.get("/admin/audit", response_class=HTMLResponse)
def audit_page(config: ConfigDep, user: CurrentUser) -> Response:
    """审计日志: who changed what and who read which evidence, filtered and paged."""
    return _console_page("audit", "audit.html", "/admin/audit", config, user)


@router.get("/admin/plan", response_class=HTMLResponse)
def plan_page(config: ConfigDep, user: CurrentUser) -> Response:
    """园区底图: upload the park's plan and place the enterprises and cameras on it by clicking."""
    return _console_page("plan", "plan.html", "/admin/plan", config, user)


@router.get("/admin/notify", response_class=HTMLResponse)
def notify_page(config: ConfigDep, user: CurrentUser) -> Response:
    """通知设置: channels, routes, and the outbox (sent, failed, attempts; retry)."""
    return _console_page("notify", "notify.html", "/admin/notify", config, user)


@router.get("/notify", response_class=HTMLResponse)
def my_notify_page(config: ConfigDep, user: CurrentUser) -> Response:
    """我的通知: which of my addresses get which alerts and reminders."""
    return _console_page("mynotify", "mynotify.html", "/notify", config, user)


@router.get("/e/{enterprise_id}", response_class=HTMLResponse)
def card_page(
    enterprise_id: Annotated[str, PathParam(pattern=ID_PATTERN)], config: ConfigDep, user: CurrentUser
) -> HTMLResponse:
    """The page a 全安码 opens (anyone may open it; what it shows depends on the viewer; a
    logged-in viewer gets the console's header and navigation too)."""
    viewer = "user" if user.authenticated else "anonymous"
    return render("card.html", config, ENTERPRISE_ID=enterprise_id, VIEWER=viewer)


@router.get("/grid", response_class=HTMLResponse)
def grid_page(config: ConfigDep, user: CurrentUser) -> Response:
    """网格监管: the district / town figures (coverage, risk, services, rectification, claims,
    complaints) with a row per enterprise (the government)."""
    return _console_page("grid", "grid.html", "/grid", config, user)


@router.get("/services", response_class=HTMLResponse)
def services_page(config: ConfigDep, user: CurrentUser) -> Response:
    """安责险服务: plans, tasks, follow-ups, complaints and claims, each role its own part."""
    return _console_page("services", "services.html", "/services", config, user)


@router.get("/tasks", response_class=HTMLResponse)
def tasks_page(config: ConfigDep, user: CurrentUser) -> Response:
    """我的服务任务: a service worker's tasks and the record of a visit, phone-sized."""
    return _console_page("tasks", "tasks.html", "/tasks", config, user)
