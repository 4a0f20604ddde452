"""The center's ``GET /metrics``: the figures follow what a real Mosquitto delivered and what was
uploaded, the text is Prometheus' format, and only a scraper on this machine or one with the
scrape token may read it (a login does not do; a local proxy's forwarded request does not)."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from fastapi.testclient import TestClient

from center.app import create_app
from center.config import CenterConfig, parse_config
from common.configfile import ConfigError
from protocol import Topic, new_event_id, now_ms
from tests.centerkit import add_user, bearer, event, login, register_cameras, wait_for

TOKEN = "scrape-token-0123456789abcdef"
LOCAL = ("127.0.0.1", 41234)
SAMPLE = re.compile(r"^([a-z_]+)(\{[^}]*\})? (-?[0-9.e+]+|\+Inf)$")


def parse(text: str) -> dict[str, float]:
    """``{'name{labels}': value}`` of every sample; each family declared with HELP and TYPE."""
    out: dict[str, float] = {}
    declared: set[str] = set()
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            declared.add(line.split()[2])
            continue
        if line.startswith("#"):
            continue
        m = SAMPLE.match(line)
        assert m, f"not a sample line: {line!r}"
        family = re.sub(r"_(bucket|sum|count)$", "", m.group(1))
        assert family in declared or m.group(1) in declared, line
        out[m.group(1) + (m.group(2) or "")] = float(m.group(3))
    return out


@pytest.fixture
def center(tmp_workdir: Path, mosquitto: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    monkeypatch.setenv("PG_TEST_SCRAPE_TOKEN", TOKEN)
    cfg = parse_config(
        {
            "site": "yijia",
            "database": {"url": f"sqlite:///{tmp_workdir / 'center.db'}"},
            "evidence_dir": str(tmp_workdir / "evidence"),
            "mqtt": {
                "host": mosquitto.host,
                "port": mosquitto.port,
                "client_id": f"m-{uuid.uuid4().hex[:6]}",
            },
            "metrics": {"token_env": "PG_TEST_SCRAPE_TOKEN"},
        },
        "test",
        tmp_workdir,
    )
    app = create_app(cfg)
    with TestClient(app, client=LOCAL) as client:
        register_cameras(app.state.session_factory, {"cam-gate": ("node-a", "ent-secret-name")})
        add_user(app.state.session_factory, "op", "operator")
        wait_for(lambda: app.state.ingest.connected, 10, "center MQTT connection")
        yield client


def publish(port: int, messages: list[tuple[str, bytes]]) -> None:
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"pub-{uuid.uuid4().hex[:6]}")
    client.connect("127.0.0.1", port)
    client.loop_start()
    try:
        infos = [client.publish(topic, payload, qos=1) for topic, payload in messages]
        for info in infos:
            info.wait_for_publish(10)
    finally:
        client.loop_stop()
        client.disconnect()


def test_figures_follow_ingest_uploads_and_feed(center: TestClient, mosquitto: Any) -> None:
    app: Any = center.app
    topic = str(Topic.of("yijia", "node-a", "event"))
    minute_ago = now_ms() - 60_000
    messages = []
    for i in range(10):
        eid = new_event_id(minute_ago + i)
        for seq, phase in enumerate(("new", "update", "end")):
            extra = {"ended_ms": minute_ago + 1000 * seq} if phase == "end" else {}
            msg = event(eid, phase, seq, started_ms=minute_ago, sent_ms=now_ms() - 2000, **extra)
            messages.append((topic, json.dumps(msg).encode()))
    messages.append((topic, b'{"not": "an event"}'))  # quarantined
    publish(mosquitto.port, messages)
    wait_for(lambda: sum(app.state.ingest.counts.values()) >= 31, 20, "31 messages stored")

    token = login(center, "op")
    center.cookies.clear()
    photo = b"\xff\xd8\xff\xe0metrics-photo" + bytes(range(200))
    for _ in range(2):  # stored, then a duplicate
        headers = {**bearer(token), "content-type": "image/jpeg"}
        resp = center.post("/api/evidence", content=photo, headers=headers)
        assert resp.status_code in (200, 201), resp.text

    with center.websocket_connect(f"/ws/alerts?token={token}") as ws:
        ws.receive_json()  # hello
        resp = center.get("/metrics")
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"].startswith("text/plain; version=0.0.4")
    m = parse(resp.text)

    assert m['parkguard_center_ingest_messages_total{outcome="inserted"}'] == 10
    assert m['parkguard_center_ingest_messages_total{outcome="updated"}'] == 20
    assert m['parkguard_center_ingest_messages_total{outcome="quarantined"}'] == 1
    assert m["parkguard_center_quarantine_rows"] == 1
    assert m["parkguard_center_database_up"] == 1
    assert m["parkguard_center_ingest_connected"] == 1
    # every event arrived about a minute after the time it tells of: past the 30 s bucket, within 300 s
    assert m['parkguard_center_ingest_lag_seconds_count{kind="event"}'] == 30
    assert m['parkguard_center_ingest_lag_seconds_bucket{kind="event",le="30"}'] == 0
    assert m['parkguard_center_ingest_lag_seconds_bucket{kind="event",le="300"}'] == 30
    assert 30 * 50 < m['parkguard_center_ingest_lag_seconds_sum{kind="event"}'] < 30 * 120
    # sent two seconds before publishing (as from an outbox): transit between 2 s and 10 s, not the minute
    assert m["parkguard_center_ingest_transit_seconds_count"] == 30
    assert m['parkguard_center_ingest_transit_seconds_bucket{le="1"}'] == 0
    assert m['parkguard_center_ingest_transit_seconds_bucket{le="10"}'] == 30
    # transactions: as many as the batches, which together hold every message
    batches = m["parkguard_center_ingest_commit_seconds_count"]
    assert 1 <= batches <= 31 and m["parkguard_center_ingest_batch_messages_sum"] == 31
    assert m["parkguard_center_ingest_batch_messages_count"] == batches
    assert m['parkguard_center_ingest_commit_seconds_bucket{le="+Inf"}'] == batches
    assert m["parkguard_center_websocket_clients"] == 1
    assert m['parkguard_center_evidence_uploads_total{result="stored"}'] == 1
    assert m['parkguard_center_evidence_uploads_total{result="duplicate"}'] == 1
    assert m['parkguard_center_evidence_upload_bytes_total{result="stored"}'] == len(photo)
    assert m["parkguard_center_db_pool_size"] >= 1
    # site-wide figures only: no enterprise, camera, node or user is named
    for name in ("ent-secret-name", "cam-gate", "node-a", '"op"'):
        assert name not in resp.text

    assert parse(center.get("/metrics").text)["parkguard_center_websocket_clients"] == 0  # it left


def test_who_may_scrape(center: TestClient) -> None:
    app: Any = center.app
    assert center.get("/metrics").status_code == 200  # loopback, no proxy
    forwarded = center.get("/metrics", headers={"X-Forwarded-For": "203.0.113.9"})  # a local proxy's
    assert forwarded.status_code == 401 and "scrape token" in forwarded.json()["detail"]
    assert center.get("/metrics", headers={"Forwarded": "for=203.0.113.9"}).status_code == 401
    ok = center.get("/metrics", headers={"X-Forwarded-For": "203.0.113.9", **bearer(TOKEN)})
    assert ok.status_code == 200
    assert center.get("/metrics", headers=bearer("x" * 30)).status_code == 403  # a wrong token
    with TestClient(app, client=("198.51.100.20", 5000)) as remote:
        assert remote.get("/metrics").status_code == 401
        login_token = login(remote, "op")
        remote.cookies.clear()
        refused = remote.get("/metrics", headers=bearer(login_token))  # a login is not a scrape token
        assert refused.status_code == 403, refused.text
        assert remote.get("/metrics", headers=bearer(TOKEN)).status_code == 200


def test_switches_and_token_sources(tmp_workdir: Path) -> None:
    off = CenterConfig.model_validate({"site": "yijia", "metrics": {"enabled": False}})
    off = off.resolved(tmp_workdir).model_copy(
        update={"database": off.database.model_copy(update={"url": f"sqlite:///{tmp_workdir / 'c.db'}"})}
    )
    with TestClient(create_app(off, start_ingest=False), client=LOCAL) as c:
        assert c.get("/metrics").status_code == 404

    closed = CenterConfig.model_validate(
        {
            "site": "yijia",
            "database": {"url": f"sqlite:///{tmp_workdir / 'c.db'}"},
            "metrics": {"allow_loopback": False},
        }
    )
    with TestClient(create_app(closed, start_ingest=False), client=LOCAL) as c:
        assert c.get("/metrics").status_code == 401  # no token configured, loopback not allowed

    (tmp_workdir / "token").write_text("short\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="metrics token: use at least 16 characters"):
        parse_config({"site": "yijia", "metrics": {"token_file": "token"}}, "c.yaml", tmp_workdir)
    with pytest.raises(ConfigError, match=r"c\.yaml: metrics\.token_env: environment variable NOPE_SCRAPE"):
        parse_config({"site": "yijia", "metrics": {"token_env": "NOPE_SCRAPE"}}, "c.yaml", tmp_workdir)
    (tmp_workdir / "token").write_text(TOKEN + "\n", encoding="utf-8")
    cfg = parse_config({"site": "yijia", "metrics": {"token_file": "token"}}, "c.yaml", tmp_workdir)
    assert cfg.metrics.token() == TOKEN


def test_docs_list_every_metric(tmp_workdir: Path) -> None:
    """docs/operations.md's table and the families the center renders are the same set."""
    from center.metrics import CenterMetrics
    from center.store import db

    engine = db.make_engine(f"sqlite:///{tmp_workdir / 'm.db'}")
    db.upgrade(engine)
    try:
        names = {f.name for f in CenterMetrics().families(site="x", engine=engine, ingest=None, hub=None)}
    finally:
        engine.dispose()
    doc = (Path(__file__).resolve().parents[2] / "docs" / "operations.md").read_text(encoding="utf-8")
    documented = set(re.findall(r"\| `(parkguard_center_[a-z_]+)`", doc))
    assert names == documented, (names - documented, documented - names)
