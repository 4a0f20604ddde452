"""The center's vocabulary: the states and kinds it knows, and their Chinese names.

Every label the console shows comes from here, through the API (``*_label`` fields next to
the ids), so a name is written once. Dicts are keyed by the enums; a plain string value looks
up the same (the enums are ``StrEnum``), unknown values show as themselves (:func:`label`).
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Any

from protocol import RuleType, Severity, WarningOutcome, WarningOutputKind


class Role(StrEnum):
    ADMIN = "admin"  # 系统管理员: everything, including users
    OPERATOR = "operator"  # 园区管控中心值班员: handles alerts and hazards, manages the park's registry
    GOVERNMENT = "government"  # 应急管理部门: reads everything
    ENTERPRISE = "enterprise"  # 企业安全员: its own enterprise only; rectifies its hazards
    INSURER = "insurer"  # 保险公司: scores and reports of the enterprises it insures; no evidence
    EDGE = "edge"  # 边缘节点 machine account: uploads evidence
    SERVICE = "service"  # 第三方服务人员: the service tasks assigned to them only


ROLE_LABELS: dict[Role, str] = {
    Role.ADMIN: "系统管理员",
    Role.OPERATOR: "管控中心值班员",
    Role.GOVERNMENT: "政府监管",
    Role.ENTERPRISE: "企业安全员",
    Role.INSURER: "保险公司",
    Role.EDGE: "边缘节点",
    Role.SERVICE: "第三方服务人员",
}


class AlertStatus(StrEnum):
    OPEN = "open"  # 待处理
    ACKNOWLEDGED = "acknowledged"  # 已确认
    DISMISSED = "dismissed"  # 误报
    ESCALATED = "escalated"  # 已转隐患


class HazardStatus(StrEnum):
    PENDING = "pending"  # 待整改
    IN_PROGRESS = "in_progress"  # 整改中
    REVIEW = "review"  # 待复核
    CLOSED = "closed"  # 已销号


class HazardLevel(StrEnum):
    GENERAL = "general"  # 一般隐患
    MAJOR = "major"  # 重大隐患


class HazardSource(StrEnum):
    AI = "ai"  # from an alert of the video analysis
    INSPECTION = "inspection"  # found by an inspector (排查)
    SERVICE = "service"  # found during an insurer's service visit (服务机构排查)


class Industry(StrEnum):
    METAL_NONMETAL_MINING = "metal_nonmetal_mining"
    HAZARDOUS_CHEMICALS = "hazardous_chemicals"
    METAL_SMELTING = "metal_smelting"
    FIREWORKS = "fireworks"
    INDUSTRY_TRADE = "industry_trade"
    FURNITURE = "furniture"
    MACHINERY = "machinery"


class ServiceKind(StrEnum):
    RISK_DIAGNOSIS = "risk_diagnosis"
    TRAINING = "training"
    EMERGENCY_PLAN = "emergency_plan"
    DRILL = "drill"
    INSPECTION = "inspection"
    OTHER = "other"


class RequestKind(StrEnum):
    """What an enterprise asks for in a service request (服务需求)."""

    RISK_DIAGNOSIS = "risk_diagnosis"
    INSPECTION = "inspection"
    TRAINING = "training"
    EMERGENCY_PLAN = "emergency_plan"
    OTHER = "other"


class RequestStatus(StrEnum):
    OPEN = "open"  # filed, nobody answered yet
    ACCEPTED = "accepted"  # 已受理
    DONE = "done"  # 已完成 (final)


class ServiceItem(StrEnum):
    """The catalogue of accident-prevention services a plan is made of (AQ 9010-2019)."""

    RISK_ASSESSMENT = "risk_assessment"  # 风险辨识评估 / 风险诊断
    HAZARD_INSPECTION = "hazard_inspection"  # 隐患排查
    TRAINING = "training"  # 安全培训 / 入场培训
    EMERGENCY_PLAN = "emergency_plan"  # 应急预案编制指导
    STANDARDIZATION = "standardization"  # 安全生产标准化建设指导
    DUAL_PREVENTION = "dual_prevention"  # 双重预防机制建设指导
    DRILL = "drill"  # 应急演练指导


class TaskStatus(StrEnum):
    PLANNED = "planned"  # 计划
    BOOKED = "booked"  # 已预约 (confirmed with the enterprise beforehand)
    DONE = "done"  # 已完成 (visited, record written)
    CONFIRMED = "confirmed"  # 双方确认
    ARCHIVED = "archived"  # 已归档


class ComplaintStatus(StrEnum):
    OPEN = "open"  # 待答复
    ANSWERED = "answered"  # 已答复
    CLOSED = "closed"  # 已办结


class ClaimStatus(StrEnum):
    REPORTED = "reported"  # 报案
    SURVEYED = "surveyed"  # 查勘
    ASSESSED = "assessed"  # 定损
    PAID = "paid"  # 赔付
    REJECTED = "rejected"  # 拒赔


RULE_TYPE_LABELS: dict[RuleType, str] = {
    RuleType.INTRUSION: "区域闯入",
    RuleType.POST_UNATTENDED: "离岗",
    RuleType.OVERCROWDING: "超员",
    RuleType.LOITERING: "徘徊逗留",
    RuleType.MAN_DOWN: "人员倒地",
    RuleType.PHONE_USE: "使用手机",
    RuleType.VEHICLE_PROXIMITY: "人车近距离",
    RuleType.LINE_CROSSING: "越线",
    RuleType.MISSING_PPE: "未佩戴防护用品",
    RuleType.SMOKING: "吸烟",
    RuleType.FIRE_SMOKE: "烟火",
}
SEVERITY_LABELS: dict[Severity, str] = {
    Severity.GENERAL: "一般",
    Severity.SIGNIFICANT: "较大",
    Severity.MAJOR: "重大",
}
ALERT_STATUS_LABELS: dict[AlertStatus, str] = {
    AlertStatus.OPEN: "待处理",
    AlertStatus.ACKNOWLEDGED: "已确认",
    AlertStatus.DISMISSED: "误报",
    AlertStatus.ESCALATED: "已转隐患",
}
# on-site warnings (现场提醒) the edge played at the post, by outcome and by output kind
WARNING_OUTCOME_LABELS: dict[WarningOutcome, str] = {
    WarningOutcome.QUEUED: "播放中",
    WarningOutcome.PLAYED: "已播放",
    WarningOutcome.PARTIAL: "部分播放",
    WarningOutcome.FAILED: "播放失败",
    WarningOutcome.RATE_LIMITED: "未播放（频率限制）",
    WarningOutcome.OUTSIDE_SCHEDULE: "未播放（不在提醒时段）",
    WarningOutcome.DROPPED: "未播放（设备繁忙或不可达）",
}
WARNING_OUTPUT_LABELS: dict[WarningOutputKind, str] = {
    WarningOutputKind.SPEAKER_HTTP: "扬声器",
    WarningOutputKind.AUDIO: "工控机音频",
    WarningOutputKind.MODBUS: "声光报警器",
    WarningOutputKind.GPIO: "声光报警器",
}
HAZARD_STATUS_LABELS: dict[HazardStatus, str] = {
    HazardStatus.PENDING: "待整改",
    HazardStatus.IN_PROGRESS: "整改中",
    HazardStatus.REVIEW: "待复核",
    HazardStatus.CLOSED: "已销号",
}
HAZARD_LEVEL_LABELS: dict[HazardLevel, str] = {HazardLevel.GENERAL: "一般", HazardLevel.MAJOR: "重大"}
INDUSTRY_LABELS: dict[Industry, str] = {
    Industry.METAL_NONMETAL_MINING: "金属非金属矿山",
    Industry.HAZARDOUS_CHEMICALS: "危险化学品",
    Industry.METAL_SMELTING: "金属冶炼",
    Industry.FIREWORKS: "烟花爆竹",
    Industry.INDUSTRY_TRADE: "工贸",
    Industry.FURNITURE: "家具制造",
    Industry.MACHINERY: "机械制造",
}
SERVICE_LABELS: dict[ServiceKind, str] = {
    ServiceKind.RISK_DIAGNOSIS: "风险诊断",
    ServiceKind.TRAINING: "安全培训",
    ServiceKind.EMERGENCY_PLAN: "应急预案指导",
    ServiceKind.DRILL: "应急演练",
    ServiceKind.INSPECTION: "隐患排查",
    ServiceKind.OTHER: "其他服务",
}
REQUEST_KIND_LABELS: dict[RequestKind, str] = {
    RequestKind.RISK_DIAGNOSIS: "风险诊断",
    RequestKind.INSPECTION: "隐患排查",
    RequestKind.TRAINING: "安全培训",
    RequestKind.EMERGENCY_PLAN: "应急预案指导",
    RequestKind.OTHER: "其他",
}
SERVICE_ITEM_LABELS: dict[ServiceItem, str] = {
    ServiceItem.RISK_ASSESSMENT: "风险辨识评估/风险诊断",
    ServiceItem.HAZARD_INSPECTION: "隐患排查",
    ServiceItem.TRAINING: "安全培训/入场培训",
    ServiceItem.EMERGENCY_PLAN: "应急预案编制指导",
    ServiceItem.STANDARDIZATION: "安全生产标准化建设指导",
    ServiceItem.DUAL_PREVENTION: "双重预防机制建设指导",
    ServiceItem.DRILL: "应急演练指导",
}
# the kind of service record (服务记录) an archived task leaves in the enterprise's file
SERVICE_ITEM_RECORD_KIND: dict[ServiceItem, ServiceKind] = {
    ServiceItem.RISK_ASSESSMENT: ServiceKind.RISK_DIAGNOSIS,
    ServiceItem.HAZARD_INSPECTION: ServiceKind.INSPECTION,
    ServiceItem.TRAINING: ServiceKind.TRAINING,
    ServiceItem.EMERGENCY_PLAN: ServiceKind.EMERGENCY_PLAN,
    ServiceItem.STANDARDIZATION: ServiceKind.OTHER,
    ServiceItem.DUAL_PREVENTION: ServiceKind.OTHER,
    ServiceItem.DRILL: ServiceKind.DRILL,
}
TASK_STATUS_LABELS: dict[TaskStatus, str] = {
    TaskStatus.PLANNED: "计划",
    TaskStatus.BOOKED: "已预约",
    TaskStatus.DONE: "已完成",
    TaskStatus.CONFIRMED: "双方确认",
    TaskStatus.ARCHIVED: "已归档",
}
COMPLAINT_STATUS_LABELS: dict[ComplaintStatus, str] = {
    ComplaintStatus.OPEN: "待答复",
    ComplaintStatus.ANSWERED: "已答复",
    ComplaintStatus.CLOSED: "已办结",
}
CLAIM_STATUS_LABELS: dict[ClaimStatus, str] = {
    ClaimStatus.REPORTED: "报案",
    ClaimStatus.SURVEYED: "查勘",
    ClaimStatus.ASSESSED: "定损",
    ClaimStatus.PAID: "赔付",
    ClaimStatus.REJECTED: "拒赔",
}
REQUEST_STATUS_LABELS: dict[RequestStatus, str] = {
    RequestStatus.OPEN: "待受理",
    RequestStatus.ACCEPTED: "已受理",
    RequestStatus.DONE: "已完成",
}
#: risk levels of an enterprise, highest first (see center/SCORING.md)
CAMERA_STATE_LABELS = {
    "starting": "启动中",
    "online": "在线",
    "stalled": "卡顿",
    "offline": "离线",
    "no_report": "未上报",  # registered, but its node's last heartbeat did not report it
    "unknown": "状态未知",  # its node is offline, stopped or silent: the figures are dated
}
RISK_LEVEL_LABELS = {"red": "红", "orange": "橙", "yellow": "黄", "blue": "蓝"}


def label(labels: Mapping[Any, str], value: str) -> str:
    """The Chinese name of ``value`` in ``labels``, or the value itself when it has none."""
    return labels.get(value, value)
