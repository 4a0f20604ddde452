"""Names instead of ids: alerts carry the names of their camera, enterprise and node (list, one
alert, CSV, the live feed); the nodes answer lists the cameras the park registered on each node."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from center.app import create_app
from center.ingest.process import Received, process_batch
from center.ingest.upsert import apply_alert
from center.store.models import Camera, Enterprise, Node
from protocol import Topic
from tests.center.api.test_api import SITE, T0, alert_event, config
from tests.centerkit import add_user, login

ENTERPRISES = [("yj-metal", "毅佳金属", "91440605MA4UJ0KX1D"), ("hx-chem", "恒鑫化工", "91440605MA4UJ0KX2B")]
CAMERAS = [  # id, enterprise, node, name, post
    ("cam-yard-01", "yj-metal", "edge-01", "厂区主通道", "主通道岗"),
    ("cam-yj-melt", "yj-metal", "edge-01", "", "熔铸车间炉前"),  # no name: its post names it
    ("cam-hx-tank", "hx-chem", "edge-02", "储罐区", "储罐区巡检"),
]


def registry(factory: sessionmaker[Session]) -> None:
    with factory.begin() as s:
        for eid, name, code in ENTERPRISES:
            s.add(
                Enterprise(
                    id=eid, name=name, credit_code=code, industry="metallurgy", created_ms=T0, updated_ms=T0
                )
            )
        s.flush()
        for cid, eid, node, name, post in CAMERAS:
            s.add(Camera(id=cid, enterprise_id=eid, node=node, name=name, post_name=post, created_ms=T0))
        for nid, name in (("edge-01", "A区机房"), ("edge-02", "B区机房")):
            s.add(
                Node(
                    site=SITE,
                    node=nid,
                    state="offline",
                    status_ms=None,
                    last_seen_ms=0,
                    software="",
                    cameras=[],
                    config_version=None,
                    heartbeat=None,
                    updated_ms=T0,
                    name=name,
                )
            )


@pytest.fixture
def named(db_url: str) -> Iterator[TestClient]:
    """A registry of two enterprises, three cameras on two nodes, and three alerts; an operator."""
    app = create_app(config(db_url), start_ingest=False)
    with TestClient(app) as c:
        factory = app.state.session_factory
        registry(factory)
        add_user(factory, "op", "operator")
        add_user(factory, "yj", "enterprise", enterprise_id="yj-metal")
        add_user(factory, "hx", "enterprise", enterprise_id="hx-chem")
        events = {
            "yard": alert_event(camera="cam-yard-01", node="edge-01", enterprise="yj-metal", started_ms=T0),
            "melt": alert_event(
                camera="cam-yj-melt", node="edge-01", enterprise="yj-metal", started_ms=T0 + 1
            ),
            # an edge that puts another enterprise's camera in its alert: the camera's name stays out
            "odd": alert_event(camera="cam-yard-01", node="edge-09", enterprise="hx-chem", started_ms=T0 + 2),
        }
        with factory.begin() as s:
            for ev in events.values():
                apply_alert(s, ev, T0 + 10)
        c.events = events  # type: ignore[attr-defined]
        login(c, "op")
        yield c


def names(a: dict[str, Any]) -> tuple[Any, ...]:
    return (a["camera"], a["camera_name"], a["enterprise_name"], a["node"], a["node_name"])


def test_the_alert_list_and_one_alert_carry_the_names(named: TestClient) -> None:
    items = named.get("/api/alerts").json()["items"]
    assert [names(a) for a in items] == [
        ("cam-yard-01", None, "恒鑫化工", "edge-09", None),
        ("cam-yj-melt", "熔铸车间炉前", "毅佳金属", "edge-01", "A区机房"),
        ("cam-yard-01", "厂区主通道", "毅佳金属", "edge-01", "A区机房"),
    ]
    assert items[2]["enterprise"] == "yj-metal"  # the ids stay
    one = named.get(f"/api/alerts/{named.events['yard'].event_id}").json()  # type: ignore[attr-defined]
    assert names(one) == ("cam-yard-01", "厂区主通道", "毅佳金属", "edge-01", "A区机房")


def test_an_enterprise_sees_names_of_its_own_alerts_only(named: TestClient) -> None:
    login(named, "hx")
    items = named.get("/api/alerts").json()["items"]
    # its one alert names a camera of yj-metal: the name of yj-metal's camera does not show
    assert [names(a) for a in items] == [("cam-yard-01", None, "恒鑫化工", "edge-09", None)]
    login(named, "yj")
    assert {a["enterprise_name"] for a in named.get("/api/alerts").json()["items"]} == {"毅佳金属"}


def test_the_csv_carries_the_names(named: TestClient) -> None:
    resp = named.get("/api/alerts/export.csv")
    assert resp.status_code == 200
    rows = list(csv.DictReader(io.StringIO(resp.text.lstrip("\ufeff"))))
    got = [(r["camera"], r["camera_name"], r["enterprise_name"], r["node_name"]) for r in rows]
    assert got == [
        ("cam-yard-01", "", "恒鑫化工", ""),
        ("cam-yj-melt", "熔铸车间炉前", "毅佳金属", "A区机房"),
        ("cam-yard-01", "厂区主通道", "毅佳金属", "A区机房"),
    ]


def test_the_csv_neutralises_a_name_that_looks_like_a_formula(named: TestClient) -> None:
    with named.app.state.session_factory.begin() as s:  # type: ignore[attr-defined]
        s.get(Camera, "cam-yard-01").name = "=HYPERLINK(1)"
    rows = list(csv.DictReader(io.StringIO(named.get("/api/alerts/export.csv").text.lstrip("\ufeff"))))
    assert rows[-1]["camera_name"] == "'=HYPERLINK(1)"
    assert rows[-1]["enterprise_name"] == "毅佳金属"


def test_the_live_feed_carries_the_names(named: TestClient) -> None:
    ev = named.events["melt"]  # type: ignore[attr-defined]
    with named.websocket_connect("/ws/alerts") as ws:
        assert ws.receive_json()["type"] == "hello"
        assert named.post(f"/api/alerts/{ev.event_id}/acknowledge").status_code == 200
        msg = ws.receive_json()
    assert msg["type"] == "alert" and msg["alert"]["status"] == "acknowledged"
    assert names(msg["alert"]) == ("cam-yj-melt", "熔铸车间炉前", "毅佳金属", "edge-01", "A区机房")


def test_ingested_alerts_reach_the_feed_with_their_names(named: TestClient) -> None:
    """The ingest's batch path builds the feed's alerts (one name lookup for the batch)."""
    factory = named.app.state.session_factory  # type: ignore[attr-defined]
    evs = [
        alert_event(camera="cam-hx-tank", node="edge-02", enterprise="hx-chem", started_ms=T0 + 5),
        alert_event(camera="cam-unknown", node="edge-01", enterprise="yj-metal", started_ms=T0 + 6),
    ]
    items = [
        Received(Topic.of(SITE, ev.node, "event"), ev.model_dump_json().encode(), i, 1, 0)
        for i, ev in enumerate(evs)
    ]
    results = process_batch(factory, SITE, items)
    # a camera the center has not registered is not taken (quarantined with the reason)
    assert [r.outcome for r in results] == ["inserted", "quarantined"]
    assert names(results[0].alert or {}) == ("cam-hx-tank", "储罐区", "恒鑫化工", "edge-02", "B区机房")
    assert "camera cam-unknown is not registered at the center" in (results[1].reason or "")


def test_nodes_list_the_cameras_registered_on_them_without_heartbeat(named: TestClient) -> None:
    nodes = {n["node"]: n for n in named.get("/api/nodes").json()}
    assert nodes["edge-01"]["cameras"] == [] and nodes["edge-01"]["heartbeat"] is None
    got = [
        (
            c["camera"],
            c["name"],
            c["enterprise_name"],
            c["state"],
            c["state_label"],
            c["reported"],
            c["health"],
        )
        for c in nodes["edge-01"]["camera_states"]
    ]
    assert got == [
        ("cam-yard-01", "厂区主通道", "毅佳金属", "unknown", "状态未知", False, None),
        ("cam-yj-melt", "熔铸车间炉前", "毅佳金属", "unknown", "状态未知", False, None),
    ]
    assert [c["name"] for c in nodes["edge-02"]["camera_states"]] == ["储罐区"]
