"""Edge node configuration: YAML validated by pydantic, unknown keys rejected.

Errors name the file and the field path, e.g.
``configs/edge.yaml: cameras[0].zones[0].points: need at least 3 points``.
Relative paths in the file are relative to the file's own folder.
"""

from __future__ import annotations

import re
from datetime import date, time
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)

from protocol import RuleType, Severity
from protocol.tls import TlsConfig

Id = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.\-]{1,64}$")]
Point = tuple[float, float]

_TIME_RANGE = re.compile(r"^(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})$")
_WEEKDAYS = {"mon": 0, "tue": 1, "wed": 2, "thu": 3, "fri": 4, "sat": 5, "sun": 6}


class ConfigError(Exception):
    """A configuration problem a user can fix; its message is one clear line."""


class _Cfg(BaseModel):
    model_config = ConfigDict(extra="forbid")


class MqttConfig(_Cfg):
    host: str = "127.0.0.1"
    port: int = Field(default=1883, ge=1, le=65535)
    username: str | None = None
    password_env: str | None = Field(default=None, description="name of the environment variable holding it")
    client_id: str | None = None
    keepalive: int = Field(default=30, ge=5, le=3600)
    qos: Literal[0, 1] = 1
    tls: TlsConfig | None = None


class TimeRange(_Cfg):
    start: time
    end: time  # end <= start means the range runs past midnight; 24:00 is written as end of day
    end_of_day: bool = False

    @classmethod
    def parse(cls, text: str) -> TimeRange:
        m = _TIME_RANGE.match(text.strip())
        if not m:
            raise ValueError(f"time range {text!r} is not HH:MM-HH:MM")
        h1, m1, h2, m2 = (int(g) for g in m.groups())
        if h1 > 23 or m1 > 59 or h2 > 24 or m2 > 59 or (h2 == 24 and m2 != 0):
            raise ValueError(f"time range {text!r} has an impossible time")
        return cls(start=time(h1, m1), end=time(0, 0) if h2 == 24 else time(h2, m2), end_of_day=h2 == 24)

    def contains(self, t: time) -> bool:
        if self.end_of_day:
            return t >= self.start
        if self.start < self.end:
            return self.start <= t < self.end
        return t >= self.start or t < self.end  # overnight


class Schedule(_Cfg):
    """When a rule is armed: weekdays and time ranges in the site's time zone, with date exceptions."""

    weekdays: list[str] = Field(default_factory=lambda: list(_WEEKDAYS))
    times: list[str] = Field(default_factory=lambda: ["00:00-24:00"])
    except_dates: list[date] = Field(default_factory=list, description="dates on which the rule is off")
    only_dates: list[date] = Field(default_factory=list, description="extra dates on which it is on all day")

    @field_validator("weekdays")
    @classmethod
    def _days(cls, days: list[str]) -> list[str]:
        bad = [d for d in days if d.lower()[:3] not in _WEEKDAYS]
        if bad:
            raise ValueError(f"unknown weekday(s) {bad}; use mon tue wed thu fri sat sun")
        return [d.lower()[:3] for d in days]

    @field_validator("times")
    @classmethod
    def _times(cls, ranges: list[str]) -> list[str]:
        for r in ranges:
            TimeRange.parse(r)
        return ranges

    def ranges(self) -> list[TimeRange]:
        return [TimeRange.parse(r) for r in self.times]

    def weekday_numbers(self) -> set[int]:
        return {_WEEKDAYS[d] for d in self.weekdays}


class ZoneConfig(_Cfg):
    id: Id
    name: str = ""
    points: list[Point] = Field(description="polygon, normalised 0–1 coordinates")

    @field_validator("points")
    @classmethod
    def _polygon(cls, points: list[Point]) -> list[Point]:
        if len(points) < 3:
            raise ValueError("need at least 3 points")
        for x, y in points:
            if not (0.0 <= x <= 1.0 and 0.0 <= y <= 1.0):
                raise ValueError(f"point ({x}, {y}) is outside 0–1 (zone points are normalised)")
        return points


class RuleConfig(_Cfg):
    id: Id
    type: RuleType
    name: str = ""
    zone: Id | None = None
    classes: list[str] = Field(default_factory=lambda: ["person"], min_length=1)
    severity: Severity = Severity.GENERAL
    schedule: Schedule = Field(default_factory=Schedule)
    min_score: float = Field(default=0.4, ge=0.0, le=1.0)
    anchor: Literal["bottom_center", "center"] = "bottom_center"
    confirm_frames: int = Field(
        default=3, ge=1, le=1000, description="consecutive analysed frames to confirm"
    )
    end_after_s: float = Field(default=3.0, ge=0.0, le=3600, description="absence that ends the event")
    cooldown_s: float = Field(default=30.0, ge=0.0, le=86400, description="quiet time after an end")
    update_interval_s: float = Field(default=5.0, ge=0.5, le=3600)
    min_count: int = Field(default=1, ge=1, le=10_000, description="objects needed in the zone")


class MotionConfig(_Cfg):
    """Motion gating: skip inference while the scene is still (differencing on a small grey frame)."""

    enabled: bool = True
    width: int = Field(default=96, ge=16, le=640, description="grey frame the difference is taken on")
    height: int = Field(default=72, ge=12, le=480)
    pixel_delta: int = Field(default=20, ge=1, le=255, description="grey-level change that counts a pixel")
    threshold: float = Field(
        default=0.001, ge=0.0, le=1.0, description="fraction of changed pixels that means motion"
    )
    max_skip_s: float = Field(default=2.0, ge=0.0, le=3600, description="run inference at least this often")


class TrackerConfig(_Cfg):
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


class RingConfig(_Cfg):
    """The last seconds of each camera's main stream, kept compressed (H.264 packets) for clips."""

    enabled: bool = True
    seconds: float = Field(default=10.0, gt=0, le=600)
    max_mb: float = Field(default=16.0, gt=0, le=4096)


class CameraConfig(_Cfg):
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


class ModelsConfig(_Cfg):
    manifest: Path = Path("../models/manifest.yaml")
    detector: str = "nanodet-coco"
    threads: int = Field(default=0, ge=0, le=256, description="intra-op threads, 0 = ONNX Runtime default")
    providers: list[str] = Field(default_factory=lambda: ["CPUExecutionProvider"])
    score_threshold: float = Field(default=0.3, ge=0.0, le=1.0)
    nms_iou: float = Field(default=0.5, gt=0.0, le=1.0)


class StreamOptions(_Cfg):
    rtsp_transport: Literal["tcp", "udp"] = "tcp"
    open_timeout_s: float = Field(default=10.0, gt=0, le=120)
    read_timeout_s: float = Field(default=5.0, gt=0, le=120)
    stall_timeout_s: float = Field(default=5.0, gt=0, le=600, description="no frame this long → reconnect")
    backoff_initial_s: float = Field(default=1.0, gt=0, le=60)
    backoff_max_s: float = Field(default=3.0, gt=0, le=3600)


class EdgeConfig(_Cfg):
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


def format_location(loc: tuple[int | str, ...]) -> str:
    """``('cameras', 0, 'zones', 1, 'points')`` → ``cameras[0].zones[1].points``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part in {"function-after", "function-before"} or "[" in str(part):
            continue
        else:
            out += f".{part}" if out else str(part)
    return out or "(top level)"


def format_validation_error(source: str, err: ValidationError) -> str:
    lines = []
    for e in err.errors():
        msg = e["msg"].removeprefix("Value error, ")
        if e["type"] == "extra_forbidden":
            msg = "unknown key"
        lines.append(f"{source}: {format_location(tuple(e['loc']))}: {msg}")
    return "\n".join(lines)


def read_yaml(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"{path}: not valid YAML{where}: {problem}") from None


def load_edge_config(path: str | Path) -> EdgeConfig:
    """Load and validate an edge config; raises ConfigError with a readable message."""
    path = Path(path)
    data = read_yaml(path)
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    try:
        cfg = EdgeConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(str(path), exc)) from None
    base = path.resolve().parent
    cfg.models.manifest = _resolve(base, cfg.models.manifest)
    cfg.evidence_dir = _resolve(base, cfg.evidence_dir)
    cfg.state_dir = _resolve(base, cfg.state_dir)
    if cfg.mqtt.tls is not None:
        cfg.mqtt.tls = cfg.mqtt.tls.resolved(base)
        for name, file in cfg.mqtt.tls.missing_files():
            raise ConfigError(f"{path}: mqtt.tls.{name}: no such file: {file}")
    for cam in cfg.cameras:
        if "://" not in cam.url:
            cam.url = str(_resolve(base, Path(cam.url)))
        if cam.detect_url is not None and "://" not in cam.detect_url:
            cam.detect_url = str(_resolve(base, Path(cam.detect_url)))
    return cfg


def _resolve(base: Path, p: Path) -> Path:
    p = p.expanduser()
    return p if p.is_absolute() else (base / p).resolve()
