"""Remote configuration, end to end: the real center app (in process, with its MQTT ingest),
real Mosquitto, a real edge node process on real footage.

An operator adds a camera and changes a rule live; a bad config is refused and reported
while the old one keeps running; a restarted node keeps the applied version.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from paho.mqtt import publish, subscribe

from protocol import NodeConfig, NodeState, NodeStatus, Topic, TopicKind, now_ms
from tests.centerkit import login, register_cameras, running_center, wait_for
from tests.support.edgeproc import CLIP, REPO, edge_process

pytestmark = pytest.mark.e2e

NODE = "edge-rc"
WHOLE = [[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]]


def camera(cid: str, min_count: int) -> dict[str, Any]:
    return {
        "id": cid,
        "url": str(CLIP),
        "zones": [{"id": f"{cid}-all", "points": WHOLE}],
        "rules": [
            {
                "id": f"{cid}-people",
                "type": "intrusion",
                "zone": f"{cid}-all",
                "min_count": min_count,
                "confirm_frames": 2,
                "end_after_s": 1,
                "cooldown_s": 0,
            }
        ],
    }


def write_edge_config(workdir: Path, mqtt_port: int) -> Path:
    path = workdir / "edge.yaml"
    path.write_text(
        f"""site: yijia
node: {NODE}
analysis_fps: 3
heartbeat_s: 1
metrics_port: 0
evidence_dir: ev
state_dir: state
mqtt: {{host: 127.0.0.1, port: {mqtt_port}}}
models: {{manifest: {REPO / "models" / "manifest.yaml"}, threads: 1}}
cameras:
  - id: cam-1
    url: {CLIP}
    zones: [{{id: cam-1-all, points: {WHOLE}}}]
    rules:
      - {{id: cam-1-people, type: intrusion, zone: cam-1-all, min_count: 500, confirm_frames: 2}}
""",
        encoding="utf-8",
    )
    return path


@pytest.fixture
def center(tmp_workdir: Path, mosquitto: Any) -> Iterator[TestClient]:
    with running_center(tmp_workdir, mosquitto.port) as client:
        cameras = {c: (NODE, "ent-rc") for c in ("cam-1", "cam-2")}
        register_cameras(client.app.state.session_factory, cameras)  # type: ignore[attr-defined]
        yield client


def node_view(client: TestClient) -> dict[str, Any] | None:
    nodes = client.get("/api/nodes").json()
    return next((n for n in nodes if n["node"] == NODE), None)


def config_view(client: TestClient) -> dict[str, Any]:
    resp = client.get(f"/api/nodes/{NODE}/config")
    assert resp.status_code == 200, resp.text
    return resp.json()


def put(client: TestClient, body: dict[str, Any]) -> dict[str, Any]:
    resp = client.put(f"/api/nodes/{NODE}/config", json=body)
    assert resp.status_code == 200, resp.text
    return resp.json()


def alerts_of(client: TestClient, rule_id: str) -> int:
    resp = client.get("/api/alerts", params={"node": NODE, "limit": 1000})
    assert resp.status_code == 200, resp.text
    return sum(1 for a in resp.json()["items"] if a["rule_id"] == rule_id)


def test_remote_config_live_apply_refuse_and_restart(
    tmp_workdir: Path, mosquitto: Any, center: TestClient
) -> None:
    client = center
    cfg_path = write_edge_config(tmp_workdir, mosquitto.port)
    edge = edge_process(tmp_workdir, cfg_path)
    with edge:
        wait_for(lambda: (n := node_view(client)) and n["state"] == "online", 30, "node birth")
        assert config_view(client)["status"] == "none"

        # v1: add cam-2 live (cam-1 stays as in the file)
        out = put(client, {"config": {"cameras": [camera("cam-1", 500), camera("cam-2", 500)]}})
        assert out["desired_version"] == 1 and out["published"] is True and out["status"] == "pending"
        wait_for(lambda: config_view(client)["status"] == "applied", 30, "v1 applied")
        edge.wait_for_line(r"config: camera cam-2 added", timeout=5)
        view = wait_for(
            lambda: (
                (n := node_view(client))
                and any(c["camera"] == "cam-2" and c["state"] == "online" for c in n["camera_health"])
                and n
            ),
            30,
            "cam-2 online in the heartbeat",
        )
        assert view["cameras"] == ["cam-1", "cam-2"] and view["config_version"] == 1
        assert alerts_of(client, "cam-1-people") == 0  # min_count 500: nobody fires

        # v2 (YAML): change cam-1's rule to fire on one person; alerts of that rule arrive
        yaml_body = (
            "cameras:\n"
            f"  - {{id: cam-1, url: '{CLIP}', zones: [{{id: cam-1-all, points: {WHOLE}}}],\n"
            "     rules: [{id: cam-1-people, type: intrusion, zone: cam-1-all, min_count: 1,\n"
            "              confirm_frames: 2, end_after_s: 1, cooldown_s: 0}]}\n"
            f"  - {camera('cam-2', 500)}\n"
        ).replace("'", '"')
        out = put(client, {"yaml": yaml_body})
        assert out["desired_version"] == 2
        wait_for(lambda: config_view(client)["status"] == "applied", 30, "v2 applied")
        wait_for(lambda: alerts_of(client, "cam-1-people") > 0, 40, "alerts of the changed rule")

        # v3: a rule naming a zone the camera lacks -> refused, reported, v2 keeps running
        bad = camera("cam-2", 1)
        bad["rules"][0]["zone"] = "nowhere"
        put(client, {"config": {"cameras": [camera("cam-1", 1), bad]}})
        view3 = wait_for(lambda: (v := config_view(client))["status"] == "rejected" and v, 30, "v3 rejected")
        assert view3["applied_version"] == 2 and view3["rejected_version"] == 3
        assert "cameras[1]" in view3["last_error"] and "nowhere" in view3["last_error"], view3
        # v4: a setting a running node cannot take -> refused with the reason, too
        put(client, {"config": {"metrics_port": 9999}})
        view4 = wait_for(lambda: (v := config_view(client))["rejected_version"] == 4 and v, 30, "v4 rejected")
        assert "metrics_port" in view4["last_error"] and "restart" in view4["last_error"], view4
        # the old config goes on: heartbeats keep coming for both cameras, events keep flowing
        before = alerts_of(client, "cam-1-people")
        hb0 = node_view(client)["heartbeat"]["ts_ms"]
        wait_for(lambda: node_view(client)["heartbeat"]["ts_ms"] > hb0, 10, "a later heartbeat")
        assert {c["camera"] for c in node_view(client)["camera_health"]} == {"cam-1", "cam-2"}
        assert node_view(client)["health"] == "online"

        # the center refuses what is never the center's to set, naming the field
        resp = client.put(f"/api/nodes/{NODE}/config", json={"config": {"mqtt": {"port": 1}}})
        assert resp.status_code == 422 and resp.json()["detail"][0]["loc"][-1] == "mqtt", resp.text
        resp = client.put(f"/api/nodes/{NODE}/config", json={"yaml": "cameras: [unclosed"})
        assert resp.status_code == 422 and "YAML" in resp.text, resp.text

        # restart: the node comes back with v2 (persisted), not its file's config
        assert edge.stop() == 0, edge.log_tail()
        edge.start()  # a fresh log: lines count from this start
        edge.wait_for_line(r"starting with remote config v2", timeout=5)
        wait_for(
            lambda: (n := node_view(client)) and n["state"] == "online" and n["config_version"] == 2,
            30,
            "restarted node reports v2",
        )
        view = wait_for(
            lambda: (
                (n := node_view(client))
                and {c["camera"] for c in n["camera_health"]} == {"cam-1", "cam-2"}
                and n
            ),
            30,
            "both cameras after the restart",
        )
        assert view["cameras"] == ["cam-1", "cam-2"]
        # the retained v4 is refused again after the restart, v2 still runs
        final = wait_for(
            lambda: (v := config_view(client))["rejected_version"] == 4 and v, 30, "v4 refused again"
        )
        assert final["applied_version"] == 2 and final["desired_version"] == 4
        wait_for(lambda: alerts_of(client, "cam-1-people") > before, 40, "events after the restart")
    # roles: the government may list nodes but not read or set configs
    login(client, "gov")
    assert client.get(f"/api/nodes/{NODE}/config").status_code == 403
    assert client.put(f"/api/nodes/{NODE}/config", json={"config": {"heartbeat_s": 5}}).status_code == 403


def test_config_set_while_the_broker_is_away_is_published_when_it_is_back(
    mosquitto: Any, center: TestClient
) -> None:
    client = center
    node = "edge-later"
    config_topic = Topic.of("yijia", node, TopicKind.CONFIG)
    birth = NodeStatus(site="yijia", node=node, state=NodeState.ONLINE, ts_ms=now_ms())
    publish.single(
        Topic.of("yijia", node, TopicKind.STATUS), birth.model_dump_json(), qos=1, retain=True,
        hostname="127.0.0.1", port=mosquitto.port,
    )  # fmt: skip
    wait_for(lambda: any(n["node"] == node for n in client.get("/api/nodes").json()), 10, "node known")

    mosquitto.stop()
    wait_for(lambda: client.get("/api/health").json()["mqtt"] == "disconnected", 10, "center sees it")
    resp = client.put(f"/api/nodes/{node}/config", json={"config": {"heartbeat_s": 7}})
    assert resp.status_code == 200, resp.text
    assert resp.json()["published"] is False and resp.json()["status"] == "pending"

    mosquitto.start()
    wait_for(
        lambda: client.get(f"/api/nodes/{node}/config").json()["published"], 30, "published after reconnect"
    )
    got = subscribe.simple(config_topic, qos=1, hostname="127.0.0.1", port=mosquitto.port)  # the retained one
    msg = NodeConfig.model_validate_json(got.payload)
    assert got.retain and msg.version == 1 and msg.config == {"heartbeat_s": 7} and msg.by == "op"
    # an unknown node is refused, naming it
    resp = client.put("/api/nodes/nobody/config", json={"config": {"heartbeat_s": 7}})
    assert resp.status_code == 404 and "nobody" in resp.text
