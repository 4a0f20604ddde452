"""ORM tables of the center (SQLAlchemy 2 typed declarative).

Schema changes go through Alembic (``center/store/migrations``); keep this file and the latest
revision in step (``alembic -c center/alembic.ini check`` tells when they are not).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)

    def columns(self) -> dict[str, Any]:
        """The row's column values by attribute name (for an answer that adds what the row lacks)."""
        return {attr.key: getattr(self, attr.key) for attr in self.__mapper__.column_attrs}


class Alert(Base):
    """One alert event, merged from its ``new`` / ``update`` / ``end`` messages."""

    __tablename__ = "alerts"

    event_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    site: Mapped[str] = mapped_column(String(64))
    node: Mapped[str] = mapped_column(String(64))
    camera: Mapped[str] = mapped_column(String(64))
    enterprise: Mapped[str | None] = mapped_column(String(64))
    rule_id: Mapped[str] = mapped_column(String(64))
    rule_type: Mapped[str] = mapped_column(String(32))
    rule_name: Mapped[str] = mapped_column(String(128), default="")
    severity: Mapped[str] = mapped_column(String(16))
    phase: Mapped[str] = mapped_column(String(8), doc="last phase applied: new / update / end")
    seq: Mapped[int] = mapped_column(Integer, doc="highest message seq applied")
    started_ms: Mapped[int] = mapped_column(BigInteger)
    last_ms: Mapped[int] = mapped_column(BigInteger)
    ended_ms: Mapped[int | None] = mapped_column(BigInteger)
    zone: Mapped[str | None] = mapped_column(String(64))
    count: Mapped[int] = mapped_column(Integer, default=0)
    score: Mapped[float] = mapped_column(Float, default=0.0)
    objects: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    evidence: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    warning: Mapped[dict[str, Any] | None] = mapped_column(
        JSON(none_as_null=True), doc="the on-site warning the edge played (protocol WarningRecord), or null"
    )
    received_ms: Mapped[int] = mapped_column(BigInteger, doc="when the center first heard of it")
    updated_ms: Mapped[int] = mapped_column(BigInteger, doc="when the center last changed it")
    # the operator's verdict (see center/domain/workflow.py)
    status: Mapped[str] = mapped_column(
        String(16), default="open", server_default="open", doc="open / acknowledged / dismissed / escalated"
    )
    handled_by: Mapped[str | None] = mapped_column(String(64))
    handled_ms: Mapped[int | None] = mapped_column(BigInteger)
    dismiss_reason: Mapped[str | None] = mapped_column(String(256))
    hazard_id: Mapped[int | None] = mapped_column(Integer)

    __table_args__ = (
        Index("ix_alerts_camera_started_ms", "camera", "started_ms"),
        Index("ix_alerts_started_ms", "started_ms"),
        Index("ix_alerts_enterprise_started_ms", "enterprise", "started_ms"),
        Index("ix_alerts_updated_ms", "updated_ms", "event_id"),  # a console's catch-up after a drop
        Index("ix_alerts_status_started_ms", "status", "started_ms"),  # the operator's 待处理 filter
        Index("ix_alerts_severity_started_ms", "severity", "started_ms"),
    )


class Quarantine(Base):
    """A message that did not pass the contract, kept (bounded) with the reason."""

    __tablename__ = "quarantine"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    received_ms: Mapped[int] = mapped_column(BigInteger, index=True)
    topic: Mapped[str] = mapped_column(String(512))
    payload: Mapped[bytes] = mapped_column(LargeBinary, doc="the first 64 KiB of the payload")
    payload_size: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(Text)


class Node(Base):
    """An edge node, as told by its status (birth/death) and heartbeat messages."""

    __tablename__ = "nodes"

    site: Mapped[str] = mapped_column(String(64), primary_key=True)
    node: Mapped[str] = mapped_column(String(64), primary_key=True)
    state: Mapped[str] = mapped_column(String(16), doc="online / offline / stopped")
    status_ms: Mapped[int | None] = mapped_column(BigInteger, doc="ts_ms of the last status applied")
    last_seen_ms: Mapped[int] = mapped_column(BigInteger, doc="newest ts_ms of any status or heartbeat")
    software: Mapped[str] = mapped_column(String(64), default="")
    cameras: Mapped[list[str]] = mapped_column(JSON, default=list)
    config_version: Mapped[int | None] = mapped_column(Integer)
    heartbeat: Mapped[dict[str, Any] | None] = mapped_column(JSON, doc="the last heartbeat, as sent")
    updated_ms: Mapped[int] = mapped_column(BigInteger)
    name: Mapped[str] = mapped_column(String(128), default="", server_default="", doc="where it is installed")
    config_rejected: Mapped[int | None] = mapped_column(
        Integer, doc="the last remote config version the node refused (from its status)"
    )
    config_error: Mapped[str | None] = mapped_column(Text, doc="why the node refused config_rejected")


class CameraUptime(Base):
    """A span during which a camera was online: opened by the first heartbeat that shows it online
    after it was not, extended by each later one, closed when a heartbeat shows it otherwise, its
    node goes offline or stops, or heartbeats stop for longer than 3 periods (center/domain/uptime.py).
    Online hours of a camera over a report period are the overlap of its spans with the period."""

    __tablename__ = "camera_uptime"
    __table_args__ = (
        Index("ix_camera_uptime_camera_end_ms", "camera", "end_ms"),
        Index("ix_camera_uptime_site_node_open", "site", "node", "open"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    site: Mapped[str] = mapped_column(String(64))
    node: Mapped[str] = mapped_column(String(64))
    camera: Mapped[str] = mapped_column(String(64))
    start_ms: Mapped[int] = mapped_column(BigInteger, doc="first heartbeat showing it online (center clock)")
    end_ms: Mapped[int] = mapped_column(BigInteger, doc="last heartbeat showing it online (center clock)")
    open: Mapped[bool] = mapped_column(Boolean, doc="may still be extended (no offline told since)")


class NodeConfigVersion(Base):
    """A remote configuration of a node, as an operator set it; the newest version is the desired one."""

    __tablename__ = "node_configs"

    site: Mapped[str] = mapped_column(String(64), primary_key=True)
    node: Mapped[str] = mapped_column(String(64), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    config: Mapped[dict[str, Any]] = mapped_column(JSON, doc="top-level edge config keys (see NodeConfig)")
    source: Mapped[str] = mapped_column(Text, default="", doc="the body as sent (YAML or JSON)")
    created_ms: Mapped[int] = mapped_column(BigInteger)
    created_by: Mapped[str] = mapped_column(String(64))
    published_ms: Mapped[int | None] = mapped_column(BigInteger, doc="when the broker took it (retained)")


# --- domain: park, enterprises, insurance, cameras ------------------------------------------


class ParkPlan(Base):
    """The park's plan (一张图的底图): an image or SVG the site uploads; enterprises and cameras
    are placed on it by their ``map_x`` / ``map_y`` (0–1 of its width and height)."""

    __tablename__ = "park_plans"

    site: Mapped[str] = mapped_column(String(64), primary_key=True)
    content_type: Mapped[str] = mapped_column(String(32), doc="image/svg+xml, image/png or image/jpeg")
    data: Mapped[bytes] = mapped_column(LargeBinary)
    sha256: Mapped[str] = mapped_column(String(64))
    width: Mapped[int] = mapped_column(Integer, doc="the plan's width in its own units (pixels, SVG units)")
    height: Mapped[int] = mapped_column(Integer)
    uploaded_by: Mapped[str] = mapped_column(String(64))
    uploaded_ms: Mapped[int] = mapped_column(BigInteger)


class Town(Base):
    """A 镇街 (town or sub-district) of the district; enterprises are supervised by it."""

    __tablename__ = "towns"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    district: Mapped[str] = mapped_column(String(64), default="")


class Park(Base):
    __tablename__ = "parks"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(128))
    town_id: Mapped[str | None] = mapped_column(ForeignKey("towns.id"))
    address: Mapped[str] = mapped_column(String(256), default="")


class Enterprise(Base):
    """An enterprise of the park; ``id`` is the id edge nodes put on the wire (``enterprise``)."""

    __tablename__ = "enterprises"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    park_id: Mapped[str | None] = mapped_column(ForeignKey("parks.id"))
    town_id: Mapped[str | None] = mapped_column(ForeignKey("towns.id"))
    name: Mapped[str] = mapped_column(String(128))
    credit_code: Mapped[str] = mapped_column(String(18), unique=True, doc="统一社会信用代码")
    industry: Mapped[str] = mapped_column(String(32))
    address: Mapped[str] = mapped_column(String(256), default="")
    map_x: Mapped[float | None] = mapped_column(Float, doc="position on the park map, 0–1 from the left")
    map_y: Mapped[float | None] = mapped_column(Float, doc="position on the park map, 0–1 from the top")
    contacts: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    created_ms: Mapped[int] = mapped_column(BigInteger)
    updated_ms: Mapped[int] = mapped_column(BigInteger)
    grid_id: Mapped[str | None] = mapped_column(ForeignKey("grid_cells.id"), doc="its 片区 (grid cell)")


class GridCell(Base):
    """A 片区 (grid cell) of a 镇街: the unit the 网格员 supervises (网格化监督管理)."""

    __tablename__ = "grid_cells"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    town_id: Mapped[str] = mapped_column(ForeignKey("towns.id"), index=True)
    name: Mapped[str] = mapped_column(String(64))
    keeper: Mapped[str] = mapped_column(String(64), default="", doc="网格员 (the cell's supervisor)")


class Insurer(Base):
    __tablename__ = "insurers"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(128))


class InsurancePolicy(Base):
    """An 安责险 (work-safety liability insurance) policy of an enterprise."""

    __tablename__ = "insurance_policies"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    enterprise_id: Mapped[str] = mapped_column(ForeignKey("enterprises.id"), index=True)
    insurer_id: Mapped[str] = mapped_column(ForeignKey("insurers.id"), index=True)
    policy_no: Mapped[str] = mapped_column(String(64), unique=True)
    start_date: Mapped[str] = mapped_column(String(10), doc="YYYY-MM-DD, first day covered")
    end_date: Mapped[str] = mapped_column(String(10), doc="YYYY-MM-DD, last day covered")
    premium_cny: Mapped[float] = mapped_column(Float)
    insured_headcount: Mapped[int] = mapped_column(Integer)
    created_ms: Mapped[int] = mapped_column(BigInteger)


class Camera(Base):
    """A camera at a post of an enterprise; ``id`` is the camera id on the wire."""

    __tablename__ = "cameras"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    enterprise_id: Mapped[str] = mapped_column(ForeignKey("enterprises.id"), index=True)
    node: Mapped[str | None] = mapped_column(String(64), doc="edge node that watches it")
    name: Mapped[str] = mapped_column(String(128), default="")
    post_name: Mapped[str] = mapped_column(String(128), default="", doc="岗位 / place watched")
    key_post: Mapped[bool] = mapped_column(Boolean, default=False, doc="重点岗位")
    map_x: Mapped[float | None] = mapped_column(Float)
    map_y: Mapped[float | None] = mapped_column(Float)
    created_ms: Mapped[int] = mapped_column(BigInteger)


# --- hazards and services ---------------------------------------------------------------


class Hazard(Base):
    """A 隐患 with its rectification loop 待整改 → 整改中 → 待复核 → 已销号."""

    __tablename__ = "hazards"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    code: Mapped[str] = mapped_column(String(64), unique=True, doc="隐患编号")
    enterprise_id: Mapped[str] = mapped_column(ForeignKey("enterprises.id"), index=True)
    camera_id: Mapped[str | None] = mapped_column(String(64))
    alert_id: Mapped[str | None] = mapped_column(String(36), index=True, doc="the alert it came from")
    title: Mapped[str] = mapped_column(String(128))
    description: Mapped[str] = mapped_column(Text, default="")
    level: Mapped[str] = mapped_column(String(16), doc="general (一般) / major (重大)")
    source: Mapped[str] = mapped_column(String(16), doc="ai / inspection")
    status: Mapped[str] = mapped_column(String(16), index=True)
    deadline_ms: Mapped[int] = mapped_column(BigInteger)
    assignee: Mapped[str] = mapped_column(String(64), default="")
    before_evidence: Mapped[list[str]] = mapped_column(JSON, default=list, doc="sha256 of files")
    after_evidence: Mapped[list[str]] = mapped_column(JSON, default=list, doc="sha256 of files")
    rectification: Mapped[str] = mapped_column(Text, default="", doc="what was done (整改措施)")
    review_note: Mapped[str] = mapped_column(Text, default="")
    created_by: Mapped[str] = mapped_column(String(64))
    created_ms: Mapped[int] = mapped_column(BigInteger)
    updated_ms: Mapped[int] = mapped_column(BigInteger)
    rectified_ms: Mapped[int | None] = mapped_column(BigInteger, doc="when it went to 待复核 last")
    closed_ms: Mapped[int | None] = mapped_column(BigInteger)
    service_task_id: Mapped[int | None] = mapped_column(
        ForeignKey("service_tasks.id"), index=True, doc="the AQ 9010 service task (visit) that found it"
    )
    service_id: Mapped[int | None] = mapped_column(
        ForeignKey("service_records.id"),
        index=True,
        doc="the service record (服务记录) of the visit that found it (现场排查); set for a task's "
        "hazards when the task is archived",
    )


class HazardLog(Base):
    """Every step of a hazard's loop, who took it and why."""

    __tablename__ = "hazard_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    hazard_id: Mapped[int] = mapped_column(ForeignKey("hazards.id"), index=True)
    ts_ms: Mapped[int] = mapped_column(BigInteger)
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(32))
    from_status: Mapped[str | None] = mapped_column(String(16))
    to_status: Mapped[str] = mapped_column(String(16))
    note: Mapped[str] = mapped_column(Text, default="")


class ServiceRecord(Base):
    """A safety service given to an enterprise (风险诊断, 培训, 应急预案指导 …)."""

    __tablename__ = "service_records"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    enterprise_id: Mapped[str] = mapped_column(ForeignKey("enterprises.id"), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    date: Mapped[str] = mapped_column(String(10), doc="YYYY-MM-DD")
    provider: Mapped[str] = mapped_column(String(128), default="")
    insurer_id: Mapped[str | None] = mapped_column(ForeignKey("insurers.id"))
    summary: Mapped[str] = mapped_column(Text, default="")
    created_by: Mapped[str] = mapped_column(String(64))
    created_ms: Mapped[int] = mapped_column(BigInteger)


class ServiceRequest(Base):
    """A service an enterprise asks for (服务需求, from its 全安码 page); the park and the
    enterprise's insurers see it and answer (已受理, 已完成)."""

    __tablename__ = "service_requests"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    enterprise_id: Mapped[str] = mapped_column(ForeignKey("enterprises.id"), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    text: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), doc="open / accepted / done")
    created_by: Mapped[str] = mapped_column(String(64))
    created_ms: Mapped[int] = mapped_column(BigInteger)
    reply: Mapped[str] = mapped_column(Text, default="")
    replied_by: Mapped[str | None] = mapped_column(String(64))
    replied_role: Mapped[str | None] = mapped_column(String(16))
    replied_ms: Mapped[int | None] = mapped_column(BigInteger)


# --- the 安责险 service loop (AQ 9010-2019), claims and complaints: center/domain/grid.py ---------


class ServiceOrg(Base):
    """A 第三方服务机构 that gives the insurers' accident-prevention services."""

    __tablename__ = "service_orgs"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(128))
    contact: Mapped[str] = mapped_column(String(64), default="")
    phone: Mapped[str] = mapped_column(String(32), default="")


class ServiceStaff(Base):
    """A person of a service organisation; ``username`` links the login of a 第三方服务人员."""

    __tablename__ = "service_staff"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("service_orgs.id"), index=True)
    name: Mapped[str] = mapped_column(String(64))
    phone: Mapped[str] = mapped_column(String(32), default="")
    qualification: Mapped[str] = mapped_column(String(128), default="", doc="注册安全工程师 …")
    username: Mapped[str | None] = mapped_column(String(64), unique=True)


class ServicePlan(Base):
    """The service plan of a policy (服务计划): agreed by the insurer and the insured."""

    __tablename__ = "service_plans"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    policy_id: Mapped[int] = mapped_column(ForeignKey("insurance_policies.id"), unique=True)
    enterprise_id: Mapped[str] = mapped_column(ForeignKey("enterprises.id"), index=True)
    insurer_id: Mapped[str] = mapped_column(ForeignKey("insurers.id"), index=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("service_orgs.id"))
    goals: Mapped[str] = mapped_column(Text, default="", doc="预期目标")
    created_by: Mapped[str] = mapped_column(String(64))
    created_ms: Mapped[int] = mapped_column(BigInteger)


class ServicePlanItem(Base):
    """One item of a plan: a catalogue service (项目), its measures, how often, by whom."""

    __tablename__ = "service_plan_items"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("service_plans.id"), index=True)
    item: Mapped[str] = mapped_column(String(32), doc="center.domain.vocabulary.ServiceItem")
    times: Mapped[int] = mapped_column(Integer, doc="频次: how many in the policy period")
    staff_id: Mapped[int | None] = mapped_column(ForeignKey("service_staff.id"))
    measures: Mapped[str] = mapped_column(Text, default="", doc="措施")
    goal: Mapped[str] = mapped_column(Text, default="")


class ServiceTask(Base):
    """One service due under a plan: 计划 → 已预约 → 已完成 → 双方确认 → 已归档 (逾期 derived)."""

    __tablename__ = "service_tasks"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("service_plans.id"), index=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("service_plan_items.id"))
    enterprise_id: Mapped[str] = mapped_column(ForeignKey("enterprises.id"), index=True)
    insurer_id: Mapped[str] = mapped_column(ForeignKey("insurers.id"), index=True)
    staff_id: Mapped[int | None] = mapped_column(ForeignKey("service_staff.id"), index=True)
    item: Mapped[str] = mapped_column(String(32))
    seq: Mapped[int] = mapped_column(Integer, doc="the n-th of its item in the period")
    due_date: Mapped[str] = mapped_column(String(10), index=True, doc="YYYY-MM-DD, last day to do it")
    status: Mapped[str] = mapped_column(String(16), index=True)
    booked_date: Mapped[str | None] = mapped_column(String(10), doc="the day agreed with the enterprise")
    booking_note: Mapped[str] = mapped_column(Text, default="")
    done_ms: Mapped[int | None] = mapped_column(BigInteger)
    done_date: Mapped[str | None] = mapped_column(String(10), doc="the visit's day, in the park's time zone")
    record: Mapped[str] = mapped_column(Text, default="", doc="what was done (服务记录)")
    photos: Mapped[list[str]] = mapped_column(JSON, default=list, doc="sha256 of photos")
    confirmed_by: Mapped[str | None] = mapped_column(String(64))
    confirmed_ms: Mapped[int | None] = mapped_column(BigInteger)
    archive_due: Mapped[str | None] = mapped_column(String(10), doc="归档期限: working days after done")
    archived_by: Mapped[str | None] = mapped_column(String(64))
    archived_ms: Mapped[int | None] = mapped_column(BigInteger)
    archived_date: Mapped[str | None] = mapped_column(String(10))
    updated_ms: Mapped[int] = mapped_column(BigInteger)


class FollowUp(Base):
    """A 回访 after a service: the enterprise's satisfaction (1–5) and opinion."""

    __tablename__ = "follow_ups"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("service_tasks.id"), unique=True)
    enterprise_id: Mapped[str] = mapped_column(ForeignKey("enterprises.id"), index=True)
    satisfaction: Mapped[int] = mapped_column(Integer)
    opinion: Mapped[str] = mapped_column(Text, default="")
    created_by: Mapped[str] = mapped_column(String(64))
    created_role: Mapped[str] = mapped_column(String(16))
    created_ms: Mapped[int] = mapped_column(BigInteger)


class Complaint(Base):
    """A complaint of an insured against its insurer's service; answered within 10 working days,
    30 when the insurer marks it complex (AQ 9010-2019)."""

    __tablename__ = "complaints"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    enterprise_id: Mapped[str] = mapped_column(ForeignKey("enterprises.id"), index=True)
    insurer_id: Mapped[str] = mapped_column(ForeignKey("insurers.id"), index=True)
    task_id: Mapped[int | None] = mapped_column(ForeignKey("service_tasks.id"))
    text: Mapped[str] = mapped_column(Text)
    filed_date: Mapped[str] = mapped_column(String(10), doc="YYYY-MM-DD in the park's time zone")
    complex: Mapped[bool] = mapped_column(Boolean, default=False)
    complex_reason: Mapped[str] = mapped_column(Text, default="")
    deadline: Mapped[str] = mapped_column(String(10), doc="the last working day to answer")
    status: Mapped[str] = mapped_column(String(16), index=True, doc="open / answered / closed")
    answer: Mapped[str] = mapped_column(Text, default="")
    answered_by: Mapped[str | None] = mapped_column(String(64))
    answered_ms: Mapped[int | None] = mapped_column(BigInteger)
    answered_date: Mapped[str | None] = mapped_column(String(10))
    closed_by: Mapped[str | None] = mapped_column(String(64))
    closed_ms: Mapped[int | None] = mapped_column(BigInteger)
    created_by: Mapped[str] = mapped_column(String(64))
    created_ms: Mapped[int] = mapped_column(BigInteger)


class Claim(Base):
    """An 安责险 claim: 报案 → 查勘 → 定损 → 赔付, or 拒赔 (never backwards)."""

    __tablename__ = "claims"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    claim_no: Mapped[str] = mapped_column(String(64), unique=True)
    policy_id: Mapped[int] = mapped_column(ForeignKey("insurance_policies.id"), index=True)
    enterprise_id: Mapped[str] = mapped_column(ForeignKey("enterprises.id"), index=True)
    insurer_id: Mapped[str] = mapped_column(ForeignKey("insurers.id"), index=True)
    accident_date: Mapped[str] = mapped_column(String(10))
    accident: Mapped[str] = mapped_column(Text, doc="what happened (事故经过)")
    alert_id: Mapped[str | None] = mapped_column(String(36), doc="the alert that recorded the accident")
    injured: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[str] = mapped_column(String(16), index=True)
    claimed_cny: Mapped[float] = mapped_column(Float, default=0.0, doc="报损金额")
    assessed_cny: Mapped[float | None] = mapped_column(Float, doc="定损金额")
    paid_cny: Mapped[float | None] = mapped_column(Float, doc="赔付金额")
    note: Mapped[str] = mapped_column(Text, default="")
    reported_ms: Mapped[int] = mapped_column(BigInteger)
    surveyed_ms: Mapped[int | None] = mapped_column(BigInteger)
    assessed_ms: Mapped[int | None] = mapped_column(BigInteger)
    closed_ms: Mapped[int | None] = mapped_column(BigInteger, doc="paid or rejected")
    created_by: Mapped[str] = mapped_column(String(64))
    updated_ms: Mapped[int] = mapped_column(BigInteger)


class RiskScore(Base):
    """One enterprise's risk score of one day (the daily history)."""

    __tablename__ = "risk_scores"

    enterprise_id: Mapped[str] = mapped_column(ForeignKey("enterprises.id"), primary_key=True)
    day: Mapped[str] = mapped_column(String(10), primary_key=True, doc="YYYY-MM-DD in the park's time zone")
    score: Mapped[float] = mapped_column(Float)
    level: Mapped[str] = mapped_column(String(8), doc="red / orange / yellow / blue")
    coefficient: Mapped[float] = mapped_column(Float)
    terms: Mapped[dict[str, Any]] = mapped_column(JSON, doc="the explanation: inputs and each term")
    computed_ms: Mapped[int] = mapped_column(BigInteger)


# --- users, sessions, audit, evidence --------------------------------------------------


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(64), default="")
    role: Mapped[str] = mapped_column(String(16))
    password_hash: Mapped[str] = mapped_column(String(256))
    enterprise_id: Mapped[str | None] = mapped_column(ForeignKey("enterprises.id"))
    insurer_id: Mapped[str | None] = mapped_column(ForeignKey("insurers.id"))
    node: Mapped[str | None] = mapped_column(String(64), doc="the edge node of a machine account")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_ms: Mapped[int] = mapped_column(BigInteger)
    session_epoch: Mapped[int] = mapped_column(
        Integer,
        default=0,
        server_default="0",
        doc="raised when the password changes or the account is disabled or enabled: "
        "sessions of an older epoch stop working (center/auth/sessions.py)",
    )


class AuthSession(Base):
    """A login session; only the SHA-256 of its bearer token is stored."""

    __tablename__ = "auth_sessions"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_ms: Mapped[int] = mapped_column(BigInteger)
    expires_ms: Mapped[int] = mapped_column(BigInteger)
    epoch: Mapped[int] = mapped_column(
        Integer, default=0, server_default="0", doc="the user's session_epoch when it was opened"
    )


class AuditEntry(Base):
    """Who changed what, and who read which evidence."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    ts_ms: Mapped[int] = mapped_column(BigInteger, index=True)
    username: Mapped[str] = mapped_column(String(64))
    role: Mapped[str] = mapped_column(String(16))
    action: Mapped[str] = mapped_column(String(64))
    target: Mapped[str] = mapped_column(String(128), default="")
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    ip: Mapped[str] = mapped_column(String(64), default="")


class EvidenceFile(Base):
    """A stored evidence file (snapshot, clip, rectification photo), addressed by its SHA-256."""

    __tablename__ = "evidence_files"

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    content_type: Mapped[str] = mapped_column(String(32))
    size: Mapped[int] = mapped_column(BigInteger)
    stored_ms: Mapped[int] = mapped_column(BigInteger, index=True)
    uploaded_by: Mapped[str] = mapped_column(String(64))


class EvidenceOwner(Base):
    """Whom a stored evidence file belongs to: a row for each upload (the uploader's enterprise,
    or the enterprise of the camera an edge node named) and for each binding of an unowned file to
    a hazard by the one who uploaded it. Citing and reading a file are decided by these rows
    (center/domain/evidence.py), never by which alerts or hazards mention its hash."""

    __tablename__ = "evidence_owners"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    sha256: Mapped[str] = mapped_column(ForeignKey("evidence_files.sha256", ondelete="CASCADE"), index=True)
    enterprise_id: Mapped[str | None] = mapped_column(
        String(64), doc="None: a park staff upload, not bound yet"
    )
    camera_id: Mapped[str | None] = mapped_column(String(64), doc="the camera an edge node named")
    node: Mapped[str | None] = mapped_column(String(64), doc="the edge node that uploaded it")
    uploaded_by: Mapped[str] = mapped_column(String(64))
    via: Mapped[str] = mapped_column(String(16), doc="upload / hazard (bound when cited) / migration")
    created_ms: Mapped[int] = mapped_column(BigInteger)


class ReportRecord(Base):
    """A report the center generated (PDF): its number and the SHA-256 of the file, so a copy
    shown later can be checked against what was issued (center/reports)."""

    __tablename__ = "report_records"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    report_no: Mapped[str] = mapped_column(String(64), unique=True, doc="报告编号")
    kind: Mapped[str] = mapped_column(String(16), doc="enterprise (风险诊断报告)")
    enterprise_id: Mapped[str | None] = mapped_column(String(64), index=True)
    period_from: Mapped[str] = mapped_column(String(10), doc="YYYY-MM-DD, first day")
    period_to: Mapped[str] = mapped_column(String(10), doc="YYYY-MM-DD, last day")
    sha256: Mapped[str] = mapped_column(String(64), index=True, doc="of the PDF as issued")
    size: Mapped[int] = mapped_column(BigInteger)
    pages: Mapped[int] = mapped_column(Integer)
    created_by: Mapped[str] = mapped_column(String(64))
    created_role: Mapped[str] = mapped_column(String(16))
    created_ms: Mapped[int] = mapped_column(BigInteger)


# --- notifications (center/notify) ---------------------------------------------------------


class NotifyChannel(Base):
    """A way to reach people: e-mail, a group robot, an SMS gateway, a signed webhook. Secrets are
    never stored: ``settings`` names the environment variables that hold them."""

    __tablename__ = "notify_channels"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    type: Mapped[str] = mapped_column(String(16))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    settings: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict, doc="ChannelIn without id/name/type")
    updated_ms: Mapped[int] = mapped_column(BigInteger)
    updated_by: Mapped[str] = mapped_column(String(64), default="")


class NotifyRoute(Base):
    """Which alerts go to which channel and recipients (center/notify/config.py RouteIn)."""

    __tablename__ = "notify_routes"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    channel_id: Mapped[str] = mapped_column(String(64))
    spec: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict, doc="RouteIn as JSON")
    updated_ms: Mapped[int] = mapped_column(BigInteger)
    updated_by: Mapped[str] = mapped_column(String(64), default="")


class NotifySubscription(Base):
    """A user's own address on a personal channel (e-mail, SMS), and what they want on it; only
    alerts the user may see reach them."""

    __tablename__ = "notify_subscriptions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    channel_id: Mapped[str] = mapped_column(String(64))
    address: Mapped[str] = mapped_column(String(254))
    severities: Mapped[list[str]] = mapped_column(JSON, default=list, doc="empty: every severity")
    hazards: Mapped[bool] = mapped_column(Boolean, default=True, doc="hazard reminders of its enterprise")
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    updated_ms: Mapped[int] = mapped_column(BigInteger)

    __table_args__ = (UniqueConstraint("user_id", "channel_id"),)


class Notification(Base):
    """The durable outbox: one row per (event, route, recipient), delivered by the worker with
    retries. ``state``: pending → sending (claimed, ``lease_until_ms``) → sent / failed; ``held``
    waits for the daily digest, ``digested`` went out in one."""

    __tablename__ = "notifications"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    event_key: Mapped[str] = mapped_column(String(64), doc="alert event id, or hazard:<id>, digest:<day>")
    route: Mapped[str] = mapped_column(String(96), doc="route id, sub:<user>, esc:<level>, due:<day> …")
    recipient: Mapped[str] = mapped_column(String(254), doc="address; '' for a robot's group")
    kind: Mapped[str] = mapped_column(
        String(16), doc="alert / escalation / hazard_due / hazard_overdue / digest"
    )
    channel_id: Mapped[str] = mapped_column(String(64))
    alert_id: Mapped[str | None] = mapped_column(String(36), index=True)
    enterprise_id: Mapped[str | None] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(12))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_ms: Mapped[int] = mapped_column(BigInteger)
    lease_until_ms: Mapped[int | None] = mapped_column(BigInteger)
    last_error: Mapped[str | None] = mapped_column(Text)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, doc="subject, text, fields (rendered at enqueue)")
    created_ms: Mapped[int] = mapped_column(BigInteger)
    sent_ms: Mapped[int | None] = mapped_column(BigInteger)

    __table_args__ = (
        UniqueConstraint("event_key", "route", "recipient"),
        Index("ix_notifications_state_next_attempt_ms", "state", "next_attempt_ms"),
    )
