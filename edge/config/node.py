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

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError

from common.configfile import ConfigError, read_yaml, resolve_path, validate_mapping
from edge.config.base import Section
from edge.config.camera import CameraConfig
from edge.config.center import CenterLinkConfig
from edge.config.evidence import EvidenceConfig
from edge.config.live import LiveConfig
from edge.config.models import ModelsConfig
from edge.config.motion import MotionConfig
from edge.config.mqtt import MqttConfig
from edge.config.stream import RingConfig, StreamOptions
from edge.config.tracker import TrackerConfig
from edge.config.warning import VOICE_KINDS, WarningConfig
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
    warning: WarningConfig = Field(
        default_factory=WarningConfig, description="on-site warning outputs (speakers, audio, strobes)"
    )
    live: LiveConfig = Field(default_factory=LiveConfig, description="live video over WebRTC")
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
        self._warning_refs()
        return self

    def _warning_refs(self) -> None:
        """Each rule's warning names outputs the ``warning`` section has, and has something to say
        when one of them is a speaker or the PC's audio; errors carry the rule's field path."""
        errors: list[InitErrorDetails] = []
        have = ", ".join(o.id for o in self.warning.outputs) or "none"
        for i, cam in enumerate(self.cameras):
            for j, rule in enumerate(cam.rules):
                w = rule.warning
                if w is None:
                    continue
                loc: tuple[str | int, ...] = ("cameras", i, "rules", j, "warning")
                voice = False
                for k, out_id in enumerate(w.outputs):
                    out = self.warning.output(out_id)
                    if out is None:
                        msg = f"no output {out_id!r} in warning.outputs (have: {have})"
                        errors.append(_error("unknown_output", msg, (*loc, "outputs", k), out_id))
                    elif out.type in VOICE_KINDS:
                        voice = True
                if voice and not w.needs_audio():
                    msg = "a speaker or audio output needs a message (or a recorded audio file)"
                    errors.append(_error("no_message", msg, (*loc, "message"), w.message))
        if errors:
            raise ValidationError.from_exception_data("EdgeConfig", errors)

    def camera(self, camera_id: str) -> CameraConfig:
        for cam in self.cameras:
            if cam.id == camera_id:
                return cam
        raise ConfigError(
            f"no camera {camera_id!r} in the config (have: {', '.join(c.id for c in self.cameras)})"
        )


def _error(kind: str, msg: str, loc: tuple[str | int, ...], value: object) -> InitErrorDetails:
    return InitErrorDetails(type=PydanticCustomError(kind, msg), loc=loc, input=value)


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
    if cfg.warning.voice.cache_dir is not None:
        cfg.warning.voice.cache_dir = resolve_path(base, cfg.warning.voice.cache_dir)
    for out in cfg.warning.outputs:
        if out.type == "audio" and out.file is not None:
            out.file = resolve_path(base, out.file)
        elif out.type == "gpio":
            out.sysfs = resolve_path(base, out.sysfs)
    for cam in cfg.cameras:
        for rule in cam.rules:
            if rule.warning is not None and rule.warning.audio is not None:
                rule.warning.audio = resolve_path(base, rule.warning.audio)
        if "://" not in cam.url:
            cam.url = str(resolve_path(base, Path(cam.url)))
        if cam.detect_url is not None and "://" not in cam.detect_url:
            cam.detect_url = str(resolve_path(base, Path(cam.detect_url)))
    return cfg
