"""``live``: live video of the node's cameras over WebRTC (edge/live)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from edge.config.base import Section


class IceServer(Section):
    """A STUN or TURN server handed to the node's peer connections (a TURN server such as coturn
    lets viewers outside the park's LAN reach the node; see docs/live.md)."""

    urls: list[str] = Field(
        min_length=1, max_length=8, description="stun:host:port / turn:host:port?transport=udp"
    )
    username: str | None = Field(default=None, max_length=128)
    credential_env: str | None = Field(
        default=None, description="environment variable holding the TURN password (never in the file)"
    )

    @field_validator("urls")
    @classmethod
    def _urls(cls, urls: list[str]) -> list[str]:
        for url in urls:
            if not url.startswith(("stun:", "turn:", "turns:")):
                raise ValueError(f"{url!r}: an ICE server URL starts with stun:, turn: or turns:")
        return urls


class LiveConfig(Section):
    enabled: bool = True
    max_viewers: int = Field(
        default=8, ge=0, le=64, description="live sessions at once on this node; 0: none"
    )
    ice_servers: list[IceServer] = Field(
        default_factory=list, max_length=4, description="STUN/TURN servers; none: host candidates only (LAN)"
    )
    encode: Literal["auto", "always"] = Field(
        default="auto",
        description="auto: pass the camera's H.264 through, re-encode only what cannot be; always: re-encode",
    )
    reencode_max_width: int = Field(
        default=1280, ge=160, le=3840, description="re-encoded picture's width cap"
    )
    session_max_s: float = Field(
        default=3600, ge=10, le=86_400, description="a session ends after this long (the viewer reopens it)"
    )
    connect_timeout_s: float = Field(
        default=20, ge=2, le=120, description="a session not connected by then is closed"
    )
