"""``evidence``: snapshots, clips, face blurring and how much the node keeps."""

from __future__ import annotations

from pydantic import Field

from edge.config.base import Section


class EvidenceConfig(Section):
    """What leaves the node as evidence: snapshots, clips from the ring buffer, faces blurred."""

    snapshots: bool = True
    clips: bool = Field(default=True, description="a clip from the ring buffer for every new event")
    pre_s: float = Field(default=3.0, ge=0.0, le=60, description="clip start, seconds before the event")
    post_s: float = Field(default=4.0, ge=0.0, le=120, description="clip end, seconds after the alert")
    clip_max_s: float = Field(default=20.0, gt=0, le=300, description="longest clip; longer is cut")
    clip_max_mb: float = Field(default=8.0, gt=0, le=512, description="largest clip; bigger is re-encoded")
    clip_max_side: int = Field(default=1280, ge=160, le=4096, description="longest side of a re-encoded clip")
    max_disk_mb: float = Field(
        default=4096, gt=0, le=10_000_000, description="evidence kept on the node; the oldest files go first"
    )
    blur_faces: bool = Field(default=True, description="blur faces in snapshots and clips (off: logged)")
    face_model: str = Field(default="blazeface", description="manifest entry of the face detector")
    face_score: float = Field(default=0.5, ge=0.05, le=1.0)
    head_fallback: bool = Field(
        default=True, description="blur the head of a person the face model finds no face on"
    )
    head_min_px: int = Field(
        default=40, ge=0, le=4096, description="person box height (pixels) from which the fallback applies"
    )
