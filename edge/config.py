"""Edge node configuration: YAML validated by pydantic, unknown keys rejected.

Errors name the file and the field path, e.g.
``configs/edge.yaml: cameras[0].zones[0].points: need at least 3 points``.
Relative paths in the file are relative to the file's own folder.
"""

from __future__ import annotations

import re
from datetime import date, time
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from common.configfile import (
    ConfigError,
    read_yaml,
    resolve_path,
    validate_mapping,
)
from protocol import Id, RuleType, Severity
from protocol.tls import TlsConfig

Point = tuple[float, float]

_TIME_RANGE = re.compile(r"^(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})$")
_WEEKDAYS = {"mon": 0, "tue": 1, "wed": 2, "thu": 3, "fri": 4, "sat": 5, "sun": 6}


class _Cfg(BaseModel):
    model_config = ConfigDict(extra="forbid")


class MqttConfig(_Cfg):
    host: str = "127.0.0.1"
    port: int = Field(default=1883, ge=1, le=65535)
    username: str | None = None
    password_env: str | None = Field(default=None, description="name of the environment variable holding it")
    client_id: str | None = None
    protocol: Literal["auto", "5", "3.1.1"] = Field(
        default="auto", description="MQTT version; auto: 5 if the broker speaks it (probed), else 3.1.1"
    )
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


class FallConfig(_Cfg):
    """man_down: what counts as lying, as a fall and as still (see docs/rules.md)."""

    torso_angle_deg: float = Field(
        default=60.0, ge=20.0, le=89.0, description="torso (hips → shoulders) this far from vertical = lying"
    )
    aspect_ratio: float = Field(
        default=1.0,
        ge=0.3,
        le=5.0,
        description="without a usable pose: box width/height (pixels) above this = lying",
    )
    window_s: float = Field(
        default=3.0, gt=0.0, le=60.0, description="the person was upright at most this long before going down"
    )
    min_drop: float = Field(
        default=0.3,
        ge=0.0,
        le=1.0,
        description="in the fall the hips (or the box top) drop by this share of the standing height",
    )
    aspect_growth: float = Field(
        default=2.0,
        ge=1.0,
        le=20.0,
        description="or, in the fall, box width/height grows by this factor (falling towards the camera)",
    )
    require_fall: bool = Field(
        default=True, description="false: a person found lying (never seen upright) counts too"
    )
    still_tolerance: float = Field(
        default=0.5, gt=0.0, le=10.0, description="feet may move this many lying-box heights while down"
    )


class PpeBaselineConfig(_Cfg):
    """missing_ppe ``provider: baseline``: per-camera calibration of the colour/shape check
    (edge/rules/ppe.py). Hues in degrees 0–360, saturation and value 0–1. A baseline, not a trained model."""

    vest_hues_deg: list[tuple[float, float]] = Field(
        default_factory=lambda: [(45.0, 90.0)], min_length=1, description="hi-vis hue ranges (yellow-green)"
    )
    vest_min_saturation: float = Field(default=0.5, ge=0.0, le=1.0)
    vest_min_value: float = Field(default=0.45, ge=0.0, le=1.0)
    vest_min_fraction: float = Field(
        default=0.2, gt=0.0, le=1.0, description="share of torso pixels in hi-vis colours that means a vest"
    )
    helmet_hues_deg: list[tuple[float, float]] = Field(
        default_factory=lambda: [(0.0, 70.0), (190.0, 250.0), (330.0, 360.0)],
        description="coloured hard hat hue ranges (red/orange/yellow, blue)",
    )
    helmet_min_saturation: float = Field(default=0.5, ge=0.0, le=1.0)
    helmet_min_value: float = Field(default=0.45, ge=0.0, le=1.0)
    helmet_white: bool = Field(default=True, description="white hats count (saturation < 0.2, value > 0.75)")
    helmet_min_fraction: float = Field(
        default=0.1, gt=0.0, le=1.0, description="share of the region above the head that the hat blob covers"
    )
    helmet_min_width: float = Field(
        default=0.6,
        gt=0.0,
        le=2.0,
        description="the coloured blob spans at least this share of the head width",
    )
    min_person_px: int = Field(
        default=80, ge=16, le=4000, description="smaller people (box height) are not judged"
    )
    min_keypoint_score: float = Field(default=0.3, ge=0.0, le=1.0)

    @field_validator("vest_hues_deg", "helmet_hues_deg")
    @classmethod
    def _hues(cls, ranges: list[tuple[float, float]]) -> list[tuple[float, float]]:
        for lo, hi in ranges:
            if not (0.0 <= lo < hi <= 360.0):
                raise ValueError(f"hue range ({lo}, {hi}) must satisfy 0 <= low < high <= 360")
        return ranges


# Fields of one rule type only (None for the other types): per type that uses one, its default
# (a value, copied; a class, instantiated), or REQUIRED, or OPTIONAL (stays None when not given).
REQUIRED, OPTIONAL = "<required>", "<optional>"
_TYPE_FIELDS: dict[str, dict[RuleType, Any]] = {
    "min_count": {
        RuleType.INTRUSION: 1,
        RuleType.POST_UNATTENDED: 1,
        RuleType.SMOKING: 1,
        RuleType.FIRE_SMOKE: 1,
    },
    "max_count": {RuleType.OVERCROWDING: REQUIRED},
    "duration_s": {RuleType.POST_UNATTENDED: REQUIRED, RuleType.LOITERING: REQUIRED, RuleType.MAN_DOWN: 3.0},
    "gap_s": {RuleType.LOITERING: 2.0},
    "fall": {RuleType.MAN_DOWN: FallConfig},
    "phone_classes": {RuleType.PHONE_USE: ["phone"]},
    "reach": {RuleType.PHONE_USE: 0.15},
    "vehicle_classes": {RuleType.VEHICLE_PROXIMITY: ["vehicle"]},
    "distance": {RuleType.VEHICLE_PROXIMITY: 1.0},
    "homography": {RuleType.VEHICLE_PROXIMITY: OPTIONAL},
    "distance_m": {RuleType.VEHICLE_PROXIMITY: OPTIONAL},
    "min_speed": {RuleType.VEHICLE_PROXIMITY: OPTIONAL},  # default set by _min_speed
    "line": {RuleType.LINE_CROSSING: REQUIRED},
    "direction": {RuleType.LINE_CROSSING: "any"},
    "ppe": {RuleType.MISSING_PPE: REQUIRED},
    "provider": {RuleType.MISSING_PPE: "model"},
    "baseline": {RuleType.MISSING_PPE: OPTIONAL},  # default set by _baseline
}
_DEFAULT_CLASSES: dict[RuleType, list[str]] = {
    RuleType.SMOKING: ["smoking"],
    RuleType.FIRE_SMOKE: ["fire", "smoke"],
}
_ZONE_REQUIRED = {RuleType.INTRUSION, RuleType.POST_UNATTENDED}
_ZONE_REFUSED = {RuleType.LINE_CROSSING}
_DEFAULT_CONFIRM_FRAMES = 3
BASELINE_TAG = "[PPE baseline 基线]"


class RuleConfig(_Cfg):
    """One rule of one camera. Common fields first, then each type's own (docs/rules.md).

    Type-specific fields are ``None`` for the types that do not use them; giving one to such a
    type is refused, and a missing required one is refused, both naming the field.
    """

    id: Id
    type: RuleType
    name: str = ""
    zone: Id | None = Field(
        default=None, validate_default=True, description="zone id; none = whole frame (where allowed)"
    )
    classes: list[str] = Field(
        default=None,  # type: ignore[assignment]  # filled per type by the validator
        validate_default=True,
        min_length=1,
        description="semantic labels watched (default per type: person; smoking; fire, smoke)",
    )
    severity: Severity = Severity.GENERAL
    schedule: Schedule = Field(default_factory=Schedule)
    min_score: float = Field(default=0.4, ge=0.0, le=1.0)
    anchor: Literal["bottom_center", "center"] = "bottom_center"
    confirm_s: float | None = Field(
        default=None,
        gt=0.0,
        le=3600,
        description="seconds the condition must hold (instead of confirm_frames)",
    )
    confirm_frames: int = Field(
        default=None,  # type: ignore[assignment]  # 3, or 1 with confirm_s
        validate_default=True,
        ge=1,
        le=1000,
        description="consecutive analysed frames to confirm",
    )
    end_after_s: float = Field(default=3.0, ge=0.0, le=3600, description="absence that ends the event")
    cooldown_s: float = Field(default=30.0, ge=0.0, le=86400, description="quiet time after an end")
    update_interval_s: float = Field(default=5.0, ge=0.5, le=3600)
    # -- type-specific ---------------------------------------------------------------------
    min_count: int | None = Field(
        default=None,
        validate_default=True,
        ge=1,
        le=10_000,
        description="intrusion: objects needed in the zone; post_unattended: people the post needs",
    )
    max_count: int | None = Field(
        default=None, validate_default=True, ge=0, le=10_000, description="overcrowding: most people allowed"
    )
    duration_s: float | None = Field(
        default=None,
        validate_default=True,
        gt=0.0,
        le=86400,
        description="post_unattended: time short of people; loitering: dwell; man_down: time down and still",
    )
    gap_s: float | None = Field(
        default=None,
        validate_default=True,
        ge=0.0,
        le=600,
        description="loitering: absence from the zone that restarts a track's dwell time",
    )
    fall: FallConfig | None = Field(default=None, validate_default=True, description="man_down tuning")
    phone_classes: list[str] | None = Field(
        default=None, validate_default=True, min_length=1, description="phone_use: labels that are phones"
    )
    reach: float | None = Field(
        default=None,
        validate_default=True,
        gt=0.0,
        le=2.0,
        description="phone_use: phone to wrist/nose/ear distance, in person heights",
    )
    vehicle_classes: list[str] | None = Field(
        default=None,
        validate_default=True,
        min_length=1,
        description="vehicle_proximity: labels that are vehicles",
    )
    distance: float | None = Field(
        default=None,
        validate_default=True,
        gt=0.0,
        le=50.0,
        description="vehicle_proximity: largest allowed feet-to-vehicle gap, in person heights",
    )
    homography: list[list[float]] | None = Field(
        default=None,
        validate_default=True,
        description="vehicle_proximity: 3×3 matrix, image-normalised (x, y) → ground-plane metres",
    )
    distance_m: float | None = Field(
        default=None,
        validate_default=True,
        gt=0.0,
        le=1000.0,
        description="vehicle_proximity with homography: largest allowed gap in metres",
    )
    min_speed: float | None = Field(
        default=None,
        validate_default=True,
        ge=0.0,
        le=100.0,
        description="vehicle_proximity: moving = faster than this (m/s with homography, else box heights/s)",
    )
    line: list[Point] | None = Field(
        default=None, validate_default=True, description="line_crossing: tripwire [[x1, y1], [x2, y2]], 0–1"
    )
    direction: Literal["any", "a_to_b", "b_to_a"] | None = Field(
        default=None,
        validate_default=True,
        description="line_crossing: a_to_b = from the left of the line (seen from point 1 to 2) to its right",
    )
    ppe: list[Literal["helmet", "vest"]] | None = Field(
        default=None, validate_default=True, description="missing_ppe: what must be worn"
    )
    provider: Literal["model", "baseline"] | None = Field(
        default=None,
        validate_default=True,
        description="missing_ppe: a PPE model, or the colour/pose baseline",
    )
    baseline: PpeBaselineConfig | None = Field(
        default=None, validate_default=True, description="missing_ppe baseline: per-camera calibration"
    )

    @field_validator("zone")
    @classmethod
    def _zone(cls, zone: str | None, info: Any) -> str | None:
        kind = info.data.get("type")
        if zone is None and kind in _ZONE_REQUIRED:
            raise ValueError(f"{kind.value} rules need a zone")
        if zone is not None and kind in _ZONE_REFUSED:
            raise ValueError(f"{kind.value} rules use their line, not a zone")
        return zone

    @field_validator("classes", mode="before")
    @classmethod
    def _classes(cls, classes: list[str] | None, info: Any) -> list[str]:
        if classes is None:
            return list(_DEFAULT_CLASSES.get(info.data.get("type"), ["person"]))  # type: ignore[arg-type]
        return classes

    @field_validator("confirm_frames", mode="before")
    @classmethod
    def _confirm(cls, frames: int | None, info: Any) -> int:
        confirm_s = info.data.get("confirm_s")
        if confirm_s is not None:
            if frames not in (None, 1):
                raise ValueError("give confirm_frames or confirm_s, not both")
            return 1
        return _DEFAULT_CONFIRM_FRAMES if frames is None else frames

    @field_validator(*_TYPE_FIELDS)
    @classmethod
    def _own(cls, value: Any, info: Any) -> Any:
        kind = info.data.get("type")
        if kind is None:  # the type itself is wrong: that error is enough
            return value
        uses = _TYPE_FIELDS[info.field_name]
        if kind not in uses:
            if value is not None:
                users = ", ".join(t.value for t in uses)
                raise ValueError(f"not used by {kind.value} rules (only by: {users})")
            return None
        default = uses[kind]
        if value is not None:
            return value
        if default == REQUIRED:
            raise ValueError(f"{kind.value} rules need {info.field_name}")
        if default == OPTIONAL:
            return None
        if isinstance(default, type):
            return default()
        return list(default) if isinstance(default, list) else default

    @field_validator("line")
    @classmethod
    def _line(cls, line: list[Point] | None) -> list[Point] | None:
        if line is None:
            return None
        if len(line) != 2:
            raise ValueError(f"a line is two points [[x1, y1], [x2, y2]], got {len(line)}")
        for x, y in line:
            if not (0.0 <= x <= 1.0 and 0.0 <= y <= 1.0):
                raise ValueError(f"point ({x}, {y}) is outside 0–1 (line points are normalised)")
        (x1, y1), (x2, y2) = line
        if abs(x2 - x1) + abs(y2 - y1) < 0.01:
            raise ValueError("the two points are (almost) the same: no line")
        return line

    @field_validator("homography")
    @classmethod
    def _homography(cls, h: list[list[float]] | None) -> list[list[float]] | None:
        if h is None:
            return None
        if len(h) != 3 or any(len(row) != 3 for row in h):
            raise ValueError("need a 3×3 matrix (three rows of three numbers)")
        if any(v != v or abs(v) == float("inf") for row in h for v in row):
            raise ValueError("all nine numbers must be finite")
        det = (
            h[0][0] * (h[1][1] * h[2][2] - h[1][2] * h[2][1])
            - h[0][1] * (h[1][0] * h[2][2] - h[1][2] * h[2][0])
            + h[0][2] * (h[1][0] * h[2][1] - h[1][1] * h[2][0])
        )
        if abs(det) < 1e-12:
            raise ValueError("the matrix is singular (determinant 0): not a homography")
        return h

    @field_validator("distance_m")
    @classmethod
    def _distance_m(cls, d: float | None, info: Any) -> float | None:
        if info.data.get("type") is RuleType.VEHICLE_PROXIMITY:
            has_h = info.data.get("homography") is not None
            if has_h and d is None:
                raise ValueError("a homography measures in metres: give distance_m too")
            if d is not None and not has_h and "homography" in info.data:
                raise ValueError("distance_m needs a homography (image → ground metres)")
        return d

    @field_validator("min_speed")
    @classmethod
    def _min_speed(cls, v: float | None, info: Any) -> float | None:
        if info.data.get("type") is RuleType.VEHICLE_PROXIMITY and v is None:
            return 0.5 if info.data.get("homography") is not None else 0.2
        return v

    @field_validator("ppe")
    @classmethod
    def _ppe(cls, ppe: list[str] | None) -> list[str] | None:
        if ppe is not None:
            if not ppe:
                raise ValueError("name at least one of helmet, vest")
            if len(set(ppe)) != len(ppe):
                raise ValueError(f"{ppe}: an item is named twice")
        return ppe

    @field_validator("baseline")
    @classmethod
    def _baseline(cls, b: PpeBaselineConfig | None, info: Any) -> PpeBaselineConfig | None:
        provider = info.data.get("provider")
        if info.data.get("type") is not RuleType.MISSING_PPE:
            return b
        if provider == "baseline":
            return b or PpeBaselineConfig()
        if b is not None and "provider" in info.data:
            raise ValueError("calibration for provider: baseline; this rule's provider is 'model'")
        return b

    @model_validator(mode="after")
    def _label_baseline(self) -> RuleConfig:
        # the PPE baseline is a heuristic: say so wherever the rule's name shows (events, UI)
        if self.provider == "baseline" and BASELINE_TAG not in self.name:
            self.name = f"{self.name} {BASELINE_TAG}".strip()
        return self


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


class EvidenceConfig(_Cfg):
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


class CenterLinkConfig(_Cfg):
    """HTTP link to the control center, for evidence uploads (PUT /api/evidence/{sha256})."""

    url: str | None = Field(default=None, description="http(s)://center:8000; none = no upload")
    token_env: str = Field(
        default="PARKGUARD_EDGE_TOKEN", description="environment variable holding the node's bearer token"
    )
    timeout_s: float = Field(default=20.0, gt=0, le=600)
    backoff_initial_s: float = Field(default=1.0, gt=0, le=600)
    backoff_max_s: float = Field(default=60.0, gt=0, le=3600)
    queue_max: int = Field(default=10_000, ge=10, le=10_000_000, description="uploads kept waiting at most")
    ca_file: Path | None = Field(default=None, description="CA of the center's HTTPS certificate")

    @field_validator("url")
    @classmethod
    def _http(cls, url: str | None) -> str | None:
        if url is None:
            return None
        url = url.strip().rstrip("/")
        if not re.match(r"^https?://[^/\s]+", url):
            raise ValueError(f"{url!r} is not an http:// or https:// URL")
        return url


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
    extra_detectors: list[str] = Field(
        default_factory=list,
        description="more models from the manifest run on every analysed frame (e.g. a trained PPE "
        "model); their detections join the main model's",
    )
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
