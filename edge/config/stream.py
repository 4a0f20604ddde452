"""``stream`` and ``ring``: how camera streams are read, and how much of each is kept for clips."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from edge.config.base import Section


class StreamOptions(Section):
    rtsp_transport: Literal["tcp", "udp"] = "tcp"
    open_timeout_s: float = Field(default=10.0, gt=0, le=120)
    read_timeout_s: float = Field(default=5.0, gt=0, le=120)
    stall_timeout_s: float = Field(default=5.0, gt=0, le=600, description="no frame this long → reconnect")
    backoff_initial_s: float = Field(default=1.0, gt=0, le=60)
    backoff_max_s: float = Field(default=3.0, gt=0, le=3600)


class RingConfig(Section):
    """The last seconds of each camera's main stream, kept compressed (H.264 packets) for clips."""

    enabled: bool = True
    seconds: float = Field(default=10.0, gt=0, le=600)
    max_mb: float = Field(default=16.0, gt=0, le=4096)
