"""The node's config: the top-level settings, each section's model (edge/config/*.py), and loading
it from a YAML file (or from a mapping the center sent).

Errors name the file and the field path, e.g.
``configs/edge.yaml: cameras[0].zones[0].points: need at least 3 points``.
Relative paths in the file are relative to the file's own folder.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator, model_validator

from common.configfile import ConfigError, read_yaml, resolve_path, validate_mapping
from edge.config.base import Section
from edge.config.camera import CameraConfig
from edge.config.center import CenterLinkConfig
from edge.config.evidence import EvidenceConfig
from edge.config.models import ModelsConfig
from edge.config.motion import MotionConfig
from edge.config.mqtt import MqttConfig
from edge.config.stream import RingConfig, StreamOptions
from edge.config.tracker import TrackerConfig
from protocol import Id


class EdgeConfig(Section):
    site: Id
    node: Id
    timezone: str = "Asia/Shanghai"
    mqtt: MqttConfig = Field(default_factory=MqttConfig)
    models: ModelsConfig = Field(default_factory=ModelsConfig)
    analysis_fps: float = Field(default=5.0, gt=0, le=60)
    heartbeat_s: float = Field(default=10.0, ge=1, le=3600)
    evidence_dir: Path = Path("../var/edge-evidence")
    state_dir: Path = Field(default=Path("../var/edge-state"), description="the outbox and other node state")
    outbox_max_rows: int = Field(default=100_000, ge=100, le=100_000_000)
    stream: StreamOptions = Field(default_factory=StreamOptions)
    motion: MotionConfig = Field(default_factory=MotionConfig)
    tracker: TrackerConfig = Field(default_factory=TrackerConfig)
    ring: RingConfig = Field(default_factory=RingConfig)
    evidence: EvidenceConfig = Field(default_factory=EvidenceConfig)
    center: CenterLinkConfig = Field(default_factory=CenterLinkConfig)
    metrics_port: int = Field(default=9108, ge=0, le=65535, description="Prometheus /metrics; 0 = off")
    metrics_bind: str = Field(default="127.0.0.1", description="address the /metrics server listens on")
    cameras: list[CameraConfig] = Field(min_length=1)

    @field_validator("timezone")
    @classmethod
    def _tz(cls, tz: str) -> str:
        try:
            ZoneInfo(tz)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {tz!r}") from None
        return tz

    @model_validator(mode="after")
    def _unique(self) -> EdgeConfig:
        cams = [c.id for c in self.cameras]
        dup = {c for c in cams if cams.count(c) > 1}
        if dup:
            raise ValueError(f"camera id(s) {sorted(dup)} used twice")
        rules = [r.id for c in self.cameras for r in c.rules]
        dup = {r for r in rules if rules.count(r) > 1}
        if dup:
            raise ValueError(f"rule id(s) {sorted(dup)} used twice")
        return self

    def camera(self, camera_id: str) -> CameraConfig:
        for cam in self.cameras:
            if cam.id == camera_id:
                return cam
        raise ConfigError(
            f"no camera {camera_id!r} in the config (have: {', '.join(c.id for c in self.cameras)})"
        )


def load_edge_config(path: str | Path) -> EdgeConfig:
    """Load and validate an edge config; raises ConfigError with a readable message."""
    path = Path(path)
    return parse_edge_config(read_yaml(path), str(path), path.resolve().parent)


def parse_edge_config(data: Any, source: str, base: Path) -> EdgeConfig:
    """Validate a config mapping (a file's, or one the center sent); relative paths against ``base``."""
    cfg = validate_mapping(EdgeConfig, data, source)
    cfg.models.manifest = resolve_path(base, cfg.models.manifest)
    cfg.evidence_dir = resolve_path(base, cfg.evidence_dir)
    cfg.state_dir = resolve_path(base, cfg.state_dir)
    if cfg.center.ca_file is not None:
        cfg.center.ca_file = resolve_path(base, cfg.center.ca_file)
    if cfg.mqtt.tls is not None:
        cfg.mqtt.tls = cfg.mqtt.tls.resolved(base)
        for name, file in cfg.mqtt.tls.missing_files():
            raise ConfigError(f"{source}: mqtt.tls.{name}: no such file: {file}")
    for cam in cfg.cameras:
        if "://" not in cam.url:
            cam.url = str(resolve_path(base, Path(cam.url)))
        if cam.detect_url is not None and "://" not in cam.detect_url:
            cam.detect_url = str(resolve_path(base, Path(cam.detect_url)))
    return cfg
