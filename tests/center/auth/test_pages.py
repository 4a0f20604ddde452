"""The console's pages by role: the page table agrees with the policy table and with what the
pages' scripts call; ``/`` takes each role to its landing page; a page a role may not open
sends it there instead of loading and failing with 403s."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.routing import APIRoute, APIWebSocketRoute
from fastapi.testclient import TestClient

from center.app import create_app
from center.auth.policy import (
    CONSOLE_PAGES,
    LANDING,
    POLICY,
    ConsolePage,
    Principal,
    allows,
    iter_routes,
    landing_path,
)
from center.config import CenterConfig
from center.domain.vocabulary import Role
from tests.centerkit import ENT_A, ENT_B, ROLE_USERS, login, mini_park

WEB = Path(__file__).resolve().parents[3] / "center" / "web"
SCRIPTS = {
    "overview": "overview.js",
    "portfolio": "portfolio.js",
    "alerts": "app.js",
    "hazards": "hazards.js",
    "risk": "risk.js",
    "enterprises": "enterprises.js",
    "file": "enterprise.js",
    "wall": "wall.js",
    "nodes": "nodes.js",
    "card": "card.js",
    "users": "users.js",
    "audit": "audit.js",
    "notify": "notify.js",
    "mynotify": "mynotify.js",
    "plan": "plan.js",
    "grid": "grid.js",
    "services": "services.js",
    "tasks": "tasks.js",
}
# common.js's helpers that call a route: a page calls the route when its script uses one of them
HELPERS = {
    "upload_photo": ("uploadPhoto", "uploadPhotos"),
    "get_evidence": ("photo", "photos"),
    "answer_service_request": ("serviceRequest",),
}


def test_a_page_is_for_a_role_iff_the_role_may_call_every_route_it_needs() -> None:
    assert {p.key for p in CONSOLE_PAGES} == set(SCRIPTS)
    for p in CONSOLE_PAGES:
        assert set(p.needs) <= set(POLICY), p.key
        assert set(p.offers) <= set(POLICY) and not set(p.offers) & set(p.needs), p.key
        assert any(allows(r, role) for r in p.offers for role in p.roles) or not p.offers, p.key
        for role in Role:
            assert (role in p.roles) == all(allows(r, role) for r in p.needs), (p.key, role)


def _same(url: str, route: str) -> bool:
    """Does a script's URL (``${…}`` parts) fit a route's path (``{…}`` parts)? ``${verb}`` stands
    for a literal part (app.js's actions)."""
    a, b = url.split("/"), route.split("/")
    wild = re.compile(r"^(\$\{.*\}|\{\w+\})$")
    return len(a) == len(b) and all(
        x == y or (wild.match(x) and wild.match(y)) or x == "${verb}" for x, y in zip(a, b, strict=True)
    )


URL = r"""["'`](?:\$\{\w+\}://\$\{location\.host\})?(/(?:api|ws)/[^"'`?]*)"""


def _routes_called(page: ConsolePage) -> set[str]:
    """The routes the page's scripts (with common.js) call, found by their URLs in the source."""
    app = create_app(CenterConfig(site="yijia"), start_ingest=False)
    routes = [  # GET (the fetches), the WebSocket; the others: logout, the page's offers and needs
        (r.path, r.name)
        for r in iter_routes(app.routes)
        if isinstance(r, APIWebSocketRoute)
        or (
            isinstance(r, APIRoute)
            and ("GET" in r.methods or r.name in {*page.offers, *page.needs, "logout"})
        )
    ]
    script = (WEB / SCRIPTS[page.key]).read_text()
    common = (WEB / "common.js").read_text()
    helpers = {route for route, names in HELPERS.items() if not any(f"PG.{n}(" in script for n in names)}
    called = set()
    for source, skip in ((common, helpers), (script, set())):
        for url in re.findall(
            r"""["'`](?:\$\{\w+\}://\$\{location\.host\})?(/(?:api|ws)/[^"'`?]*)""", source
        ):
            names = {name for path, name in routes if _same(url, path)} - skip
            if "${verb}" in url:  # app.js: /api/alerts/{id}/{verb}, the verbs being the actions it offers
                names = {n for n in names if n in page.offers}
            assert names or skip, f"{SCRIPTS[page.key]} calls {url}, which no route answers"
            called |= names
    return called


@pytest.mark.parametrize("page", CONSOLE_PAGES, ids=[p.key for p in CONSOLE_PAGES])
def test_the_routes_a_page_needs_are_the_ones_its_scripts_call(page: ConsolePage) -> None:
    called = _routes_called(page)
    assert called - {"logout"} - set(page.offers) == set(page.needs)
    assert set(page.offers) <= called, "an offer the page's scripts never call"


def test_every_console_role_lands_on_a_page_it_may_open() -> None:
    assert set(LANDING) == set(Role) - {Role.EDGE}
    for role in LANDING:
        who = Principal(role=role, enterprise_id=ENT_A if role is Role.ENTERPRISE else None)
        path = landing_path(who)
        if path == "/":
            assert role in {Role.ADMIN, Role.OPERATOR}
        else:
            assert any(p.path_for(who) == path for p in CONSOLE_PAGES), (role, path)
    assert landing_path(Principal(role=Role.ENTERPRISE, enterprise_id=ENT_B)) == f"/enterprises/{ENT_B}"
    assert landing_path(Principal(role=Role.ENTERPRISE)) == "/alerts"  # linked to no enterprise
    assert landing_path(Principal(role=Role.EDGE)) == "/login"
    assert landing_path(Principal()) == "/login"


@pytest.fixture
def client(db_url: str, tmp_workdir: Path) -> Iterator[TestClient]:
    config = CenterConfig.model_validate(
        {"site": "yijia", "database": {"url": db_url}, "evidence_dir": str(tmp_workdir / "evidence")}
    )
    app = create_app(config, start_ingest=False)
    with TestClient(app, follow_redirects=False) as c:
        mini_park(app.state.session_factory)
        yield c


LANDS = {
    "admin": "/",
    "operator": "/",
    "government": "/overview",
    "insurer": "/portfolio",
    "enterprise": f"/enterprises/{ENT_A}",
}
OPENS = {  # the navigation each role gets, in its order
    "admin": [
        *("/overview", "/grid", "/portfolio", "/alerts", "/hazards", "/risk", "/enterprises", "/wall"),
        *("/nodes", "/services", "/admin/users", "/admin/audit", "/admin/plan", "/admin/notify", "/notify"),
    ],
    "operator": [
        *("/overview", "/grid", "/alerts", "/hazards", "/risk", "/enterprises", "/wall", "/nodes"),
        *("/services", "/notify"),
    ],
    "government": [
        "/overview",
        "/grid",
        "/portfolio",
        "/alerts",
        "/hazards",
        "/risk",
        "/enterprises",
        "/wall",
        "/nodes",
        "/services",
        "/notify",
    ],
    "insurer": ["/portfolio", "/risk", "/enterprises", "/services"],
    "enterprise": [
        *("/alerts", "/hazards", "/risk", f"/enterprises/{ENT_A}", "/wall", f"/e/{ENT_A}", "/services"),
        "/notify",
    ],
}
CONSOLE = (
    *("/overview", "/grid", "/portfolio", "/services", "/tasks", "/alerts", "/hazards", "/risk"),
    *("/enterprises", "/wall", "/nodes"),
    *("/admin/users", "/admin/audit", "/admin/plan", "/admin/notify", "/notify"),
)


@pytest.mark.parametrize("role", list(LANDS))
def test_root_takes_each_role_to_its_landing_page(client: TestClient, role: str) -> None:
    login(client, ROLE_USERS[role][0])  # the session cookie, as the browser has it
    me = client.get("/api/auth/me").json()
    assert me["landing"] == LANDS[role]
    assert [p["path"] for p in me["pages"]] == OPENS[role]
    root = client.get("/")
    if LANDS[role] == "/":
        assert root.status_code == 200 and "实时告警" in root.text
    else:
        assert root.status_code == 303 and root.headers["location"] == LANDS[role]
    for path in OPENS[role]:  # every page in its navigation opens
        assert client.get(path).status_code == 200, path
    for path in set(CONSOLE) - set(OPENS[role]):  # the others send it home
        resp = client.get(path)
        assert resp.status_code == 303 and resp.headers["location"] == LANDS[role], path


def test_not_logged_in_goes_to_login_and_edge_gets_no_console(client: TestClient) -> None:
    for path in ("/", *CONSOLE, f"/enterprises/{ENT_A}"):
        resp = client.get(path)
        assert resp.status_code == 303 and resp.headers["location"] == f"/login?next={path}"
    login(client, ROLE_USERS["edge"][0])
    assert client.get("/").headers["location"] == "/login"
    assert client.get("/api/auth/me").json()["pages"] == []


def test_an_enterprise_lands_on_its_own_file_only(client: TestClient) -> None:
    """Only the caller's own enterprise id is ever in the redirect or its page list; another
    enterprise's file sends it to its own."""
    login(client, ROLE_USERS["enterprise"][0])
    assert client.get("/").headers["location"] == f"/enterprises/{ENT_A}"
    assert ENT_B not in client.get("/api/auth/me").text
    own = client.get(f"/enterprises/{ENT_A}")
    assert own.status_code == 200 and f'content="{ENT_A}"' in own.text
    other = client.get(f"/enterprises/{ENT_B}")
    assert other.status_code == 303 and other.headers["location"] == f"/enterprises/{ENT_A}"
    assert client.get("/enterprises/bad%20id").status_code == 422
    card = client.get(f"/e/{ENT_A}")
    assert card.status_code == 200 and 'content="user"' in card.text
    client.cookies.clear()
    assert 'content="anonymous"' in client.get(f"/e/{ENT_A}").text


@pytest.mark.parametrize("role", list(LANDS))
def test_me_offers_only_the_actions_the_role_may_take(client: TestClient, role: str) -> None:
    """``may`` (the buttons the console shows) is exactly the pages' offers the role may call."""
    login(client, ROLE_USERS[role][0])
    may = set(client.get("/api/auth/me").json()["may"])
    file_parts = {"list_cameras", "list_alerts", "list_hazards", "alert_precision"}  # not the insurer's
    file_parts |= {"get_evidence"}  # the card's hazards' photos
    steps = {
        "create_hazard",
        "start_hazard",
        "submit_hazard",
        "approve_hazard",
        "reject_hazard",
        "upload_photo",
    }
    verdicts = {"acknowledge_alert", "dismiss_alert", "escalate_alert"}
    answer = {"answer_service_request"}  # 服务需求: the park and the insurer answer, the enterprise asks
    park = {"park_report_pdf"}  # the park report on the risk map: the park's staff and the government
    mine = {"put_my_notifications"}  # 我的通知: each user who may read alerts chooses what reaches them
    notify_admin = {"put_notify_channel", "put_notify_route", "delete_notify_route", "retry_notification"}
    # 安责险服务: each side's steps of the service loop
    loop_staff = {"book_service_task", "archive_service_task", "extend_complaint", "answer_complaint"}
    loop_staff |= {"close_complaint", "create_claim", "list_policies"}
    loop = {
        "admin": loop_staff | {"insurer_obligations", "advance_claim"},
        "operator": loop_staff,
        "government": {"insurer_obligations", "list_policies"},
        "insurer": {
            "insurer_obligations",
            "book_service_task",
            "archive_service_task",
            "follow_up_service_task",
        }
        | {"extend_complaint", "answer_complaint", "create_claim", "advance_claim", "list_policies"},
        "enterprise": {
            "confirm_service_task",
            "follow_up_service_task",
            "create_complaint",
            "close_complaint",
        }
        | {"create_claim", "list_policies"},
    }[role]
    live = {"live_offer", "live_close"}  # 视频墙: watching a camera live (scoped), never the insurer
    expected = {
        "admin": steps
        | verdicts
        | file_parts
        | answer
        | park
        | mine
        | notify_admin
        | live
        | {"list_nodes", "create_user", "update_user"},
        "operator": steps | verdicts | file_parts | answer | park | mine | live | {"list_nodes"},
        "government": file_parts | park | mine | live | {"list_nodes"},
        "insurer": answer,
        "enterprise": file_parts
        | mine
        | live
        | {"start_hazard", "submit_hazard", "upload_photo", "create_service_request"},
    }[role] | loop
    assert may == expected
    for name in may:
        assert allows(name, Role(me_role(client)))


def me_role(client: TestClient) -> str:
    return str(client.get("/api/auth/me").json()["role"])
