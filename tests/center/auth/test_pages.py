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
SCRIPTS = {"alerts": "app.js", "risk": "risk.js", "nodes": "nodes.js", "card": "card.js"}
# what a page offers only to the roles that may (app.js shows the buttons to the staff alone)
OFFERS = {"alerts": {"acknowledge_alert", "dismiss_alert", "escalate_alert"}}


def test_a_page_is_for_a_role_iff_the_role_may_call_every_route_it_needs() -> None:
    assert {p.key for p in CONSOLE_PAGES} == set(SCRIPTS)
    for p in CONSOLE_PAGES:
        assert set(p.needs) <= set(POLICY), p.key
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


def _routes_called(page: str) -> set[str]:
    """The routes the page's scripts (with common.js) call, found by their URLs in the source."""
    app = create_app(CenterConfig(site="yijia"), start_ingest=False)
    routes = [  # GET (the fetches), the WebSocket; the POSTs: logout, the actions of OFFERS
        (r.path, r.name)
        for r in iter_routes(app.routes)
        if isinstance(r, APIWebSocketRoute)
        or (isinstance(r, APIRoute) and ("GET" in r.methods or r.name in OFFERS["alerts"] | {"logout"}))
    ]
    source = (WEB / "common.js").read_text() + (WEB / SCRIPTS[page]).read_text()
    called = set()
    for url in re.findall(r"""["'`](?:\$\{\w+\}://\$\{location\.host\})?(/(?:api|ws)/[^"'`?]*)""", source):
        names = {name for path, name in routes if _same(url, path)}
        if "${verb}" in url:  # app.js: /api/alerts/{id}/{verb}, the verbs being the actions it offers
            names = {n for n in names if n in OFFERS["alerts"]}
        assert names, f"{SCRIPTS[page]} calls {url}, which no route answers"
        called |= names
    return called


@pytest.mark.parametrize("page", CONSOLE_PAGES, ids=[p.key for p in CONSOLE_PAGES])
def test_the_routes_a_page_needs_are_the_ones_its_scripts_call(page: ConsolePage) -> None:
    called = _routes_called(page.key)
    assert called - {"logout"} - OFFERS.get(page.key, set()) == set(page.needs)


def test_every_console_role_lands_on_a_page_it_may_open() -> None:
    assert set(LANDING) == set(Role) - {Role.EDGE}
    for role in LANDING:
        who = Principal(role=role, enterprise_id=ENT_A if role is Role.ENTERPRISE else None)
        path = landing_path(who)
        if path == "/":
            assert role in {Role.ADMIN, Role.OPERATOR}
        else:
            assert any(p.path_for(who) == path for p in CONSOLE_PAGES), (role, path)
    assert landing_path(Principal(role=Role.ENTERPRISE, enterprise_id=ENT_B)) == f"/e/{ENT_B}"
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
    "government": "/risk",
    "insurer": "/risk",
    "enterprise": f"/e/{ENT_A}",
}
OPENS = {  # the navigation each role gets, in its order
    "admin": ["/alerts", "/risk", "/nodes"],
    "operator": ["/alerts", "/risk", "/nodes"],
    "government": ["/alerts", "/risk", "/nodes"],
    "insurer": ["/risk"],
    "enterprise": ["/alerts", "/risk", f"/e/{ENT_A}"],
}


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
    for path in {"/alerts", "/risk", "/nodes"} - set(OPENS[role]):  # the others send it home
        resp = client.get(path)
        assert resp.status_code == 303 and resp.headers["location"] == LANDS[role], path


def test_not_logged_in_goes_to_login_and_edge_gets_no_console(client: TestClient) -> None:
    for path in ("/", "/alerts", "/risk", "/nodes"):
        resp = client.get(path)
        assert resp.status_code == 303 and resp.headers["location"] == f"/login?next={path}"
    login(client, ROLE_USERS["edge"][0])
    assert client.get("/").headers["location"] == "/login"
    assert client.get("/api/auth/me").json()["pages"] == []


def test_an_enterprise_lands_on_its_own_card_only(client: TestClient) -> None:
    """Only the caller's own enterprise id is ever in the redirect or its page list."""
    login(client, ROLE_USERS["enterprise"][0])
    assert client.get("/").headers["location"] == f"/e/{ENT_A}"
    assert ENT_B not in client.get("/api/auth/me").text
    card = client.get(f"/e/{ENT_A}")
    assert card.status_code == 200 and 'content="user"' in card.text
    client.cookies.clear()
    assert 'content="anonymous"' in client.get(f"/e/{ENT_A}").text
