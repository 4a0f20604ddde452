"""The center's live-video relay with a real Mosquitto: a node that is online (its status and
heartbeat on the broker) but never answers an offer → 504 with a clear message, after the
configured wait, and nothing left pending; a node's refusal (here: its viewer cap) → 429 with the
node's reason. The "node" is a plain MQTT client speaking the wire contract (protocol/)."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from fastapi.testclient import TestClient

from center.app import create_app
from center.config import parse_config
from protocol import (
    CameraHealth,
    CameraState,
    Heartbeat,
    LiveError,
    LiveRequest,
    LiveResponse,
    NodeState,
    NodeStatus,
    Topic,
    TopicKind,
    now_ms,
)
from tests.centerkit import add_user, login, register_cameras, wait_for

pytestmark = pytest.mark.e2e

SITE, NODE, CAMERA = "yijia", "edge-quiet", "cam-quiet"
SDP = (
    "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\n"
    "a=rtpmap:96 H264/90000\r\n"
)


def test_a_silent_node_times_out_and_a_refusal_is_told(tmp_workdir: Path, mosquitto: Any) -> None:
    cfg = parse_config(
        {
            "site": SITE,
            "database": {"url": f"sqlite:///{tmp_workdir / 'center.db'}"},
            "mqtt": {
                "host": mosquitto.host,
                "port": mosquitto.port,
                "client_id": f"lr-{uuid.uuid4().hex[:6]}",
            },
            "live": {"answer_timeout_s": 2},
        },
        "test",
        tmp_workdir,
    )
    app = create_app(cfg)
    node = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"{NODE}-{uuid.uuid4().hex[:6]}")
    heard: list[LiveRequest] = []
    node.on_message = lambda _c, _u, m: heard.append(LiveRequest.model_validate_json(m.payload))
    node.connect(mosquitto.host, mosquitto.port)
    node.subscribe(Topic.of(SITE, NODE, TopicKind.LIVE_REQUEST), qos=1)
    node.loop_start()
    try:
        with TestClient(app) as client:
            register_cameras(app.state.session_factory, {CAMERA: (NODE, "ent-q")})
            add_user(app.state.session_factory, "op", "operator")
            login(client, "op")
            wait_for(lambda: app.state.live_relay.connected and app.state.ingest.connected, 10, "MQTT")
            status = NodeStatus(
                site=SITE, node=NODE, state=NodeState.ONLINE, ts_ms=now_ms(), cameras=[CAMERA]
            )
            node.publish(Topic.of(SITE, NODE, TopicKind.STATUS), status.model_dump_json(), qos=1, retain=True)
            cam = CameraHealth(
                camera=CAMERA, state=CameraState.ONLINE, fps_in=10, fps_out=5, infer_ms=20, dropped_frames=0
            )
            hb = Heartbeat(site=SITE, node=NODE, ts_ms=now_ms(), uptime_s=5, interval_s=60, cameras=[cam])
            node.publish(Topic.of(SITE, NODE, TopicKind.HEARTBEAT), hb.model_dump_json(), qos=1)
            wait_for(
                lambda: client.get("/api/live/cameras").json()["items"][0]["live"], 10, "the camera live"
            )

            t0 = time.monotonic()
            resp = client.post("/api/live/offer", json={"camera_id": CAMERA, "sdp": SDP})
            waited = time.monotonic() - t0
            assert resp.status_code == 504, resp.text
            assert "未应答" in resp.json()["detail"] and CAMERA in resp.json()["detail"]  # no name: its id
            assert 1.9 < waited < 6, waited
            wait_for(lambda: len(heard) == 1, 5, "the request on the node's topic")
            assert heard[0].camera == CAMERA and heard[0].sdp == SDP
            assert heard[0].expires_ms - heard[0].ts_ms == 2000  # the node drops it when late
            assert app.state.live_relay._pending == {}

            # now the node answers: a refusal with its reason
            def refuse(_c: Any, _u: Any, m: mqtt.MQTTMessage) -> None:
                req = LiveRequest.model_validate_json(m.payload)
                answer = LiveResponse(
                    request_id=req.request_id, site=SITE, node=NODE, camera=req.camera, ok=False,
                    error=LiveError.VIEWER_CAP, message="8 live session(s) already open", ts_ms=now_ms(),
                )  # fmt: skip
                node.publish(Topic.of(SITE, NODE, TopicKind.LIVE_RESPONSE), answer.model_dump_json(), qos=1)

            node.on_message = refuse
            resp = client.post("/api/live/offer", json={"camera_id": CAMERA, "sdp": SDP})
            assert resp.status_code == 429, resp.text
            body = resp.json()
            assert "上限" in body["detail"] and body["node_error"] == "viewer_cap"
            assert json.dumps(body, ensure_ascii=False).count("8 live session") == 1
    finally:
        node.loop_stop()
        node.disconnect()
