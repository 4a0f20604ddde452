"""Response shapes of the HTTP API and the live feed (one shape for an alert everywhere)."""

from __future__ import annotations

import base64
from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from center.models import Alert, Node, Quarantine

QUARANTINE_PREVIEW_BYTES = 2048


def iso_utc(ms: int | None) -> str | None:
    """Epoch ms → ISO 8601 in UTC with millisecond precision (``2025-06-01T00:00:00.000Z``)."""
    if ms is None:
        return None
    return datetime.fromtimestamp(ms / 1000, tz=UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class AlertOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"description": "An alert event as merged by the center"})

    event_id: str
    site: str
    node: str
    camera: str
    enterprise: str | None
    rule_id: str
    rule_type: str
    rule_name: str
    severity: str = Field(description="general (一般) / significant (较大) / major (重大)")
    phase: str = Field(description="last phase applied: new / update / end")
    seq: int
    started_ms: int
    started_at: str
    last_ms: int
    last_at: str
    ended_ms: int | None
    ended_at: str | None
    zone: str | None
    count: int
    score: float
    objects: list[dict[str, Any]]
    evidence: list[dict[str, Any]]
    received_ms: int
    received_at: str
    updated_ms: int
    updated_at: str
    status: str = Field(
        description="open (待处理) / acknowledged (已确认) / dismissed (误报) / escalated (已转隐患)"
    )
    handled_by: str | None
    handled_at: str | None
    dismiss_reason: str | None
    hazard_id: int | None

    @classmethod
    def of(cls, row: Alert) -> AlertOut:
        return cls(
            event_id=row.event_id,
            site=row.site,
            node=row.node,
            camera=row.camera,
            enterprise=row.enterprise,
            rule_id=row.rule_id,
            rule_type=row.rule_type,
            rule_name=row.rule_name,
            severity=row.severity,
            phase=row.phase,
            seq=row.seq,
            started_ms=row.started_ms,
            started_at=iso_utc(row.started_ms) or "",
            last_ms=row.last_ms,
            last_at=iso_utc(row.last_ms) or "",
            ended_ms=row.ended_ms,
            ended_at=iso_utc(row.ended_ms),
            zone=row.zone,
            count=row.count,
            score=row.score,
            objects=list(row.objects),
            evidence=list(row.evidence),
            received_ms=row.received_ms,
            received_at=iso_utc(row.received_ms) or "",
            updated_ms=row.updated_ms,
            updated_at=iso_utc(row.updated_ms) or "",
            status=row.status or "open",
            handled_by=row.handled_by,
            handled_at=iso_utc(row.handled_ms),
            dismiss_reason=row.dismiss_reason,
            hazard_id=row.hazard_id,
        )


class AlertPage(BaseModel):
    items: list[AlertOut]
    total: int = Field(description="how many match the filters, over all pages")
    limit: int
    offset: int


NODE_HEARTBEAT_DEFAULT_S = 10.0  # the edge's default period, for nodes that do not send theirs
NODE_STALE_MISSED = 3  # heartbeats missed before an online node counts as stale


class CameraHealthOut(BaseModel):
    camera: str
    state: str = Field(description="starting / online / stalled / offline, from the last heartbeat")
    fps_in: float
    fps_out: float = Field(description="frames analysed per second")
    infer_ms: float
    dropped_frames: int
    reconnects: int
    last_frame_at: str | None
    error: str | None


class NodeOut(BaseModel):
    site: str
    node: str
    state: str = Field(description="as the node last told: online / offline (its last will) / stopped")
    health: str = Field(description="online / stale (online, but 3 heartbeats missed) / offline / stopped")
    status_ms: int | None
    last_seen_ms: int
    last_seen_at: str
    software: str
    cameras: list[str]
    config_version: int | None
    heartbeat: dict[str, Any] | None = Field(description="the last heartbeat as sent, with received_ms added")
    name: str = ""
    heartbeat_age_s: float | None = Field(default=None, description="seconds since the last heartbeat")
    heartbeat_interval_s: float = Field(default=NODE_HEARTBEAT_DEFAULT_S, description="the node's period")
    camera_health: list[CameraHealthOut] = Field(default_factory=list)
    outbox_depth: int | None = None
    outbox_dropped: int | None = None
    config_rejected: int | None = None
    config_error: str | None = None

    @classmethod
    def of(cls, row: Node, now_ms: int | None = None) -> NodeOut:
        now = now_ms if now_ms is not None else int(datetime.now(UTC).timestamp() * 1000)
        hb = row.heartbeat or {}
        interval = float(hb.get("interval_s") or NODE_HEARTBEAT_DEFAULT_S)
        hb_ms = hb.get("received_ms", hb.get("ts_ms"))  # when the center got it (its own clock)
        age = round(max(0, now - hb_ms) / 1000, 1) if isinstance(hb_ms, int) else None
        health = row.state
        if row.state == "online":
            # no heartbeat yet: count from when the center last heard of the node
            since = hb_ms if isinstance(hb_ms, int) else row.updated_ms
            if now - since > NODE_STALE_MISSED * interval * 1000:
                health = "stale"
        cams = []
        for c in hb.get("cameras") or []:
            cams.append(
                CameraHealthOut(
                    camera=c.get("camera", ""),
                    state=c.get("state", ""),
                    fps_in=c.get("fps_in", 0.0),
                    fps_out=c.get("fps_out", 0.0),
                    infer_ms=c.get("infer_ms", 0.0),
                    dropped_frames=c.get("dropped_frames", 0),
                    reconnects=c.get("reconnects", 0),
                    last_frame_at=iso_utc(c.get("last_frame_ms")),
                    error=c.get("error"),
                )
            )
        return cls(
            site=row.site,
            node=row.node,
            state=row.state,
            health=health,
            status_ms=row.status_ms,
            last_seen_ms=row.last_seen_ms,
            last_seen_at=iso_utc(row.last_seen_ms) or "",
            software=row.software,
            cameras=list(row.cameras),
            config_version=row.config_version,
            heartbeat=row.heartbeat,
            name=row.name or "",
            heartbeat_age_s=age,
            heartbeat_interval_s=interval,
            camera_health=cams,
            outbox_depth=hb.get("outbox_depth"),
            outbox_dropped=hb.get("outbox_dropped"),
            config_rejected=row.config_rejected,
            config_error=row.config_error,
        )


class NodeConfigIn(BaseModel):
    """A node's new configuration: ``config`` (a JSON object) or ``yaml`` (the same as YAML text).

    Its top-level keys replace the node's local ones (usually ``cameras``); the node validates
    it as it validates its file and reports the result (see ``GET …/config``)."""

    model_config = ConfigDict(extra="forbid")

    config: dict[str, Any] | None = None
    yaml: Annotated[str, StringConstraints(max_length=256 * 1024)] | None = None


class NodeConfigOut(BaseModel):
    site: str
    node: str
    status: str = Field(
        description="none (never set) / pending / applied / rejected (the node kept its old one)"
    )
    desired_version: int | None
    applied_version: int | None = Field(description="the version the node reports it runs")
    rejected_version: int | None
    last_error: str | None = Field(description="the node's reason for refusing rejected_version")
    node_state: str
    config: dict[str, Any] | None = Field(description="the desired config")
    source: str | None = Field(description="the desired config as the operator sent it")
    created_by: str | None
    created_at: str | None
    published: bool = Field(description="the broker holds the desired version (retained)")


class QuarantineOut(BaseModel):
    id: int
    received_ms: int
    received_at: str
    topic: str
    reason: str
    payload_size: int
    payload_preview: str = Field(description="the payload's first bytes, as text where it decodes")
    payload_base64: str | None = Field(description="the first bytes in base64 when they are not UTF-8")

    @classmethod
    def of(cls, row: Quarantine) -> QuarantineOut:
        head = bytes(row.payload[:QUARANTINE_PREVIEW_BYTES])
        try:
            preview, b64 = head.decode("utf-8"), None
        except UnicodeDecodeError:
            preview = head.decode("utf-8", errors="replace")
            b64 = base64.b64encode(head).decode("ascii")
        return cls(
            id=row.id,
            received_ms=row.received_ms,
            received_at=iso_utc(row.received_ms) or "",
            topic=row.topic,
            reason=row.reason,
            payload_size=row.payload_size,
            payload_preview=preview,
            payload_base64=b64,
        )


class Health(BaseModel):
    status: str
    database: str
    mqtt: str
    version: str


class SiteInfo(BaseModel):
    site: str
    site_name: str
    timezone: str


# --- the domain API ----------------------------------------------------------------------

Id = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.\-]{1,64}$")]
Sha256 = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]
Text128 = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=128)]
Note = Annotated[str, StringConstraints(strip_whitespace=True, max_length=2000)]
Reason = Annotated[str, StringConstraints(strip_whitespace=True, min_length=2, max_length=256)]
Day = Annotated[str, StringConstraints(pattern=r"^\d{4}-\d{2}-\d{2}$")]
MapPos = Annotated[float, Field(ge=0.0, le=1.0)]

T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    items: list[T]
    total: int = Field(description="how many match the filters, over all pages")
    limit: int
    offset: int


class Industry(StrEnum):
    METAL_NONMETAL_MINING = "metal_nonmetal_mining"  # 金属非金属矿山
    HAZARDOUS_CHEMICALS = "hazardous_chemicals"  # 危险化学品
    METAL_SMELTING = "metal_smelting"  # 金属冶炼
    FIREWORKS = "fireworks"  # 烟花爆竹
    INDUSTRY_TRADE = "industry_trade"  # 工贸
    FURNITURE = "furniture"  # 家具制造
    MACHINERY = "machinery"  # 机械制造


INDUSTRY_LABELS = {
    "metal_nonmetal_mining": "金属非金属矿山",
    "hazardous_chemicals": "危险化学品",
    "metal_smelting": "金属冶炼",
    "fireworks": "烟花爆竹",
    "industry_trade": "工贸",
    "furniture": "家具制造",
    "machinery": "机械制造",
}


class ServiceKind(StrEnum):
    RISK_DIAGNOSIS = "risk_diagnosis"  # 风险诊断
    TRAINING = "training"  # 安全培训
    EMERGENCY_PLAN = "emergency_plan"  # 应急预案指导
    DRILL = "drill"  # 应急演练
    INSPECTION = "inspection"  # 隐患排查
    OTHER = "other"


SERVICE_LABELS = {
    "risk_diagnosis": "风险诊断",
    "training": "安全培训",
    "emergency_plan": "应急预案指导",
    "drill": "应急演练",
    "inspection": "隐患排查",
    "other": "其他服务",
}


def _credit_code(value: str) -> str:
    from center.creditcode import problem

    value = value.strip()
    why = problem(value)
    if why:
        raise ValueError(f"not a valid 统一社会信用代码 (GB 32100-2015): {why}")
    return value


CreditCode = Annotated[str, AfterValidator(_credit_code), Field(min_length=18, max_length=18)]


# auth


class LoginIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"username": "operator", "password": "operator-demo"}]},
    )
    username: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    password: Annotated[str, StringConstraints(min_length=1, max_length=256)]


class MeOut(BaseModel):
    username: str
    display_name: str
    role: str
    role_label: str
    enterprise_id: str | None
    insurer_id: str | None
    node: str | None


class LoginOut(BaseModel):
    token: str = Field(description="send as 'Authorization: Bearer …'; browsers also get it as a cookie")
    expires_at: str
    user: MeOut


class UserIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "username": "yjmetal-safety",
                    "password": "a-long-password",
                    "role": "enterprise",
                    "display_name": "毅佳安全员",
                    "enterprise_id": "yj-metal",
                }
            ]
        },
    )
    username: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.\-@]{2,64}$")]
    password: Annotated[str, StringConstraints(min_length=8, max_length=256)]
    role: Literal["admin", "operator", "government", "enterprise", "insurer", "edge"]
    display_name: Annotated[str, StringConstraints(max_length=64)] = ""
    enterprise_id: Id | None = None
    insurer_id: Id | None = None
    node: Id | None = None


class UserPatch(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"active": False}]})
    display_name: Annotated[str, StringConstraints(max_length=64)] | None = None
    password: Annotated[str, StringConstraints(min_length=8, max_length=256)] | None = None
    active: bool | None = None


class UserOut(BaseModel):
    id: int
    username: str
    display_name: str
    role: str
    enterprise_id: str | None
    insurer_id: str | None
    node: str | None
    active: bool
    created_at: str


class AuditOut(BaseModel):
    id: int
    ts_ms: int
    at: str
    username: str
    role: str
    action: str
    target: str
    detail: dict[str, Any]
    ip: str


# registry


class TownOut(BaseModel):
    id: str
    name: str
    district: str


class ParkOut(BaseModel):
    id: str
    name: str
    town_id: str | None
    address: str


class Contact(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Annotated[str, StringConstraints(min_length=1, max_length=32)]
    phone: Annotated[str, StringConstraints(pattern=r"^[0-9+\- ]{5,20}$")]
    title: Annotated[str, StringConstraints(max_length=32)] = ""


ENTERPRISE_EXAMPLE = {
    "id": "yj-metal",
    "name": "佛山市南海毅佳金属制品有限公司",
    "credit_code": "91440605MA4UXY127E",
    "industry": "metal_smelting",
    "address": "佛山市南海区狮山镇毅佳工业园A区3号",
    "park_id": "yijia",
    "town_id": "shishan",
    "map_x": 0.22,
    "map_y": 0.35,
    "contacts": [{"name": "陈国强", "phone": "0757-8666 1234", "title": "安全主任"}],
}


class EnterpriseIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [ENTERPRISE_EXAMPLE]})
    id: Id = Field(description="the id edge nodes send as `enterprise`")
    name: Text128
    credit_code: CreditCode = Field(
        description="统一社会信用代码, 18 characters with a valid check character"
    )
    industry: Industry
    address: Annotated[str, StringConstraints(max_length=256)] = ""
    park_id: Id | None = None
    town_id: Id | None = None
    map_x: MapPos | None = None
    map_y: MapPos | None = None
    contacts: list[Contact] = Field(default_factory=list, max_length=20)


class EnterprisePatch(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"address": "佛山市南海区狮山镇毅佳工业园B区1号"}]}
    )
    name: Text128 | None = None
    credit_code: CreditCode | None = None
    industry: Industry | None = None
    address: Annotated[str, StringConstraints(max_length=256)] | None = None
    park_id: Id | None = None
    town_id: Id | None = None
    map_x: MapPos | None = None
    map_y: MapPos | None = None
    contacts: list[Contact] | None = Field(default=None, max_length=20)


class RiskBrief(BaseModel):
    score: float
    level: str = Field(description="red / orange / yellow / blue (红/橙/黄/蓝)")
    level_label: str
    coefficient: float = Field(description="suggested premium risk coefficient for the insurer")


class EnterpriseOut(BaseModel):
    id: str
    name: str
    credit_code: str
    industry: str
    industry_label: str
    address: str
    park_id: str | None
    town_id: str | None
    map_x: float | None
    map_y: float | None
    contacts: list[dict[str, Any]]
    cameras: int
    risk: RiskBrief | None


class CameraIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "id": "cam-yard-01",
                    "enterprise_id": "yj-metal",
                    "node": "edge-01",
                    "name": "厂区主通道",
                    "post_name": "熔铸车间出入口",
                    "key_post": True,
                    "map_x": 0.25,
                    "map_y": 0.38,
                }
            ]
        },
    )
    id: Id
    enterprise_id: Id
    node: Id | None = None
    name: Annotated[str, StringConstraints(max_length=128)] = ""
    post_name: Annotated[str, StringConstraints(max_length=128)] = ""
    key_post: bool = False
    map_x: MapPos | None = None
    map_y: MapPos | None = None


class CameraPatch(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"key_post": True}]})
    node: Id | None = None
    name: Annotated[str, StringConstraints(max_length=128)] | None = None
    post_name: Annotated[str, StringConstraints(max_length=128)] | None = None
    key_post: bool | None = None
    map_x: MapPos | None = None
    map_y: MapPos | None = None


class CameraOut(BaseModel):
    id: str
    enterprise_id: str
    node: str | None
    name: str
    post_name: str
    key_post: bool
    map_x: float | None
    map_y: float | None


class InsurerOut(BaseModel):
    id: str
    name: str


class PolicyIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "enterprise_id": "yj-metal",
                    "insurer_id": "picc",
                    "policy_no": "PICC-AZX-2025-440605-0001",
                    "start_date": "2025-01-01",
                    "end_date": "2025-12-31",
                    "premium_cny": 38600.0,
                    "insured_headcount": 120,
                }
            ]
        },
    )
    enterprise_id: Id
    insurer_id: Id
    policy_no: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_\-/]{4,64}$")]
    start_date: date
    end_date: date
    premium_cny: float = Field(ge=0, le=1e9)
    insured_headcount: int = Field(ge=1, le=100_000)


class PolicyOut(BaseModel):
    id: int
    enterprise_id: str
    insurer_id: str
    insurer_name: str
    policy_no: str
    start_date: str
    end_date: str
    premium_cny: float
    insured_headcount: int
    in_force: bool


class ServiceIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "kind": "risk_diagnosis",
                    "date": "2025-06-12",
                    "provider": "广东安评技术服务有限公司",
                    "summary": "熔铸车间高温作业区风险诊断，提出整改建议6条",
                }
            ]
        },
    )
    kind: ServiceKind
    date: date
    provider: Annotated[str, StringConstraints(max_length=128)] = ""
    insurer_id: Id | None = None
    summary: Annotated[str, StringConstraints(max_length=4000)] = ""


class ServiceOut(BaseModel):
    id: int
    enterprise_id: str
    kind: str
    kind_label: str
    date: str
    provider: str
    insurer_id: str | None
    summary: str
    created_by: str


# alert workflow


class DismissIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"reason": "误检：反光衣被识别为人员"}]}
    )
    reason: Reason


class EscalateIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"level": "general", "deadline_days": 7, "assignee": "陈国强"}]},
    )
    level: Literal["general", "major"] = "general"
    deadline_days: int = Field(default=7, ge=1, le=365, description="days to rectify, from now")
    title: Text128 | None = None
    description: Note = ""
    assignee: Annotated[str, StringConstraints(max_length=64)] = ""


class PrecisionRow(BaseModel):
    key: str = Field(description="the rule id or the camera id")
    total: int
    confirmed: int
    dismissed: int
    unreviewed: int
    precision: float | None = Field(description="confirmed / (confirmed + dismissed); null before any review")


class PrecisionOut(BaseModel):
    by_rule: list[PrecisionRow]
    by_camera: list[PrecisionRow]


# hazards


class HazardIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "enterprise_id": "yj-metal",
                    "title": "熔铸车间消防通道堆放杂物",
                    "level": "general",
                    "deadline_days": 7,
                    "assignee": "陈国强",
                }
            ]
        },
    )
    enterprise_id: Id
    title: Text128
    description: Note = ""
    level: Literal["general", "major"] = "general"
    camera_id: Id | None = None
    deadline_days: int = Field(default=7, ge=1, le=365)
    assignee: Annotated[str, StringConstraints(max_length=64)] = ""
    before_evidence: list[Sha256] = Field(default_factory=list, max_length=20)


class HazardPatch(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"assignee": "李伟", "deadline_days": 14}]}
    )
    title: Text128 | None = None
    description: Note | None = None
    level: Literal["general", "major"] | None = None
    assignee: Annotated[str, StringConstraints(max_length=64)] | None = None
    deadline_days: int | None = Field(default=None, ge=1, le=365, description="new deadline, days from now")


class StepIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"note": "已安排维修班组"}]})
    note: Note = ""


class RejectIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"note": "照片未显示通道已清空"}]}
    )
    note: Reason


class SubmitIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"rectification": "已清理通道杂物并划设禁止堆放标线", "after_evidence": ["a" * 64]}]
        },
    )
    rectification: Reason = Field(description="what was done (整改措施)")
    after_evidence: list[Sha256] = Field(
        min_length=1, max_length=20, description="photos after (uploaded first)"
    )


class HazardStepOut(BaseModel):
    at: str
    actor: str
    action: str
    from_status: str | None
    to_status: str
    note: str


class HazardOut(BaseModel):
    id: int
    code: str
    enterprise_id: str
    camera_id: str | None
    alert_id: str | None
    title: str
    description: str
    level: str
    level_label: str
    source: str
    status: str
    status_label: str
    deadline_ms: int
    deadline_at: str
    overdue: bool = Field(description="open past its deadline, or closed after it")
    assignee: str
    before_evidence: list[str]
    after_evidence: list[str]
    rectification: str
    review_note: str
    created_by: str
    created_at: str
    updated_at: str
    rectified_at: str | None
    closed_at: str | None
    history: list[HazardStepOut] | None = None


class EvidenceOut(BaseModel):
    sha256: str
    content_type: str
    size: int
    stored_at: str
    created: bool


# risk


class RiskTerm(BaseModel):
    key: str
    label: str
    points: float
    detail: dict[str, Any]


class RiskOut(RiskBrief):
    enterprise_id: str
    as_of_ms: int
    raw_points: float
    inputs: dict[str, Any]
    terms: list[RiskTerm]
    thresholds: dict[str, float]
    formula: str
    window: dict[str, int]


class RiskOverviewRow(RiskBrief):
    enterprise_id: str
    name: str
    industry: str
    industry_label: str
    map_x: float | None
    map_y: float | None


class RiskDayOut(BaseModel):
    day: str
    score: float
    level: str
    coefficient: float
    terms: dict[str, float]


class CardOut(BaseModel):
    """What the 全安码 page shows; more fields for callers who may see more."""

    id: str
    name: str
    level: str
    level_label: str
    color: str
    viewer: str = Field(description="anonymous, or the caller's role")
    score: float | None = None
    coefficient: float | None = None
    industry_label: str | None = None
    address: str | None = None
    open_hazards: int | None = None
    overdue_hazards: int | None = None
    alerts_30d: int | None = None
    policies: list[dict[str, Any]] | None = None


class ReportOut(BaseModel):
    """风险诊断报告 data (the PDF is built from the same)."""

    enterprise: EnterpriseOut
    risk: RiskOut
    history: list[RiskDayOut]
    hazards: dict[str, Any]
    alerts: dict[str, Any]
    services: list[ServiceOut]
    policies: list[PolicyOut]
    generated_at: str
