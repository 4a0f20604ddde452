"""Live video (实时视频): the camera wall's cameras, and the signaling a browser's WebRTC offer
takes to reach the node that watches the camera.

The center decides first: the caller's role and enterprise scope (an enterprise account opens
only its own cameras, an insurer none: by the policy table and :func:`scope_of`), the camera's
node (assigned, online), the offer's shape (bounded, SDP-looking). Only then does anything go to
the node: a ``live-request`` on its MQTT prefix, answered on ``live-response`` within
``live.answer_timeout_s`` (edge/live/service.py answers). The video itself flows between the
browser and the node (WebRTC), not through the center.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse
from sqlalchemy import select
from sqlalchemy.orm import Session

from center.api.deps import NOT_FOUND, ConfigDep, make_router, scope_of
from center.api.live.relay import LiveRelay
from center.api.live.schemas import AnswerOut, CloseIn, LiveCameraOut, LiveCamerasOut, OfferIn
from center.auth.deps import CurrentUser, SessionDep
from center.auth.policy import Principal
from center.config import CenterConfig
from center.domain.errors import Invalid, NotFound
from center.domain.nodes import node_cameras, node_health
from center.store.models import Camera, Enterprise, Node
from protocol import LiveAction, LiveError, LiveRequest, now_ms

log = logging.getLogger(__name__)
router = make_router("live")

MAX_SDP_LINES = 400
MODE_LABELS = {"passthrough": "原码直通", "reencode": "节点转码"}
NODE_HEALTH_WHY = {
    "stale": "节点心跳中断",
    "offline": "节点离线",
    "stopped": "节点已停止",
    "unassigned": "摄像头未分配节点",
    "unknown": "节点从未上报",
}
CAMERA_STATE_WHY = {
    "offline": "摄像头离线",
    "stalled": "摄像头画面中断",
    "starting": "摄像头连接中",
    "no_report": "节点未上报此摄像头",
    "unknown": "摄像头状态未知",
}
NODE_ERRORS: dict[LiveError, tuple[int, str]] = {
    LiveError.UNKNOWN_CAMERA: (409, "节点上没有此摄像头 (the node does not watch this camera)"),
    LiveError.CAMERA_OFFLINE: (409, "摄像头离线 (camera offline)"),
    LiveError.VIEWER_CAP: (429, "该节点观看人数已达上限 (the node's viewer cap is reached)"),
    LiveError.BAD_OFFER: (422, "浏览器的连接请求无效 (the offer was refused)"),
    LiveError.DISABLED: (409, "该节点未开启实时视频 (live video is off on the node)"),
    LiveError.EXPIRED: (504, "节点应答超时 (the node answered too late)"),
    LiveError.INTERNAL: (502, "节点出错 (the node failed to answer)"),
}


def _relay(request: Request) -> LiveRelay | None:
    return getattr(request.app.state, "live_relay", None)


def _scoped_cameras(session: Session, user: Principal, config: CenterConfig) -> list[tuple[Camera, str]]:
    stmt = select(Camera, Enterprise.name).join(Enterprise, Enterprise.id == Camera.enterprise_id)
    scope = scope_of(session, user, config)
    if scope is not None:
        stmt = stmt.where(Camera.enterprise_id.in_(sorted(scope)))
    return [(c, e) for c, e in session.execute(stmt.order_by(Camera.enterprise_id, Camera.id).limit(1000))]


def _describe(session: Session, config: CenterConfig, rows: list[tuple[Camera, str]]) -> list[LiveCameraOut]:
    nodes = {n.node: n for n in session.scalars(select(Node).where(Node.site == config.site))}
    now = now_ms()
    out = []
    for cam, ename in rows:
        node = nodes.get(cam.node or "")
        health, state, error, node_name = "unassigned" if not cam.node else "unknown", "unknown", None, None
        if node is not None:
            health = node_health(node, now).health
            node_name = node.name or node.node
            mine = [c for c in node_cameras(node, health, []) if c.camera == cam.id]
            if mine:
                state = mine[0].state
                error = (mine[0].health or {}).get("error")
            elif health == "online":
                state = "no_report"
        live = health == "online" and state == "online"
        why = (
            None
            if live
            else NODE_HEALTH_WHY.get(health) or CAMERA_STATE_WHY.get(state, f"摄像头状态：{state}")
        )
        out.append(
            LiveCameraOut(
                id=cam.id, name=cam.name or cam.post_name or cam.id, post_name=cam.post_name,
                enterprise_id=cam.enterprise_id, enterprise_name=ename, node=cam.node, node_name=node_name,
                node_health=health, state=state, error=error if isinstance(error, str) else None,
                live=live, why_not=why,
            )
        )  # fmt: skip
    return out


@router.get("/live/cameras", response_model=LiveCamerasOut)
def live_cameras(session: SessionDep, config: ConfigDep, user: CurrentUser) -> LiveCamerasOut:
    """The cameras the caller may watch, with their node's and their own state (the camera wall
    polls it), and the STUN/TURN servers the browser should use."""
    cams = _describe(session, config, _scoped_cameras(session, user, config))
    cams.sort(key=lambda c: not c.live)  # the wall's first tiles show pictures, offline ones after (stable)
    return LiveCamerasOut(items=cams, ice_servers=[s.browser() for s in config.live.ice_servers])


def _camera_in_scope(session: Session, user: Principal, config: CenterConfig, camera_id: str) -> Camera:
    cam = session.get(Camera, camera_id)
    scope = scope_of(session, user, config)
    if cam is None or (scope is not None and cam.enterprise_id not in scope):
        raise NotFound(f"no camera {camera_id!r}")  # another enterprise's camera is not confirmed
    return cam


def check_sdp(sdp: str) -> None:
    """An SDP offer's outline: ``v=0`` first, ``type=value`` lines, a video section; bounded."""
    lines = sdp.replace("\r\n", "\n").strip("\n").split("\n")
    if len(lines) > MAX_SDP_LINES:
        raise Invalid(("body", "sdp"), f"SDP 行数过多：至多 {MAX_SDP_LINES} 行 (too many SDP lines)")
    if lines[0] != "v=0":
        raise Invalid(
            ("body", "sdp"), "不是 SDP 连接请求：应以 v=0 开头 (not an SDP offer: must start with v=0)"
        )
    bad = next(
        (i for i, line in enumerate(lines) if len(line) < 2 or line[1] != "=" or not line[0].isalpha()), None
    )
    if bad is not None:
        raise Invalid(("body", "sdp"), f"SDP 第 {bad + 1} 行格式错误 (line {bad + 1} is not type=value)")
    if not any(line.startswith("m=video ") for line in lines):
        raise Invalid(("body", "sdp"), "SDP 没有视频部分 (no m=video section)")


def _error(status: int, detail: str, **extra: Any) -> JSONResponse:
    return JSONResponse({"detail": detail, **extra}, status_code=status)


@router.post(
    "/live/offer",
    response_model=AnswerOut,
    responses={
        **NOT_FOUND,
        409: {"description": "the camera or its node is offline, or the node does not watch it"},
        422: {"description": "the offer is malformed, or the node refused it"},
        429: {"description": "the node's viewer cap is reached"},
        502: {"description": "the node failed"},
        503: {"description": "the center is not connected to the broker"},
        504: {"description": "the node did not answer in time"},
    },
)
async def live_offer(
    body: OfferIn, request: Request, session: SessionDep, config: ConfigDep, user: CurrentUser
) -> Any:
    """Relay a browser's WebRTC offer for a camera to its node; answer with the node's SDP."""
    cam = _camera_in_scope(session, user, config, body.camera_id)
    check_sdp(body.sdp)
    name = cam.name or cam.post_name or cam.id
    described = _describe(session, config, [(cam, "")])[0]
    if not described.live:
        return _error(
            409,
            f"{name}：{described.why_not}",
            camera_state=described.state,
            node_health=described.node_health,
        )
    relay = _relay(request)
    if relay is None or not relay.connected:
        return _error(
            503, "中心未连接消息服务器，暂不能打开实时视频 (the center is not connected to the MQTT broker)"
        )
    assert cam.node is not None
    timeout = config.live.answer_timeout_s
    now = now_ms()
    req = LiveRequest(
        request_id=uuid.uuid4().hex, site=config.site, node=cam.node, camera=cam.id, action=LiveAction.OFFER,
        sdp=body.sdp, viewer=user.username[:64], ts_ms=now, expires_ms=now + int(timeout * 1000),
    )  # fmt: skip
    session.close()  # no database connection held while the node answers
    resp = await relay.request(req, timeout)
    if resp is None:
        log.warning(
            "live: node %s did not answer the offer for camera %s within %.0f s", cam.node, cam.id, timeout
        )
        return _error(
            504, f"{name}：节点 {timeout:.0f} 秒内未应答 (the node did not answer in {timeout:.0f} s)"
        )
    if not resp.ok or resp.session_id is None or resp.mode is None:
        status, text = NODE_ERRORS.get(resp.error or LiveError.INTERNAL, (502, "节点出错"))
        return _error(status, f"{name}：{text}", node_error=resp.error, node_message=resp.message)
    log.info("live: %s opened camera %s on node %s (%s)", user.username, cam.id, cam.node, resp.mode.value)
    return AnswerOut(
        sdp=resp.sdp, session_id=resp.session_id, camera_id=cam.id, camera_name=name,
        mode=resp.mode.value, mode_label=MODE_LABELS[resp.mode.value], reason=resp.reason,
    )  # fmt: skip


@router.post("/live/close", status_code=202, responses={**NOT_FOUND, 503: {"description": "not connected"}})
def live_close(
    body: CloseIn, request: Request, session: SessionDep, config: ConfigDep, user: CurrentUser
) -> Any:
    """Tell the node a viewer left (the page's ``sendBeacon`` on close; the node also notices by
    itself when the connection ends)."""
    cam = _camera_in_scope(session, user, config, body.camera_id)
    relay = _relay(request)
    if cam.node is None or relay is None or not relay.connected:
        return _error(503, "中心未连接消息服务器 (the center is not connected to the MQTT broker)")
    now = now_ms()
    relay.send(
        LiveRequest(
            request_id=uuid.uuid4().hex,
            site=config.site,
            node=cam.node,
            camera=cam.id,
            action=LiveAction.CLOSE,
            session_id=body.session_id,
            viewer=user.username[:64],
            ts_ms=now,
            expires_ms=now + 30_000,
        )
    )
    return {"detail": "closing"}
