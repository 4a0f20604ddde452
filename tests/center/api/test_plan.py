"""The park plan (园区一张图, issue 16 item 3) through the API: the admin uploads an SVG, PNG or JPEG
(bounded; an SVG that could run or reach out is refused with the reason), it is served with a
Content-Security-Policy that lets nothing run, and the map's data is scoped by role: an enterprise
officer sees its own enterprise and cameras, an insurer no cameras."""

from __future__ import annotations

import struct
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from center.api.plan.routes import PLAN_CSP
from center.app import create_app
from center.ingest.upsert import apply_alert
from center.store.models import Camera, Hazard
from protocol import now_ms
from tests.center.api.test_api import alert_event, config
from tests.centerkit import ENT_A, ENT_B, ROLE_USERS, bearer, login, mini_park

REPO = Path(__file__).resolve().parents[3]
DEMO_PLAN = REPO / "center" / "web" / "plans" / "yijia-park.svg"
SVG_OK = (
    b'<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" '
    b'viewBox="0 0 800 600">'
    b'<defs><linearGradient id="g"><stop offset="0" stop-color="#123"/></linearGradient></defs>'
    b'<rect width="800" height="600" fill="url(#g)"/><use xlink:href="#g"/>'
    b'<text x="10" y="20">\xe6\xaf\x85\xe4\xbd\xb3\xe5\xb7\xa5\xe4\xb8\x9a\xe5\x9b\xad</text></svg>'
)
HEAD = b'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 10 10">'


@pytest.fixture
def park(db_url: str) -> Iterator[TestClient]:
    app = create_app(config(db_url), start_ingest=False)
    factory = app.state.session_factory
    with TestClient(app) as c:
        mini_park(factory)
        with factory.begin() as s:
            for cam in s.query(Camera):
                cam.map_x, cam.map_y = 0.4, 0.6
            now = now_ms()
            for eid, level in ((ENT_A, "major"), (ENT_A, "general"), (ENT_B, "general")):
                s.add(
                    Hazard(
                        code=f"YH-{eid}-{level}",
                        enterprise_id=eid,
                        title="测试隐患",
                        level=level,
                        source="inspection",
                        status="pending",
                        deadline_ms=now + 86_400_000,
                        assignee="",
                        before_evidence=[],
                        created_ms=now,
                        updated_ms=now,
                        created_by="t",
                    )
                )
            apply_alert(
                s, alert_event(node="edge-01", camera="cam-a1", started_ms=now - 5000, severity="major"), now
            )
            apply_alert(s, alert_event(node="edge-01", camera="cam-b1", started_ms=now - 5000), now)
        login(c, ROLE_USERS["admin"][0])
        yield c


def put(c: TestClient, data: bytes, content_type: str = "image/svg+xml", **headers: str) -> object:
    return c.put("/api/plan/image", content=data, headers={"content-type": content_type, **headers})


def test_upload_serve_and_replace(park: TestClient) -> None:
    assert park.get("/api/plan").json()["plan"] is None
    assert park.get("/api/plan/image").status_code == 404
    resp = park.put("/api/plan/image", content=SVG_OK, headers={"content-type": "image/svg+xml"})
    assert resp.status_code == 200, resp.text
    assert (resp.json()["width"], resp.json()["height"]) == (800, 600)
    served = park.get("/api/plan/image")
    assert served.content == SVG_OK and served.headers["content-type"].startswith("image/svg+xml")
    assert served.headers["content-security-policy"] == PLAN_CSP  # the route's own, stricter policy
    assert "script-src" not in served.headers["content-security-policy"]  # default-src 'none' covers it
    assert served.headers["x-content-type-options"] == "nosniff"
    plan = park.get("/api/plan").json()["plan"]
    assert plan["url"].startswith("/api/plan/image?v=") and plan["uploaded_by"] == ROLE_USERS["admin"][0]
    png = (REPO / "tests" / "data" / "basketball1.png").read_bytes()
    resp = park.put("/api/plan/image", content=png, headers={"content-type": "image/png"})
    assert resp.status_code == 200, resp.text
    assert (resp.json()["width"], resp.json()["height"]) == struct.unpack(">II", png[16:24])
    jpeg = (REPO / "tests" / "data" / "messi5.jpg").read_bytes()
    resp = park.put("/api/plan/image", content=jpeg, headers={"content-type": "image/jpeg"})
    assert resp.status_code == 200, resp.text
    cv2 = pytest.importorskip("cv2")
    import numpy as np

    shape = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR).shape
    assert (resp.json()["width"], resp.json()["height"]) == (shape[1], shape[0])
    assert park.get("/api/plan/image").content == jpeg
    demo = DEMO_PLAN.read_bytes()  # the demo's drawn plan passes its own checks
    assert (
        park.put("/api/plan/image", content=demo, headers={"content-type": "image/svg+xml"}).status_code
        == 200
    )


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (HEAD + b"<script>alert(1)</script></svg>", "<script>"),
        (HEAD + b'<rect onload="alert(1)" width="1" height="1"/></svg>', "onload"),
        (HEAD.replace(b"viewBox", b'onclick="x()" viewBox') + b"</svg>", "onclick"),
        (HEAD + b"<foreignObject><p>x</p></foreignObject></svg>", "foreignobject"),
        (HEAD + b'<set attributeName="href" to="javascript:alert(1)"/></svg>', "<set>"),
        (HEAD + b'<a href="javascript:alert(1)"><rect width="1" height="1"/></a></svg>', "javascript"),
        (HEAD + b'<image href="http://evil.example/x.png" width="1" height="1"/></svg>', "evil.example"),
        (HEAD + b'<rect style="fill:url(http://evil.example/x)" width="1" height="1"/></svg>', "url()"),
        (HEAD + b'<rect fill="url(https://evil.example/#g)" width="1" height="1"/></svg>', "url()"),
        (HEAD + b"<style>@import 'http://evil.example/x.css';</style></svg>", "@import"),
        (b'<?xml version="1.0"?><!DOCTYPE svg [<!ENTITY a "aaaa">]>' + HEAD + b"&a;</svg>", "DOCTYPE"),
        (b"<html><body>hi</body></html>", "<html>"),
        (b"<svg", "well-formed"),
        (b'<svg xmlns="http://www.w3.org/2000/svg"></svg>', "viewBox"),
        (b'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 99999999 10"></svg>', "outside"),
        (b"\xff\xfe<svg/>", "UTF-8"),
        (b"", "empty"),
    ],
)
def test_unsafe_or_broken_svg_is_refused_with_the_reason(park: TestClient, body: bytes, reason: str) -> None:
    resp = park.put("/api/plan/image", content=body, headers={"content-type": "image/svg+xml"})
    assert resp.status_code == 422, resp.text
    assert reason.lower() in resp.text.lower(), resp.text
    assert park.get("/api/plan/image").status_code == 404  # nothing stored


def test_bounds_and_types(park: TestClient) -> None:
    resp = park.put("/api/plan/image", content=b"GIF89a....", headers={"content-type": "image/gif"})
    assert resp.status_code == 422 and "SVG、PNG 或 JPEG" in resp.text
    resp = park.put("/api/plan/image", content=b"not a png", headers={"content-type": "image/png"})
    assert resp.status_code == 422 and "not a PNG" in resp.text
    resp = park.put(
        "/api/plan/image", content=b"\xff\xd8\xff\xe0 junk", headers={"content-type": "image/jpeg"}
    )
    assert resp.status_code == 422 and "no image size" in resp.text
    filler = b"x" * (2 * 1024 * 1024 - len(HEAD) - 13)
    exactly = HEAD + b"<!--" + filler + b"--></svg>"  # 2 MiB: taken
    assert len(exactly) == 2 * 1024 * 1024
    resp = park.put("/api/plan/image", content=exactly, headers={"content-type": "image/svg+xml"})
    assert resp.status_code == 200, resp.text[:300]
    over = exactly.replace(b"<!--", b"<!-- ")  # one byte over: refused before it is read, with the limit
    resp = park.put("/api/plan/image", content=over, headers={"content-type": "image/svg+xml"})
    assert resp.status_code == 413 and "2 MiB" in resp.text
    operator = bearer(login(park, ROLE_USERS["operator"][0]))
    resp = park.put("/api/plan/image", content=SVG_OK, headers={"content-type": "image/svg+xml", **operator})
    assert resp.status_code == 403


def test_the_map_data_by_role(park: TestClient) -> None:
    body = park.get("/api/plan").json()
    ents = {e["enterprise_id"]: e for e in body["enterprises"]}
    assert set(ents) == {ENT_A, ENT_B}
    assert (ents[ENT_A]["open_hazards"], ents[ENT_A]["major_hazards"]) == (2, 1)
    assert ents[ENT_A]["level"] in ("red", "orange", "yellow", "blue") and ents[ENT_A]["level_label"]
    cams = {c["camera"]: c for c in body["cameras"]}
    assert (cams["cam-a1"]["live_alerts"], cams["cam-a1"]["live_major"]) == (1, 1)
    assert cams["cam-a1"]["live_url"] == "/wall?camera=cam-a1"
    assert (
        cams["cam-a1"]["state"] == "unknown" and cams["cam-a1"]["state_label"] == "状态未知"
    )  # no node told
    officer = bearer(login(park, ROLE_USERS["enterprise"][0]))
    mine = park.get("/api/plan", headers=officer).json()
    assert [e["enterprise_id"] for e in mine["enterprises"]] == [ENT_A]
    assert [c["camera"] for c in mine["cameras"]] == ["cam-a1"]
    insurer = bearer(login(park, ROLE_USERS["insurer"][0]))
    theirs = park.get("/api/plan", headers=insurer).json()
    assert theirs["cameras"] == [] and {e["enterprise_id"] for e in theirs["enterprises"]} == {ENT_A}
    edge = bearer(login(park, ROLE_USERS["edge"][0]))
    assert park.get("/api/plan", headers=edge).status_code == 403
