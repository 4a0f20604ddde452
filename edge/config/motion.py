"""``motion`` (node default, per camera too): motion gating."""

from __future__ import annotations

from pydantic import Field

from edge.config.base import Section


class MotionConfig(Section):
    """Motion gating: skip inference while the scene is still (differencing on a small grey frame)."""

    enabled: bool = True
    width: int = Field(default=96, ge=16, le=640, description="grey frame the difference is taken on")
    height: int = Field(default=72, ge=12, le=480)
    pixel_delta: int = Field(default=20, ge=1, le=255, description="grey-level change that counts a pixel")
    threshold: float = Field(
        default=0.001, ge=0.0, le=1.0, description="fraction of changed pixels that means motion"
    )
    max_skip_s: float = Field(default=2.0, ge=0.0, le=3600, description="run inference at least this often")
