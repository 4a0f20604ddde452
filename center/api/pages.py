"""The web console's pages. They carry no data: their scripts fetch it through the API,
which checks every call; the console pages send a visitor who is not logged in to /login."""

from __future__ import annotations

import html
from pathlib import Path
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from center.api.deps import ConfigDep
from center.auth.deps import CurrentUser, authorize
from center.config import CenterConfig
from protocol import ID_PATTERN

WEB_DIR = Path(__file__).resolve().parent.parent / "web"

router = APIRouter(include_in_schema=False, dependencies=[Depends(authorize)])


def render(name: str, config: CenterConfig, **extra: str) -> HTMLResponse:
    page = (WEB_DIR / name).read_text(encoding="utf-8")
    values = {"SITE_NAME": config.site_name, "TIMEZONE": config.timezone, **extra}
    for key, value in values.items():
        page = page.replace(f"__{key}__", html.escape(value))
    return HTMLResponse(page, headers={"Cache-Control": "no-cache"})


def _login_first(path: str) -> RedirectResponse:
    return RedirectResponse(f"/login?next={quote(path)}", status_code=303)


@router.get("/", response_class=HTMLResponse)
def page(config: ConfigDep, user: CurrentUser) -> Response:
    """实时告警: the operator console."""
    if not user.authenticated:
        return _login_first("/")
    return render("index.html", config)


@router.get("/login", response_class=HTMLResponse)
def login_page(config: ConfigDep) -> HTMLResponse:
    return render("login.html", config)


@router.get("/risk", response_class=HTMLResponse)
def risk_page(config: ConfigDep, user: CurrentUser) -> Response:
    """企业风险一张图: the enterprises with their risk colours, as a list and on the park map."""
    if not user.authenticated:
        return _login_first("/risk")
    return render("risk.html", config)


@router.get("/nodes", response_class=HTMLResponse)
def nodes_page(config: ConfigDep, user: CurrentUser) -> Response:
    """节点与摄像头: the edge nodes' health and their cameras' figures. A role that may not read
    /api/nodes gets the page with the API's 403 said on it, as the other pages do."""
    if not user.authenticated:
        return _login_first("/nodes")
    return render("nodes.html", config)


@router.get("/e/{enterprise_id}", response_class=HTMLResponse)
def card_page(
    enterprise_id: Annotated[str, PathParam(pattern=ID_PATTERN)], config: ConfigDep
) -> HTMLResponse:
    """The page a 全安码 opens (anyone may open it; what it shows depends on the viewer)."""
    return render("card.html", config, ENTERPRISE_ID=enterprise_id)
