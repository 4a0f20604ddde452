"""Live video signaling (wire contract v1): the center relays a browser's WebRTC offer to the
node that watches the camera, and the node's answer back, over MQTT.

Center → node on ``…/{node}/live-request``: :class:`LiveRequest` (``offer`` opens a session,
``close`` ends one). Node → center on ``…/{node}/live-response``: :class:`LiveResponse`, with
the same ``request_id``. Neither is retained; a request carries its deadline (``expires_ms``)
so a node that gets it late (after the center gave up) drops it instead of opening a session
nobody waits for.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal

from pydantic import ConfigDict, Field, StringConstraints, model_validator

from protocol.ids import Id
from protocol.messages import PROTOCOL_VERSION, EpochMs, _Msg

# an SDP offer of a browser asking for one video track and a data channel is 3–6 KB; Chromium's
# with every codec it knows stays under 10 KB
SDP_MAX_CHARS = 20_000
RequestId = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{32}$")]
SessionId = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{32}$")]


class LiveAction(StrEnum):
    OFFER = "offer"
    CLOSE = "close"


class LiveMode(StrEnum):
    PASSTHROUGH = "passthrough"  # the camera's H.264 packets as they came: no decoding, no encoding
    REENCODE = "reencode"  # decoded and encoded again by the node (costs CPU): see ``reason``


class LiveError(StrEnum):
    """Why a node refused a session (the center turns each into a sentence for the tile)."""

    UNKNOWN_CAMERA = "unknown_camera"
    CAMERA_OFFLINE = "camera_offline"
    VIEWER_CAP = "viewer_cap"
    BAD_OFFER = "bad_offer"
    DISABLED = "disabled"
    EXPIRED = "expired"
    INTERNAL = "internal"


class LiveRequest(_Msg):
    model_config = ConfigDict(extra="forbid", str_max_length=SDP_MAX_CHARS)

    v: Literal[1] = PROTOCOL_VERSION
    request_id: RequestId
    site: Id
    node: Id
    camera: Id
    action: LiveAction
    sdp: Annotated[str, StringConstraints(max_length=SDP_MAX_CHARS)] = ""
    session_id: SessionId | None = Field(default=None, description="the session a ``close`` ends")
    viewer: Annotated[str, StringConstraints(max_length=64)] = Field(
        default="", description="user name, for the node's log"
    )
    ts_ms: EpochMs
    expires_ms: EpochMs

    @model_validator(mode="after")
    def _fields(self) -> LiveRequest:
        if self.action is LiveAction.OFFER and not self.sdp:
            raise ValueError("an offer needs its sdp")
        if self.action is LiveAction.CLOSE and self.session_id is None:
            raise ValueError("a close needs the session_id")
        return self


class LiveResponse(_Msg):
    model_config = ConfigDict(extra="forbid", str_max_length=SDP_MAX_CHARS)

    v: Literal[1] = PROTOCOL_VERSION
    request_id: RequestId
    site: Id
    node: Id
    camera: Id
    ok: bool
    sdp: Annotated[str, StringConstraints(max_length=SDP_MAX_CHARS)] = ""
    session_id: SessionId | None = None
    mode: LiveMode | None = None
    reason: Annotated[str, StringConstraints(max_length=256)] = Field(
        default="", description="why the node re-encodes (mode reencode)"
    )
    error: LiveError | None = None
    message: Annotated[str, StringConstraints(max_length=512)] = ""
    ts_ms: EpochMs
