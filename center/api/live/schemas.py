"""Live video: the camera wall's list and the offer a browser sends."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from protocol import ID_PATTERN
from protocol.live import SDP_MAX_CHARS

CameraId = Annotated[str, StringConstraints(pattern=ID_PATTERN, max_length=64)]
SessionIdField = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{32}$")]


class LiveCameraOut(BaseModel):
    id: str
    name: str  # the camera's name (else its post's), never empty
    post_name: str
    enterprise_id: str
    enterprise_name: str
    node: str | None
    node_name: str | None
    node_health: str  # online / stale / offline / stopped / unassigned / unknown
    state: str  # the camera's state in the node's last heartbeat; unknown while the node is not online
    error: str | None = None  # the camera's last error, as the node told it
    live: bool  # the wall may try to open it now (node online, camera online)
    why_not: str | None = None  # in Chinese, when ``live`` is false


class LiveCamerasOut(BaseModel):
    items: list[LiveCameraOut]
    ice_servers: list[dict[str, Any]] = Field(
        description="STUN/TURN for the browser (center config live.ice_servers)"
    )


class OfferIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    camera_id: CameraId
    type: Literal["offer"] = "offer"
    sdp: Annotated[str, StringConstraints(min_length=10, max_length=SDP_MAX_CHARS)]


class AnswerOut(BaseModel):
    type: Literal["answer"] = "answer"
    sdp: str
    session_id: str
    camera_id: str
    camera_name: str
    mode: str  # passthrough / reencode
    mode_label: str  # 原码直通 / 节点转码
    reason: str = ""  # why the node re-encodes


class CloseIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    camera_id: CameraId
    session_id: SessionIdField
