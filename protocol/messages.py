"""Message models of wire contract v1 (pydantic v2).

Times on the wire are UTC epoch milliseconds. Boxes are normalised to 0–1 of the frame
(``[x1, y1, x2, y2]``) so they survive a change of stream resolution.
"""

from __future__ import annotations

import re
import time
from enum import StrEnum
from typing import Annotated, Any, Final, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    StringConstraints,
    field_validator,
    model_serializer,
    model_validator,
)

from protocol.ids import Id

PROTOCOL_VERSION: Final = 1

EpochMs = Annotated[int, Field(ge=0, le=32_503_680_000_000)]  # up to year 3000
Unit = Annotated[float, Field(ge=0.0, le=1.0)]
_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def now_ms() -> int:
    return int(time.time() * 1000)


class _Msg(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=False, str_max_length=512)


class EventPhase(StrEnum):
    NEW = "new"
    UPDATE = "update"
    END = "end"


class Severity(StrEnum):
    """一般 / 较大 / 重大."""

    GENERAL = "general"
    SIGNIFICANT = "significant"
    MAJOR = "major"

    @property
    def rank(self) -> int:
        """0 (一般) < 1 (较大) < 2 (重大): for comparing and for eviction order."""
        return SEVERITY_RANK[self]


#: severity → rank, for code that holds the plain string (``SEVERITY_RANK["major"] == 2``)
SEVERITY_RANK: dict[str, int] = {Severity.GENERAL: 0, Severity.SIGNIFICANT: 1, Severity.MAJOR: 2}


class RuleType(StrEnum):
    INTRUSION = "intrusion"
    POST_UNATTENDED = "post_unattended"
    OVERCROWDING = "overcrowding"
    LOITERING = "loitering"
    MAN_DOWN = "man_down"
    PHONE_USE = "phone_use"
    VEHICLE_PROXIMITY = "vehicle_proximity"
    LINE_CROSSING = "line_crossing"
    MISSING_PPE = "missing_ppe"
    SMOKING = "smoking"
    FIRE_SMOKE = "fire_smoke"


class DetectedObject(_Msg):
    label: Annotated[str, StringConstraints(min_length=1, max_length=32)]
    score: Unit
    box: tuple[Unit, Unit, Unit, Unit] = Field(description="[x1, y1, x2, y2], normalised 0–1")
    track: int | None = Field(default=None, ge=0)

    @field_validator("box")
    @classmethod
    def _ordered(cls, box: tuple[float, float, float, float]) -> tuple[float, float, float, float]:
        if box[0] > box[2] or box[1] > box[3]:
            raise ValueError("box must be [x1, y1, x2, y2] with x1 <= x2 and y1 <= y2")
        return box


class EvidenceItem(_Msg):
    kind: Literal["snapshot", "clip"]
    sha256: Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]
    content_type: Literal["image/jpeg", "video/mp4"]
    size: int = Field(ge=0, le=512 * 1024 * 1024)


# Kept as a name for the evidence reference carried by an event.
EvidenceRef = EvidenceItem


class WarningOutcome(StrEnum):
    """What became of an event's on-site warning (现场提醒: voice and light at the post)."""

    QUEUED = "queued"  # accepted, the outputs are playing it (a later message tells the result)
    PLAYED = "played"  # every output played it
    PARTIAL = "partial"  # some outputs played it, some failed
    FAILED = "failed"  # no output played it
    RATE_LIMITED = "rate_limited"  # a repeat within min_interval_s, or over max_per_hour
    OUTSIDE_SCHEDULE = "outside_schedule"  # outside the warning's schedule
    DROPPED = "dropped"  # the outputs' queues were full (a slow or dead device)


class WarningOutputKind(StrEnum):
    SPEAKER_HTTP = "speaker_http"  # an IP speaker's HTTP interface
    AUDIO = "audio"  # the industrial PC's audio output (ALSA / PulseAudio / a WAV file sink)
    MODBUS = "modbus"  # a strobe or siren's coil through Modbus TCP
    GPIO = "gpio"  # a strobe or siren on a GPIO line


class WarningOutputResult(_Msg):
    """One output's part in a warning."""

    output: Id
    name: Annotated[str, StringConstraints(max_length=64)] = ""
    kind: WarningOutputKind
    ok: bool
    ms: EpochMs | None = Field(default=None, description="when it started playing / switched on")
    error: Annotated[str, StringConstraints(max_length=200)] | None = None


class WarningRecord(_Msg):
    """What was played at the post for an event, when and why (or why not)."""

    outcome: WarningOutcome
    message: Annotated[str, StringConstraints(max_length=100)] = Field(
        default="", description="the voice message (请佩戴安全帽), empty for light only"
    )
    reason: Annotated[str, StringConstraints(max_length=200)] = Field(
        default="", description="why this outcome (the rate limit hit, the schedule, the queue)"
    )
    decided_ms: EpochMs = Field(description="when the node decided (the event's new message)")
    outputs: list[WarningOutputResult] = Field(default_factory=list, max_length=8)


def _drop_none(data: dict[str, Any], *keys: str) -> dict[str, Any]:
    """Fields added to v1 later are left out when empty, so a center or node that predates them
    (its models refuse unknown keys) still takes the message."""
    for key in keys:
        if data.get(key) is None:
            data.pop(key, None)
    return data


class AlertEvent(_Msg):
    """One unsafe situation, told as ``new`` → ``update``… → ``end`` under one event id."""

    v: Literal[1] = PROTOCOL_VERSION
    event_id: str = Field(description="UUIDv7, the same for the whole life of the event")
    phase: EventPhase
    seq: int = Field(ge=0, le=1_000_000_000, description="message number within the event, new = 0")
    site: Id
    node: Id
    camera: Id
    enterprise: Id | None = None
    rule_id: Id
    rule_type: RuleType
    rule_name: Annotated[str, StringConstraints(max_length=128)] = ""
    severity: Severity
    started_ms: EpochMs
    last_ms: EpochMs
    ended_ms: EpochMs | None = None
    zone: Id | None = None
    count: int = Field(default=0, ge=0, le=10_000)
    score: Unit = 0.0
    objects: list[DetectedObject] = Field(default_factory=list, max_length=200)
    evidence: list[EvidenceItem] = Field(default_factory=list, max_length=8)
    sent_ms: EpochMs = Field(default_factory=now_ms)
    warning: WarningRecord | None = Field(
        default=None, description="the on-site warning of this event (added in v1; left out when none)"
    )

    @model_serializer(mode="wrap")
    def _compatible(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        return _drop_none(handler(self), "warning")

    @field_validator("event_id")
    @classmethod
    def _uuid(cls, value: str) -> str:
        if not _UUID.match(value):
            raise ValueError("event_id must be a lowercase UUID string")
        return value

    @model_validator(mode="after")
    def _times(self) -> AlertEvent:
        if self.last_ms < self.started_ms:
            raise ValueError("last_ms is before started_ms")
        if self.phase is EventPhase.END and self.ended_ms is None:
            raise ValueError("an 'end' message needs ended_ms")
        if self.ended_ms is not None and self.ended_ms < self.started_ms:
            raise ValueError("ended_ms is before started_ms")
        if self.phase is EventPhase.NEW and self.seq != 0:
            raise ValueError("a 'new' message has seq 0")
        return self


class NodeState(StrEnum):
    ONLINE = "online"
    OFFLINE = "offline"  # last will: the node vanished
    STOPPED = "stopped"  # clean shutdown


class NodeStatus(_Msg):
    """Birth / death of a node; published retained on ``…/status``."""

    v: Literal[1] = PROTOCOL_VERSION
    site: Id
    node: Id
    state: NodeState
    ts_ms: EpochMs
    software: Annotated[str, StringConstraints(max_length=64)] = ""
    cameras: list[Id] = Field(default_factory=list, max_length=256)
    config_version: int | None = Field(
        default=None, ge=0, description="version of the remote config the node runs (None: its local file)"
    )
    config_rejected: int | None = Field(
        default=None, ge=0, description="the last remote config version the node refused (kept the old)"
    )
    config_error: Annotated[str, StringConstraints(max_length=512)] | None = Field(
        default=None, description="why config_rejected was refused"
    )


class CameraState(StrEnum):
    STARTING = "starting"
    ONLINE = "online"
    STALLED = "stalled"
    OFFLINE = "offline"


class CameraHealth(_Msg):
    camera: Id
    state: CameraState
    fps_in: float = Field(ge=0, le=1000)
    fps_out: float = Field(ge=0, le=1000)
    infer_ms: float = Field(ge=0, le=600_000)
    dropped_frames: int = Field(ge=0)
    decode_errors: int = Field(
        default=0, ge=0, description="of dropped_frames: packets or frames the decoder could not decode, ever"
    )
    reconnects: int = Field(default=0, ge=0, description="reopen attempts since the node started")
    last_frame_ms: EpochMs | None = None
    error: Annotated[str, StringConstraints(max_length=512)] | None = None


class EvidenceHealth(_Msg):
    """The node's evidence figures since it started: clips and the upload queue to the center."""

    clips_built: int = Field(default=0, ge=0)
    clips_failed: int = Field(default=0, ge=0, description="events left without a clip")
    clips_partial: int = Field(default=0, ge=0, description="built, but part of the window was not held")
    clips_pending: int = Field(default=0, ge=0, description="clips waiting for their window")
    uploads_pending: int = Field(default=0, ge=0, description="files waiting to go to the center")
    uploads_dropped: int = Field(default=0, ge=0, description="files evicted from a full upload queue")


class WarningHealth(_Msg):
    """The node's on-site warnings since it started (one count per output for played / failed)."""

    played: int = Field(default=0, ge=0, description="output plays that worked")
    failed: int = Field(default=0, ge=0, description="output plays that failed (device unreachable …)")
    rate_limited: int = Field(default=0, ge=0, description="warnings not played: repeat or hourly cap")
    outside_schedule: int = Field(default=0, ge=0, description="warnings not played: outside the schedule")
    dropped: int = Field(default=0, ge=0, description="warnings not played: an output's queue was full")


class LiveHealth(_Msg):
    """The node's live sessions, in its heartbeat."""

    sessions: int = Field(ge=0, description="live sessions open now")
    passthrough: int = Field(default=0, ge=0, description="of which pass the camera's H.264 through")
    reencode: int = Field(default=0, ge=0, description="of which the node re-encodes")
    max_viewers: int = Field(default=0, ge=0, description="the node's cap on sessions")
    frames_encoded: int = Field(default=0, ge=0, description="frames the node's encoder encoded, ever")
    packets_passed: int = Field(default=0, ge=0, description="camera packets passed through, ever")


class Heartbeat(_Msg):
    v: Literal[1] = PROTOCOL_VERSION
    site: Id
    node: Id
    ts_ms: EpochMs
    uptime_s: float = Field(ge=0)
    cameras: list[CameraHealth] = Field(default_factory=list, max_length=256)
    outbox_depth: int = Field(default=0, ge=0, description="messages waiting on disk for the broker")
    outbox_dropped: int = Field(default=0, ge=0, description="messages evicted from a full outbox, ever")
    interval_s: float | None = Field(
        default=None, gt=0, le=3600, description="the node's heartbeat period (3 missed: stale)"
    )
    evidence: EvidenceHealth | None = None
    warning: WarningHealth | None = Field(
        default=None, description="on-site warning figures (added in v1; left out when none)"
    )
    live: LiveHealth | None = Field(
        default=None, description="live video sessions (added in v1; left out when none)"
    )

    @model_serializer(mode="wrap")
    def _compatible(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        return _drop_none(handler(self), "warning", "live")


class NodeConfig(_Msg):
    """Center → edge: the node's desired configuration, retained on ``…/config``.

    ``config`` is a mapping of top-level edge config keys (the same shape as the node's YAML
    file, usually ``cameras``); each replaces the node's local value of that key. The node
    applies a version only when it is newer than the one it runs, and tells the result in its
    status (``config_version`` / ``config_rejected`` + ``config_error``).
    """

    model_config = ConfigDict(extra="forbid", str_max_length=4096)

    v: Literal[1] = PROTOCOL_VERSION
    site: Id
    node: Id
    version: int = Field(ge=1, le=2**53)
    config: dict[str, Any] = Field(description="top-level edge config keys replacing the local ones")
    ts_ms: EpochMs
    by: Annotated[str, StringConstraints(max_length=64)] = ""
