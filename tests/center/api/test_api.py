"""The center's HTTP API and live feed, through FastAPI's TestClient on a real database."""

from __future__ import annotations

import asyncio
import json
import re
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from fastapi.testclient import TestClient

from center.api.feed.hub import LiveHub
from center.app import create_app
from center.config import CenterConfig
from center.ingest.upsert import apply_alert
from protocol import AlertEvent, RuleType, Severity, Topic, new_event_id
from tests.centerkit import add_user, login, register_cameras

SITE = "yijia"
T0 = 1_750_000_000_000  # 2025-06-15T15:06:40Z = 23:06:40 in Asia/Shanghai
HOUR = 3_600_000


def config(db_url: str, broker: Any = None) -> CenterConfig:
    mqtt_cfg: dict[str, Any] = {"client_id": f"test-api-{uuid.uuid4().hex[:8]}"}
    if broker is not None:
        mqtt_cfg.update(host=broker.host, port=broker.port)
    return CenterConfig.model_validate(
        {"site": SITE, "site_name": "毅佳工业园", "database": {"url": db_url}, "mqtt": mqtt_cfg}
    )


def alert_event(**fields: Any) -> AlertEvent:
    data: dict[str, Any] = {
        "event_id": new_event_id(),
        "phase": "new",
        "seq": 0,
        "site": SITE,
        "node": "node-a",
        "camera": "cam-gate",
        "rule_id": "gate-intrusion",
        "rule_type": "intrusion",
        "severity": "general",
        "started_ms": T0,
        "last_ms": T0,
        "count": 1,
        "score": 0.7,
    }
    data.update(fields)
    data.setdefault("last_ms", data["started_ms"])
    if data["last_ms"] < data["started_ms"]:
        data["last_ms"] = data["started_ms"]
    return AlertEvent.model_validate(data)


@pytest.fixture
def client(db_url: str) -> Iterator[TestClient]:
    """The app without MQTT ingest, seeded with five alerts; logged in as an operator."""
    app = create_app(config(db_url), start_ingest=False)
    with TestClient(app) as c:
        add_user(app.state.session_factory, "op", "operator")
        login(c, "op")
        events = [
            alert_event(camera="cam-gate", started_ms=T0),
            alert_event(camera="cam-gate", started_ms=T0 + HOUR, rule_type="loitering", severity="major"),
            alert_event(camera="cam-yard", started_ms=T0 + 2 * HOUR, node="node-b"),
            alert_event(camera="cam-yard", started_ms=T0 + 3 * HOUR, rule_type="smoking"),
            alert_event(
                camera="cam-dock", started_ms=T0 + 4 * HOUR, phase="end", seq=2, ended_ms=T0 + 5 * HOUR
            ),
        ]
        with app.state.session_factory.begin() as s:
            for ev in events:
                apply_alert(s, ev, T0 + 6 * HOUR)
        c.events = events  # type: ignore[attr-defined]
        yield c


def cams(resp: Any) -> list[str]:
    assert resp.status_code == 200, resp.text
    return [a["camera"] for a in resp.json()["items"]]


def test_alerts_newest_first_with_iso_times(client: TestClient) -> None:
    body = client.get("/api/alerts").json()
    assert [a["started_ms"] for a in body["items"]] == [T0 + h * HOUR for h in (4, 3, 2, 1, 0)]
    first = body["items"][0]
    assert first["started_at"] == "2025-06-15T19:06:40.000Z"
    assert first["ended_at"] == "2025-06-15T20:06:40.000Z"
    assert first["phase"] == "end"
    assert body["items"][-1]["ended_at"] is None
    assert (body["limit"], body["offset"], body["total"]) == (100, 0, 5)


def test_alert_filters(client: TestClient) -> None:
    assert cams(client.get("/api/alerts", params={"camera": "cam-gate"})) == ["cam-gate", "cam-gate"]
    assert cams(client.get("/api/alerts", params={"camera": "no-such-cam"})) == []
    assert cams(client.get("/api/alerts", params={"node": "node-b"})) == ["cam-yard"]
    assert cams(client.get("/api/alerts", params={"rule_type": "smoking"})) == ["cam-yard"]
    since = {"since": str(T0 + 2 * HOUR)}
    assert cams(client.get("/api/alerts", params=since)) == ["cam-dock", "cam-yard", "cam-yard"]
    # ISO 8601 with an offset, with Z, and without (read in the site's time zone, Asia/Shanghai)
    for since_iso in (
        "2025-06-16T01:06:40+08:00",
        "2025-06-15T17:06:40Z",
        "2025-06-16T01:06:40",
        "2025-06-16T01:06:40 08:00",
    ):
        assert len(cams(client.get("/api/alerts", params={"since": since_iso}))) == 3, since_iso
    window = {"since": str(T0 + HOUR), "until": "2025-06-15T18:06:40Z", "camera": "cam-yard"}
    assert cams(client.get("/api/alerts", params=window)) == ["cam-yard"]
    page = client.get("/api/alerts", params={"limit": 2, "offset": 1}).json()["items"]
    assert [a["started_ms"] for a in page] == [T0 + 3 * HOUR, T0 + 2 * HOUR]


def test_one_alert_and_404(client: TestClient) -> None:
    ev = client.events[1]  # type: ignore[attr-defined]
    body = client.get(f"/api/alerts/{ev.event_id}").json()
    assert (body["event_id"], body["rule_type"], body["severity"]) == (ev.event_id, "loitering", "major")
    resp = client.get(f"/api/alerts/{new_event_id()}")
    assert resp.status_code == 404
    assert "no alert with event_id" in resp.json()["detail"]
    assert client.get("/api/alerts/" + "x" * 5000).status_code == 404


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"limit": 10**9}, "limit"),
        ({"limit": 0}, "limit"),
        ({"limit": "many"}, "limit"),
        ({"offset": -1}, "offset"),
        ({"offset": 10**30}, "offset"),
        ({"since": "garbage"}, "since"),
        ({"since": "2025-13-45"}, "since"),
        ({"since": "9" * 40}, "since"),
        ({"since": "-5"}, "since"),
        ({"until": "yesterday"}, "until"),
        ({"since": str(T0), "until": str(T0 - 1)}, "until"),
        ({"rule_type": "bogus"}, "rule_type"),
        ({"camera": "c" * 100}, "camera"),
        ({"node": ""}, "node"),
    ],
)
def test_absurd_queries_get_422_naming_the_field(
    client: TestClient, query: dict[str, Any], field: str
) -> None:
    resp = client.get("/api/alerts", params=query)
    assert resp.status_code == 422, resp.text
    assert [e["loc"] for e in resp.json()["detail"]] == [["query", field]]


def test_since_garbage_message_is_clear(client: TestClient) -> None:
    msg = client.get("/api/alerts", params={"since": "garbage"}).json()["detail"][0]["msg"]
    assert msg.startswith("expected an ISO 8601 datetime") and "epoch milliseconds" in msg


def test_health_without_mqtt(client: TestClient) -> None:
    resp = client.get("/api/health")
    assert resp.status_code == 200
    body = resp.json()
    assert (body["status"], body["database"], body["mqtt"]) == ("ok", "ok", "disconnected")
    assert body["version"]


def test_health_503_when_database_is_unreachable(tmp_workdir: Path) -> None:
    app = create_app(config(f"sqlite:///{tmp_workdir / 'center.db'}"), start_ingest=False)
    with TestClient(app) as c:
        add_user(app.state.session_factory, "op", "operator")
        login(c, "op")
        (tmp_workdir / "center.db").unlink()  # SQLite would open a new, empty file: make it unopenable
        (tmp_workdir / "center.db").mkdir()
        app.state.engine.dispose()
        resp = c.get("/api/health")
        assert resp.status_code == 503
        assert resp.json()["database"].startswith("error: OperationalError")
        assert c.get("/api/alerts").status_code == 503  # a clear 503, never a 500


def test_site_page_and_static_files(client: TestClient) -> None:
    page = client.get("/")
    assert page.status_code == 200
    assert "<title>ParkGuard 园区安全监测平台 — 毅佳工业园</title>" in page.text
    assert 'content="Asia/Shanghai"' in page.text
    assert client.get("/static/app.js").status_code == 200
    assert client.get("/api/site").json() == {
        "site": SITE,
        "site_name": "毅佳工业园",
        "timezone": "Asia/Shanghai",
    }
    assert client.get("/api/openapi.json").json()["paths"]["/api/alerts"]["get"]


def test_alerts_carry_the_names_the_console_shows(client: TestClient) -> None:
    items = client.get("/api/alerts").json()["items"]
    loitering = next(a for a in items if a["rule_type"] == "loitering")
    names = (loitering["rule_type_label"], loitering["severity_label"], loitering["status_label"])
    assert names == ("徘徊逗留", "重大", "待处理")


def test_console_scripts_keep_no_names_of_their_own(client: TestClient) -> None:
    """Rule types, severities and statuses are named by the server (center/domain/vocabulary.py)."""
    for script in ("common.js", "app.js", "nodes.js", "risk.js", "card.js"):
        text = client.get(f"/static/{script}").text
        for value in [*RuleType, *Severity, "acknowledged", "dismissed", "escalated"]:
            assert not re.search(rf"\b{value}: \"[^\"]+\"", text), f"{script} names {value} itself"


def test_live_hub_drops_oldest_for_a_slow_client() -> None:
    async def run() -> list[int]:
        hub = LiveHub(queue_size=3)
        slow = hub.subscribe()
        for i in range(10):
            hub.publish({"type": "alert", "n": i})
        return [json.loads(slow.get_nowait())["n"] for _ in range(slow.qsize())]

    assert asyncio.run(run()) == [7, 8, 9]


# --- with the real broker: ingest → API and live feed -----------------------------------


@pytest.fixture
def live_client(db_url: str, mosquitto: Any) -> Iterator[TestClient]:
    app = create_app(config(db_url, mosquitto))
    with TestClient(app) as c:
        assert app.state.ingest.wait_connected(10)
        add_user(app.state.session_factory, "op", "operator")
        login(c, "op")
        yield c


def publish(broker: Any, topic: str, payload: bytes) -> None:
    pub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"test-pub-{uuid.uuid4().hex[:8]}")
    pub.connect(broker.host, broker.port)
    pub.loop_start()
    try:
        pub.publish(topic, payload, qos=1).wait_for_publish(5)
    finally:
        pub.loop_stop()
        pub.disconnect()


def test_websocket_delivers_an_alert_published_over_mqtt(live_client: TestClient, mosquitto: Any) -> None:
    assert live_client.get("/api/health").json()["mqtt"] == "connected"
    ev = alert_event(rule_type="man_down", severity="major", camera="cam-stairs")
    factory = live_client.app.state.session_factory  # type: ignore[attr-defined]
    register_cameras(factory, {"cam-stairs": ("node-a", "ent-a")})  # the center takes registered cameras only
    with live_client.websocket_connect("/ws/alerts") as ws:
        hello = ws.receive_json()
        assert hello["type"] == "hello" and hello["site_name"] == "毅佳工业园"
        publish(mosquitto, Topic.of(SITE, "node-a", "event"), ev.model_dump_json().encode())
        msg = ws.receive_json()
    assert msg["type"] == "alert"
    assert msg["alert"] == live_client.get(f"/api/alerts/{ev.event_id}").json()
    assert msg["alert"]["rule_type"] == "man_down"


def test_quarantine_and_nodes_endpoints(live_client: TestClient, mosquitto: Any) -> None:
    publish(mosquitto, Topic.of(SITE, "node-a", "event"), b"\x00\x01 not json")
    status = {"site": SITE, "node": "node-a", "state": "online", "ts_ms": T0, "cameras": ["cam-gate"]}
    publish(mosquitto, Topic.of(SITE, "node-a", "status"), json.dumps(status).encode())
    for _ in range(100):
        nodes = live_client.get("/api/nodes").json()
        quarantined = live_client.get("/api/quarantine").json()
        if nodes and quarantined:
            break
        time.sleep(0.05)
    assert [(n["node"], n["state"], n["cameras"]) for n in nodes] == [("node-a", "online", ["cam-gate"])]
    assert quarantined[0]["reason"].startswith("payload is not valid JSON")
    assert quarantined[0]["payload_size"] == 11
    assert live_client.get("/api/quarantine", params={"limit": 10**6}).status_code == 422
