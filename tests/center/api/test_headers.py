"""Headers and content (issue 12, item 12): security headers on every answer, evidence checked
by its bytes at upload and served as what it is, the session cookie ``Secure`` over HTTPS, and
the API's documentation page without a CDN."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from center.api.evidence.service import path_of
from center.api.headers import CSP
from center.app import create_app
from center.config import CenterConfig
from center.store.models import EvidenceFile
from protocol import now_ms
from tests.centerkit import PASSWORD, ROLE_USERS, SITE, bearer, login, mini_park

REPO = Path(__file__).resolve().parents[3]
JPEG = (REPO / "tests" / "data" / "messi5.jpg").read_bytes()
PNG = (REPO / "tests" / "data" / "basketball1.png").read_bytes()
MP4 = (REPO / "samples" / "vtest-walkway.mp4").read_bytes()
HTML = b"<!doctype html><html><body><script>alert(document.cookie)</script></body></html>"
SECURITY_HEADERS = {
    "content-security-policy": CSP,
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
}


def make_config(db_url: str, workdir: Path, **extra: Any) -> CenterConfig:
    return CenterConfig.model_validate(
        {
            "site": SITE,
            "database": {"url": db_url},
            "evidence_dir": str(workdir / "evidence"),
            "mqtt": {"client_id": "test-headers"},
            **extra,
        }
    )


@pytest.fixture
def client(db_url: str, tmp_workdir: Path) -> Iterator[TestClient]:
    app = create_app(make_config(db_url, tmp_workdir), start_ingest=False)
    with TestClient(app) as c:
        mini_park(app.state.session_factory)
        yield c


def token(client: TestClient, role: str) -> dict[str, str]:
    value = login(client, ROLE_USERS[role][0])
    client.cookies.clear()
    return bearer(value)


def put(client: TestClient, data: bytes, content_type: str, auth: dict[str, str]) -> Any:
    sha = hashlib.sha256(data).hexdigest()
    return client.put(
        f"/api/evidence/{sha}", params={"camera": "cam-a1"}, content=data,
        headers={**auth, "Content-Type": content_type},
    )  # fmt: skip


def assert_security_headers(resp: Any) -> None:
    for name, value in SECURITY_HEADERS.items():
        assert resp.headers.get(name) == value, (resp.request.url, name, resp.headers.get(name))


def test_security_headers_on_every_answer(client: TestClient) -> None:
    auth = token(client, "operator")
    answers = {
        "health": client.get("/api/health"),
        "list": client.get("/api/alerts", headers=auth),
        "401": client.get("/api/alerts"),
        "404": client.get("/api/no-such-thing"),
        "413": client.post("/api/hazards", content=b"x" * (2 * 1024 * 1024), headers=auth),
        "422": client.post("/api/hazards", json={}, headers=auth),
        "page": client.get("/login"),
        "static": client.get("/static/app.js"),
        "docs": client.get("/api/docs"),
    }
    for what, resp in answers.items():
        assert resp.status_code in (200, 401, 404, 413, 422), (what, resp.status_code)
        assert_security_headers(resp)
    for what in ("health", "list", "401", "404", "413", "422"):  # every /api answer
        assert answers[what].headers["cache-control"] == "no-store", what
    assert answers["page"].headers["cache-control"] == "no-cache"  # a page keeps its own
    assert "no-store" not in answers["static"].headers.get("cache-control", "")  # static files cache


def test_evidence_is_checked_by_its_bytes(client: TestClient, tmp_workdir: Path) -> None:
    edge, operator = token(client, "edge"), token(client, "operator")
    for data, declared in [
        (HTML, "image/jpeg"),
        (PNG, "image/jpeg"),
        (JPEG, "video/mp4"),
        (HTML[:5], "image/png"),
    ]:
        resp = put(client, data, declared, edge)
        assert resp.status_code == 415, (declared, resp.status_code, resp.text)
        assert declared in resp.json()["detail"]
    factory: Any = client.app.state.session_factory  # type: ignore[attr-defined]
    with factory() as s:
        assert s.scalar(select(func.count()).select_from(EvidenceFile)) == 0
    assert [p for p in (tmp_workdir / "evidence").rglob("*") if p.is_file()] == []  # nothing kept
    for data, declared in [(JPEG, "image/jpeg"), (PNG, "image/png"), (MP4, "video/mp4")]:
        resp = put(client, data, declared, edge)
        assert resp.status_code in (200, 201), resp.text
        sha = hashlib.sha256(data).hexdigest()
        got = client.get(f"/api/evidence/{sha}", headers=operator)
        assert got.status_code == 200 and got.content == data
        assert got.headers["content-type"] == declared and got.headers["x-content-type-options"] == "nosniff"
        assert got.headers["content-disposition"].startswith("inline;")
        assert got.headers["cache-control"] == "private, no-store"


def test_evidence_stored_before_the_check_is_served_as_a_download(
    client: TestClient, tmp_workdir: Path
) -> None:
    """A file that is not what its row says (stored before uploads were checked) is served as
    bytes to save, never as the image the row claims."""
    sha = hashlib.sha256(HTML).hexdigest()
    path = path_of(tmp_workdir / "evidence", sha, "image/jpeg")
    path.parent.mkdir(parents=True)
    path.write_bytes(HTML)
    factory: Any = client.app.state.session_factory  # type: ignore[attr-defined]
    with factory.begin() as s:
        s.add(EvidenceFile(sha256=sha, content_type="image/jpeg", size=len(HTML), stored_ms=now_ms(),
                           uploaded_by="u-edge"))  # fmt: skip
    got = client.get(f"/api/evidence/{sha}", headers=token(client, "operator"))
    assert got.status_code == 200 and got.content == HTML
    assert got.headers["content-type"] == "application/octet-stream"
    assert got.headers["content-disposition"].startswith("attachment;")
    assert got.headers["x-content-type-options"] == "nosniff"


@pytest.mark.parametrize(
    ("base_url", "flag", "secure"),
    [
        ("http://testserver", False, False),
        ("https://testserver", False, True),
        ("http://testserver", True, True),
    ],
)
def test_session_cookie_is_secure_over_https(
    tmp_workdir: Path, base_url: str, flag: bool, secure: bool
) -> None:
    cfg = make_config(f"sqlite:///{tmp_workdir / 'center.db'}", tmp_workdir, auth={"cookie_secure": flag})
    app = create_app(cfg, start_ingest=False)
    with TestClient(app, base_url=base_url) as c:
        mini_park(app.state.session_factory)
        resp = c.post("/api/auth/login", json={"username": "u-operator", "password": PASSWORD})
        assert resp.status_code == 200, resp.text
        attributes = [a.strip().lower() for a in resp.headers["set-cookie"].split(";")]
        assert attributes[0].startswith("pg_session=")
        assert ("secure" in attributes) is secure, attributes
        assert "httponly" in attributes and "samesite=strict" in attributes


@pytest.mark.parametrize("path", ["/api/docs", "/api/redoc"])
def test_api_docs_work_without_a_cdn(client: TestClient, path: str) -> None:
    page = client.get(path)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    html = page.text
    assert "<script>" not in html and "cdn" not in html.lower()
    refs = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert refs and all(ref.startswith("/") and not ref.startswith("//") for ref in refs), refs
    for ref in refs:  # each asset is served by the center itself
        assert client.get(ref).status_code == 200, ref
    bundle = client.get("/static/swagger-ui/swagger-ui-bundle.js")
    assert "javascript" in bundle.headers["content-type"] and b"SwaggerUIBundle" in bundle.content
    assert client.get("/api/openapi.json").json()["paths"]
    for ref in refs:  # nor does anything it loads reach out (ReDoc's logo is the center's favicon)
        if ref.endswith(".js"):
            assert b"cdn.redoc.ly" not in client.get(ref).content, ref
    favicon = client.get("/static/favicon.svg")
    assert favicon.status_code == 200 and favicon.headers["content-type"].startswith("image/svg+xml")


@pytest.mark.parametrize(
    ("peer", "trusted", "secure"),
    [
        ("10.0.0.5", ["10.0.0.0/24"], True),  # the site's TLS proxy says the browser used HTTPS
        ("10.0.0.5", [], False),  # nobody is trusted by default
        ("192.168.1.9", ["10.0.0.0/24"], False),  # a LAN host cannot claim it
    ],
)
def test_forwarded_https_counts_only_from_a_trusted_proxy(
    tmp_workdir: Path, peer: str, trusted: list[str], secure: bool
) -> None:
    cfg = make_config(
        f"sqlite:///{tmp_workdir / 'center.db'}", tmp_workdir, security={"trusted_proxies": trusted}
    )
    app = create_app(cfg, start_ingest=False)
    with TestClient(app, client=(peer, 40000)) as c:
        mini_park(app.state.session_factory)
        resp = c.post(
            "/api/auth/login",
            json={"username": "u-operator", "password": PASSWORD},
            headers={"X-Forwarded-Proto": "https"},
        )
        assert resp.status_code == 200, resp.text
        attributes = [a.strip().lower() for a in resp.headers["set-cookie"].split(";")]
        assert ("secure" in attributes) is secure, attributes
