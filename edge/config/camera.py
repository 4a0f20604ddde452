"""``cameras[]``: one camera, its zones and its rules (each rule type's config is in its module
in edge/rules/, joined by edge/rules/registry.py)."""

from __future__ import annotations

from pydantic import Field, field_validator, model_validator

from edge.config.base import Section
from edge.config.motion import MotionConfig
from edge.detect.geometry import Point, check_normalised
from edge.rules.registry import RuleConfig
from protocol import Id


class ZoneConfig(Section):
    id: Id
    name: str = ""
    points: list[Point] = Field(description="polygon, normalised 0–1 coordinates")

    @field_validator("points")
    @classmethod
    def _polygon(cls, points: list[Point]) -> list[Point]:
        if len(points) < 3:
            raise ValueError("need at least 3 points")
        check_normalised(points, "zone")
        return points


class CameraConfig(Section):
    id: Id
    name: str = ""
    enterprise: Id | None = None
    url: str = Field(description="rtsp://… or a video file path (files loop)")
    analysis_fps: float | None = Field(default=None, gt=0, le=60)
    detect_url: str | None = Field(
        default=None, description="sub-stream for detection; the main stream (url) feeds the ring buffer"
    )
    motion: MotionConfig | None = Field(
        default=None, description="this camera's motion gating (default: node's)"
    )
    zones: list[ZoneConfig] = Field(default_factory=list)
    rules: list[RuleConfig] = Field(default_factory=list)
    enabled: bool = True

    @field_validator("url", "detect_url")
    @classmethod
    def _url(cls, url: str | None) -> str | None:
        if url is None:
            return None
        url = url.strip()
        if "://" in url:
            scheme = url.split("://", 1)[0].lower()
            if scheme not in {"rtsp", "rtsps", "rtmp", "http", "https", "file", "udp", "srt"}:
                raise ValueError(f"unsupported URL scheme {scheme!r} (use rtsp:// or a file path)")
            if scheme != "file" and not url.split("://", 1)[1].strip("/"):
                raise ValueError(f"URL {url!r} has no host")
        elif not url:
            raise ValueError("empty URL")
        return url

    @model_validator(mode="after")
    def _refs(self) -> CameraConfig:
        zone_ids = [z.id for z in self.zones]
        dup = {z for z in zone_ids if zone_ids.count(z) > 1}
        if dup:
            raise ValueError(f"zone id(s) {sorted(dup)} used twice")
        for rule in self.rules:
            if rule.zone is not None and rule.zone not in zone_ids:
                raise ValueError(
                    f"rule {rule.id!r} names zone {rule.zone!r}, which this camera does not have"
                )
        return self
