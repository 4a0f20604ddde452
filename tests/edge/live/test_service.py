"""The node's live service with real parts: a camera reader on the bundled footage (looped in
real time like a camera), aiortc on both sides (the viewer is an aiortc peer in this process:
its H.264/VP8 decoder stands for the browser's), the data channel's messages.

- pass-through: the viewer decodes the camera's own H.264 (768×576), the node's encoder never ran;
- ``live.encode: always``: the node re-encodes (frames counted) and says why;
- refusals: unknown camera, camera offline, viewer cap, malformed offer, late or foreign request;
- a close request, and a viewer that goes away, end the session.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from aiortc import RTCPeerConnection, RTCSessionDescription

from edge.config.live import LiveConfig
from edge.config.stream import StreamOptions
from edge.detect.detections import Detections
from edge.live.service import LiveService
from edge.live.taps import DetectionTap, PacketTap
from edge.video.stream import CameraStream
from protocol import CameraState, LiveAction, LiveError, LiveMode, LiveRequest, LiveResponse, now_ms

pytestmark = pytest.mark.slow  # a camera in real time and WebRTC sessions: ~25 s

CLIP = Path(__file__).resolve().parents[3] / "samples" / "vtest-walkway.mp4"
ZONE = SimpleNamespace(id="walk", name="人行道", points=[(0.1, 0.5), (0.9, 0.5), (0.9, 0.95)])


class Node:
    """The part of an edge node the live service uses: its cameras (real readers and taps) and the
    answers it publishes."""

    def __init__(self, cfg: LiveConfig, start_reader: bool = True) -> None:
        self.tap = PacketTap()
        self.reader = CameraStream("cam1", str(CLIP), StreamOptions(), tap=self.tap)
        self.cam = SimpleNamespace(
            packet_tap=self.tap,
            live_reader=self.reader,
            detection_tap=DetectionTap(),
            cfg=SimpleNamespace(zones=[ZONE]),
        )
        self.answers: list[LiveResponse] = []
        self.answered = threading.Condition()
        self.service = LiveService(cfg, "yijia", "edge-01", self.camera, self.respond)
        if start_reader:
            self.reader.start()

    def camera(self, camera_id: str) -> Any:
        return self.cam if camera_id == "cam1" else None

    def respond(self, resp: LiveResponse) -> None:
        with self.answered:
            self.answers.append(resp)
            self.answered.notify_all()

    def ask(self, sdp: str, camera: str = "cam1", **fields: Any) -> LiveResponse | None:
        before = len(self.answers)
        req = {
            "request_id": uuid.uuid4().hex,
            "site": "yijia",
            "node": "edge-01",
            "camera": camera,
            "action": "offer",
            "sdp": sdp,
            "ts_ms": now_ms(),
            "expires_ms": now_ms() + 10_000,
            **fields,
        }
        self.service.receive(json.dumps(req).encode())
        with self.answered:
            self.answered.wait_for(lambda: len(self.answers) > before, timeout=10)
        return self.answers[before] if len(self.answers) > before else None


@pytest.fixture
def node(request: pytest.FixtureRequest) -> Iterator[Node]:
    cfg = getattr(request, "param", None) or LiveConfig(max_viewers=2)
    n = Node(cfg)
    n.service.start()
    deadline = time.monotonic() + 10
    while n.reader.state is not CameraState.ONLINE and time.monotonic() < deadline:
        time.sleep(0.05)
    yield n
    n.service.stop()
    n.reader.stop()


async def viewer_offer() -> tuple[RTCPeerConnection, Any, list[dict[str, Any]]]:
    pc = RTCPeerConnection()
    pc.addTransceiver("video", direction="recvonly")
    channel = pc.createDataChannel("overlay")
    messages: list[dict[str, Any]] = []
    channel.on("message", lambda m: messages.append(json.loads(m)))
    await pc.setLocalDescription(await pc.createOffer())
    return pc, channel, messages


async def watch(node: Node, frames: int = 5) -> tuple[LiveResponse, list[Any], list[dict[str, Any]]]:
    pc, _channel, messages = await viewer_offer()
    resp = await asyncio.to_thread(node.ask, pc.localDescription.sdp)
    assert resp is not None and resp.ok, resp
    tracks: list[Any] = []
    pc.on("track", tracks.append)
    await pc.setRemoteDescription(RTCSessionDescription(sdp=resp.sdp, type="answer"))
    for _ in range(100):
        if tracks:
            break
        await asyncio.sleep(0.05)
    got = [await asyncio.wait_for(tracks[0].recv(), 15) for _ in range(frames)]
    # the overlay: an analyzed frame's detections, as the node's loop hands them over
    dets = Detections(
        np.array([[0.1, 0.2, 0.3, 0.6]], np.float32),
        np.array([0.9], np.float32),
        np.array([0], np.int32),
        ["person"],
    )
    dets.tracks = np.array([7], np.int64)
    node.cam.detection_tap.add(now_ms(), dets)
    await asyncio.sleep(0.5)
    await pc.close()
    return resp, got, messages


def test_passthrough_sends_the_cameras_h264_and_never_encodes(node: Node) -> None:
    resp, frames, messages = asyncio.run(watch(node))
    assert resp.mode is LiveMode.PASSTHROUGH and resp.reason == ""
    assert {(f.width, f.height) for f in frames} == {(768, 576)}  # the camera's own picture
    assert node.service.counters.packets_passed >= 5
    assert node.service.counters.frames_encoded == 0
    kinds = [m["t"] for m in messages]
    assert kinds[0] == "hello" and "first" in kinds and "dets" in kinds, kinds
    hello = messages[0]
    assert hello["mode"] == "passthrough" and hello["zones"][0]["name"] == "人行道"
    dets = next(m for m in messages if m["t"] == "dets")
    assert dets["objs"] == [[0.1, 0.2, 0.3, 0.6, "person", 7, 0.9]]
    deadline = time.monotonic() + 10  # the viewer closed: the session ends on the node
    while node.service.sessions and time.monotonic() < deadline:
        time.sleep(0.1)
    assert node.service.sessions == {}


@pytest.mark.parametrize("node", [LiveConfig(encode="always")], indirect=True)
def test_reencode_when_configured_says_why_and_counts_frames(node: Node) -> None:
    resp, frames, _messages = asyncio.run(watch(node, frames=3))
    assert resp.mode is LiveMode.REENCODE and "always" in resp.reason
    assert len(frames) == 3 and node.service.counters.frames_encoded >= 3
    assert node.service.counters.packets_passed == 0


@pytest.mark.parametrize("node", [LiveConfig(max_viewers=1)], indirect=True)
def test_refusals_and_close(node: Node) -> None:
    async def run() -> None:
        pc, _ch, _m = await viewer_offer()
        sdp = pc.localDescription.sdp
        unknown = await asyncio.to_thread(node.ask, sdp, "cam-x")
        assert unknown is not None and unknown.error is LiveError.UNKNOWN_CAMERA
        bad = await asyncio.to_thread(node.ask, "v=0\r\nm=video 9 nonsense\r\n")
        assert bad is not None and bad.error is LiveError.BAD_OFFER and bad.message
        first = await asyncio.to_thread(node.ask, sdp)
        assert first is not None and first.ok and first.session_id
        pc2, _c2, _m2 = await viewer_offer()
        capped = await asyncio.to_thread(node.ask, pc2.localDescription.sdp)
        assert capped is not None and capped.error is LiveError.VIEWER_CAP
        # too late, or for another node: dropped without an answer
        late = await asyncio.to_thread(node.ask, sdp, expires_ms=now_ms() - 1)
        assert late is None
        foreign = await asyncio.to_thread(node.ask, sdp, node="edge-02")
        assert foreign is None
        # the viewer asks to close (through the center): the session ends, the cap frees
        close = LiveRequest(
            request_id=uuid.uuid4().hex, site="yijia", node="edge-01", camera="cam1", action=LiveAction.CLOSE,
            session_id=first.session_id, ts_ms=now_ms(), expires_ms=now_ms() + 5000,
        )  # fmt: skip
        node.service.receive(close.model_dump_json().encode())
        for _ in range(50):
            if not node.service.sessions:
                break
            await asyncio.sleep(0.1)
        assert node.service.sessions == {}
        again = await asyncio.to_thread(node.ask, pc2.localDescription.sdp)
        assert again is not None and again.ok
        await pc.close()
        await pc2.close()

    asyncio.run(run())
    assert node.service.refused == 3


def test_a_camera_that_sends_nothing_is_refused() -> None:
    n = Node(LiveConfig(), start_reader=False)
    n.service.start()
    try:

        async def offer() -> str:
            pc, _c, _m = await viewer_offer()
            sdp = pc.localDescription.sdp
            await pc.close()
            return sdp

        resp = n.ask(asyncio.run(offer()))
        assert resp is not None and resp.error is LiveError.CAMERA_OFFLINE and "starting" in resp.message
        assert n.service.health().sessions == 0
    finally:
        n.service.stop()
