"""The node's live video service: answers the WebRTC offers the center relays over MQTT.

One asyncio loop in its own thread holds every session (an aiortc peer connection, one video
track fed by the camera's packet tap, one data channel for the overlay). A request comes from
paho's network thread (:meth:`LiveService.receive`: validate and hand over only); the answer
goes back on ``…/live-response`` with the request's id.

A session ends when its peer connection fails or closes (the viewer closed the page, hid it,
or ICE failed), when its data channel closes, when it did not connect within
``live.connect_timeout_s``, after ``live.session_max_s``, or when its camera is removed. At
most ``live.max_viewers`` sessions run at once. The data channel carries JSON messages:
``hello`` (mode, zones), ``first`` (the wall-clock time of the first frame sent: the browser
maps the video's RTP clock onto it), ``dets`` (each analyzed frame's objects, with its time)
and ``state`` (the camera's state when it changes).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from edge.config.live import LiveConfig
from edge.live.tracks import LiveCounters, PassthroughTrack, ReencodeTrack
from protocol import (
    CameraState,
    LiveAction,
    LiveError,
    LiveHealth,
    LiveMode,
    LiveRequest,
    LiveResponse,
    now_ms,
)

if TYPE_CHECKING:
    from aiortc import RTCDataChannel, RTCPeerConnection

    from edge.camera import CameraRuntime

log = logging.getLogger("parkguard.edge.live")

STATE_POLL_S = 0.5
CHANNEL_BUFFER_MAX = 256 * 1024  # overlay messages are dropped while the viewer's channel lags this much


@dataclass
class Session:
    id: str
    camera: str
    viewer: str
    mode: LiveMode
    pc: RTCPeerConnection
    track: PassthroughTrack | ReencodeTrack
    started: float = field(default_factory=time.monotonic)
    channel: RTCDataChannel | None = None
    det_token: int | None = None
    last_state: CameraState | None = None
    first_ms: int | None = None
    closed: bool = False


class LiveService:
    def __init__(
        self,
        cfg: LiveConfig,
        site: str,
        node: str,
        camera: Callable[[str], CameraRuntime | None],
        respond: Callable[[LiveResponse], object],
    ) -> None:
        self.cfg = cfg
        self.site = site
        self.node = node
        self.camera = camera
        self.respond = respond
        self.counters = LiveCounters()
        self.sessions: dict[str, Session] = {}
        self.refused = 0
        self._loop = asyncio.new_event_loop()
        self._thread: threading.Thread | None = None
        self._opening = 0  # offers being answered now (count against the cap)

    # -- lifecycle -----------------------------------------------------------------------------
    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="live", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.create_task(self._watch())
        self._loop.run_forever()

    def stop(self, timeout: float = 5.0) -> None:
        if self._thread is None or self._loop.is_closed():
            return
        fut = asyncio.run_coroutine_threadsafe(self._shut_down(), self._loop)
        with contextlib.suppress(Exception):
            fut.result(timeout)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout)

    # -- figures -------------------------------------------------------------------------------
    def health(self) -> LiveHealth:
        sessions = list(self.sessions.values())
        return LiveHealth(
            sessions=len(sessions),
            passthrough=sum(1 for s in sessions if s.mode is LiveMode.PASSTHROUGH),
            reencode=sum(1 for s in sessions if s.mode is LiveMode.REENCODE),
            max_viewers=self.cfg.max_viewers,
            frames_encoded=self.counters.frames_encoded,
            packets_passed=self.counters.packets_passed,
        )

    # -- requests (paho's thread) ----------------------------------------------------------------
    def receive(self, payload: bytes) -> None:
        try:
            req = LiveRequest.model_validate_json(payload)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "(message)"
            log.warning("live request refused: %s: %s", where, first["msg"])
            return
        if (req.site, req.node) != (self.site, self.node):
            log.warning(
                "live request %s is for %s/%s, not this node; ignored", req.request_id, req.site, req.node
            )
            return
        if req.expires_ms < now_ms():
            log.info("live request %s came after its deadline; dropped", req.request_id)
            return
        asyncio.run_coroutine_threadsafe(self._handle(req), self._loop)

    async def _handle(self, req: LiveRequest) -> None:
        try:
            if req.action is LiveAction.CLOSE:
                session = self.sessions.get(req.session_id or "")
                if session is not None and session.camera == req.camera:
                    await self._close(session, "closed by the viewer")
                resp = self._reply(req, ok=True, session_id=req.session_id)
            else:
                resp = await self._offer(req)
        except Exception as exc:  # never leave the center waiting for nothing
            log.exception("live request %s failed", req.request_id)
            resp = self._refuse(req, LiveError.INTERNAL, f"{type(exc).__name__}: {exc}"[:300])
        if req.expires_ms < now_ms() and resp.session_id and resp.ok and req.action is LiveAction.OFFER:
            session = self.sessions.get(resp.session_id)
            if session is not None:  # the center gave up waiting: nobody will use this answer
                await self._close(session, "answer came after the deadline")
            return
        self.respond(resp)

    def _reply(self, req: LiveRequest, **fields: Any) -> LiveResponse:
        return LiveResponse(
            request_id=req.request_id,
            site=self.site,
            node=self.node,
            camera=req.camera,
            ts_ms=now_ms(),
            **fields,
        )

    def _refuse(self, req: LiveRequest, error: LiveError, message: str) -> LiveResponse:
        self.refused += 1
        log.info(
            "live: %s refused for camera %s (%s): %s", req.viewer or "?", req.camera, error.value, message
        )
        return self._reply(req, ok=False, error=error, message=message)

    async def _offer(self, req: LiveRequest) -> LiveResponse:
        from aiortc import (
            RTCConfiguration,
            RTCPeerConnection,
            RTCRtpSender,
            RTCSessionDescription,
        )

        if not self.cfg.enabled or self.cfg.max_viewers == 0:
            return self._refuse(
                req, LiveError.DISABLED, "live video is off on this node (live.enabled / max_viewers)"
            )
        cam = self.camera(req.camera)
        if cam is None or cam.packet_tap is None:
            return self._refuse(req, LiveError.UNKNOWN_CAMERA, f"this node has no camera {req.camera!r}")
        if len(self.sessions) + self._opening >= self.cfg.max_viewers:
            return self._refuse(
                req,
                LiveError.VIEWER_CAP,
                f"{self.cfg.max_viewers} live session(s) already open on this node (live.max_viewers)",
            )
        reader, tap = cam.live_reader, cam.packet_tap
        if reader.state is not CameraState.ONLINE or tap.fmt is None:
            why = f": {reader.error}" if reader.error else ""
            return self._refuse(req, LiveError.CAMERA_OFFLINE, f"camera is {reader.state.value}{why}")
        offer_h264 = "h264/90000" in req.sdp.lower()
        if "m=video" not in req.sdp:
            return self._refuse(req, LiveError.BAD_OFFER, "the offer asks for no video (no m=video section)")
        mode, reason = LiveMode.PASSTHROUGH, ""
        if self.cfg.encode == "always":
            mode, reason = LiveMode.REENCODE, "live.encode: always"
        elif tap.fmt.codec != "h264":
            mode, reason = LiveMode.REENCODE, f"camera sends {tap.fmt.codec}, browsers take H.264/VP8"
        elif not offer_h264:
            mode, reason = LiveMode.REENCODE, "the browser offers no H.264"
        sid = uuid.uuid4().hex
        pc = RTCPeerConnection(RTCConfiguration(iceServers=[self._ice(s) for s in self.cfg.ice_servers]))
        self._opening += 1
        try:
            session_box: dict[str, Session] = {}

            def on_first(ts_ms: int) -> None:
                s = session_box.get("s")
                if s is not None:
                    s.first_ms = ts_ms
                    self._send(s, {"t": "first", "ts_ms": ts_ms})

            if mode is LiveMode.PASSTHROUGH:
                track: PassthroughTrack | ReencodeTrack = PassthroughTrack(
                    tap, self._loop, self.counters, on_first
                )
            else:
                track = ReencodeTrack(
                    tap, self._loop, self.counters, on_first, max_width=self.cfg.reencode_max_width
                )
            # the transceiver before the offer: aiortc settles the codecs while it takes the offer,
            # and takes this (unassigned) transceiver for the offer's video section
            transceiver = pc.addTransceiver(track, direction="sendonly")
            if mode is LiveMode.PASSTHROUGH:
                transceiver.setCodecPreferences(
                    [
                        c
                        for c in RTCRtpSender.getCapabilities("video").codecs
                        if c.mimeType.lower() == "video/h264"
                    ]
                )
            try:
                await pc.setRemoteDescription(RTCSessionDescription(sdp=req.sdp, type="offer"))
            except Exception as exc:  # aiortc's SDP parser: ValueError, KeyError, IndexError …
                track.stop()
                await pc.close()
                return self._refuse(
                    req,
                    LiveError.BAD_OFFER,
                    f"the offer's SDP does not parse: {type(exc).__name__}: {exc}"[:300],
                )
            session = Session(sid, req.camera, req.viewer, mode, pc, track)
            session_box["s"] = session
            self._wire(session, cam)
            try:
                answer = await pc.createAnswer()
                await pc.setLocalDescription(answer)
            except Exception as exc:
                track.stop()
                await pc.close()
                return self._refuse(
                    req, LiveError.BAD_OFFER, f"no answer to this offer: {type(exc).__name__}: {exc}"[:300]
                )
            self.sessions[sid] = session
        finally:
            self._opening -= 1
        self._loop.create_task(self._expire(session))
        log.info(
            "live: session %s opened for %s on camera %s (%s%s); %d open",
            sid[:8], req.viewer or "?", req.camera, mode.value,
            f": {reason}" if reason else "", len(self.sessions),
        )  # fmt: skip
        return self._reply(
            req, ok=True, sdp=pc.localDescription.sdp, session_id=sid, mode=mode, reason=reason
        )

    @staticmethod
    def _ice(server: Any) -> Any:
        from aiortc import RTCIceServer

        credential = os.environ.get(server.credential_env) if server.credential_env else None
        return RTCIceServer(urls=server.urls, username=server.username, credential=credential)

    def _wire(self, session: Session, cam: CameraRuntime) -> None:
        pc = session.pc

        @pc.on("connectionstatechange")
        async def _state() -> None:
            if pc.connectionState in ("failed", "closed"):
                await self._close(session, f"connection {pc.connectionState}")

        @pc.on("datachannel")
        def _channel(channel: RTCDataChannel) -> None:
            session.channel = channel
            zones = [
                {"id": z.id, "name": z.name or z.id, "points": [list(p) for p in z.points]}
                for z in cam.cfg.zones
            ]
            self._send(
                session, {"t": "hello", "session": session.id, "mode": session.mode.value, "zones": zones}
            )
            if session.first_ms is not None:
                self._send(session, {"t": "first", "ts_ms": session.first_ms})

            def overlay(msg: dict[str, Any]) -> None:  # the node's loop thread → this loop
                self._loop.call_soon_threadsafe(self._send, session, msg)

            session.det_token = cam.detection_tap.subscribe(overlay)

            @channel.on("close")
            async def _closed() -> None:
                await self._close(session, "data channel closed")

            @channel.on("message")
            async def _message(msg: object) -> None:
                if isinstance(msg, str) and msg[:64].find('"bye"') >= 0:
                    await self._close(session, "viewer left")

    def _send(self, session: Session, msg: dict[str, Any]) -> None:
        ch = session.channel
        if session.closed or ch is None or ch.readyState != "open" or ch.bufferedAmount > CHANNEL_BUFFER_MAX:
            return
        with contextlib.suppress(Exception):
            ch.send(json.dumps(msg, separators=(",", ":"), ensure_ascii=False))

    async def _expire(self, session: Session) -> None:
        await asyncio.sleep(self.cfg.connect_timeout_s)
        if not session.closed and session.pc.connectionState != "connected":
            await self._close(session, f"not connected within {self.cfg.connect_timeout_s:g} s")
            return
        await asyncio.sleep(max(0.0, self.cfg.session_max_s - self.cfg.connect_timeout_s))
        if not session.closed:
            await self._close(
                session, f"session longer than {self.cfg.session_max_s:g} s (live.session_max_s)"
            )

    async def _watch(self) -> None:
        """Tell each session's viewer when its camera's state changes; close the sessions of a
        camera that is gone from the config."""
        while True:
            await asyncio.sleep(STATE_POLL_S)
            for session in list(self.sessions.values()):
                cam = self.camera(session.camera)
                if cam is None or cam.packet_tap is None:
                    await self._close(session, "camera removed from the config")
                    continue
                reader = cam.live_reader
                if reader.state is not session.last_state:
                    session.last_state = reader.state
                    self._send(
                        session, {"t": "state", "state": reader.state.value, "error": reader.error or ""}
                    )

    async def _close(self, session: Session, why: str) -> None:
        if session.closed:
            return
        session.closed = True
        self.sessions.pop(session.id, None)
        if session.det_token is not None:
            cam = self.camera(session.camera)
            if cam is not None:
                cam.detection_tap.unsubscribe(session.det_token)
        session.track.stop()
        with contextlib.suppress(Exception):
            await session.pc.close()
        log.info(
            "live: session %s on camera %s closed after %.1f s (%s); %d open",
            session.id[:8], session.camera, time.monotonic() - session.started, why, len(self.sessions),
        )  # fmt: skip

    async def _shut_down(self) -> None:
        for session in list(self.sessions.values()):
            await self._close(session, "node stopping")
        current = asyncio.current_task()
        for task in asyncio.all_tasks(self._loop):
            if task is not current:
                task.cancel()
        await asyncio.sleep(0)
