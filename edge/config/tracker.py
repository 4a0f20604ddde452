"""``tracker``: ByteTrack settings."""

from __future__ import annotations

from pydantic import Field

from edge.config.base import Section


class TrackerConfig(Section):
    """ByteTrack (supervision) per camera; its frame rate is the camera's analysis rate."""

    enabled: bool = True
    activation_threshold: float = Field(default=0.25, ge=0.0, le=1.0)
    matching_threshold: float = Field(default=0.8, gt=0.0, le=1.0)
    lost_track_s: float = Field(default=2.0, gt=0.0, le=600, description="how long a lost track is kept")
    min_consecutive_frames: int = Field(default=1, ge=1, le=100)
    match_buffer: float | None = Field(
        default=None, ge=0.0, le=4.0, description="grow boxes by this share for matching; None = by fps"
    )
    history: int = Field(default=32, ge=2, le=10_000, description="positions kept per track")
    labels: list[str] | None = Field(
        default=None, description="labels to track; default: the model's semantic labels (label_map)"
    )
