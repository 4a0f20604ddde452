"""``parkguard-center seed``: a realistic demo park (the pilot's shape), idempotent.

Eight enterprises of 毅佳工业园 (狮山镇, 南海区) across the industries, with valid credit
codes, their 安责险 policies with three insurers, 30 cameras at their posts on three edge
nodes (the demo camera ``cam-yard-01`` of ``yj-metal`` on ``edge-01`` among them), a
user for each role, 30 days of alerts with operators' verdicts, hazards at every step of
the rectification loop, service records, and the daily risk scores those give.

Running it again adds nothing twice: every row has a natural key (ids, codes, user names,
deterministic event ids) and is only created when missing; the risk history is recomputed.
Demo passwords are ``<user name>-demo`` (documented in the README) and are printed when
the users are created.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import math
import random
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from center.api.plan.image import check_svg
from center.api.users.schemas import UserIn
from center.api.users.service import add_user, user_by_name
from center.auth.security import hash_password
from center.config import CenterConfig
from center.domain import creditcode, grid, scoring, workflow
from center.domain.timeparse import DAY_MS
from center.domain.vocabulary import SERVICE_ITEM_LABELS, HazardLevel, HazardSource, Role, TaskStatus, label
from center.domain.workdays import add_working_days
from center.ingest.upsert import apply_alert
from center.store.models import (
    Alert,
    Camera,
    CameraUptime,
    Claim,
    Complaint,
    Enterprise,
    FollowUp,
    GridCell,
    Hazard,
    InsurancePolicy,
    Insurer,
    Node,
    Park,
    ParkPlan,
    ServiceOrg,
    ServicePlan,
    ServicePlanItem,
    ServiceRecord,
    ServiceRequest,
    ServiceStaff,
    ServiceTask,
    Town,
)
from protocol import AlertEvent, now_ms

log = logging.getLogger(__name__)

HOUR_MS = 3_600_000
NAMESPACE = uuid.UUID("6f1c2d1e-59a4-4b0c-9d0e-7061726b6775")  # "parkgu(ard)"
HISTORY_DAYS = 30

TOWNS = [("shishan", "狮山镇"), ("dali", "大沥镇"), ("lishui", "里水镇")]
PARK = ("yijia", "毅佳工业园", "shishan", "佛山市南海区狮山镇毅佳工业园")
INSURERS = [
    ("picc", "中国人民财产保险股份有限公司佛山市分公司"),
    ("pingan", "中国平安财产保险股份有限公司佛山分公司"),
    ("cpic", "中国太平洋财产保险股份有限公司佛山中心支公司"),
]
NODES = [("edge-01", "A区机房 (zone A)"), ("edge-02", "B区机房 (zone B)"), ("edge-03", "C区机房 (zone C)")]

# rule type -> (rule id suffix, rule name, severity)
RULES = {
    "intrusion": ("intrusion", "禁行区闯入", "significant"),
    "missing_ppe": ("ppe", "未佩戴安全帽", "general"),
    "fire_smoke": ("fire", "烟火识别", "major"),
    "smoking": ("smoking", "吸烟", "significant"),
    "vehicle_proximity": ("forklift", "人车近距离", "significant"),
    "post_unattended": ("post", "中控室离岗", "general"),
    "phone_use": ("phone", "作业中使用手机", "general"),
    "overcrowding": ("crowd", "超员", "general"),
    "man_down": ("fall", "人员倒地", "major"),
}


@dataclass
class Cam:
    id: str
    post: str
    rules: list[str]
    key_post: bool = False
    node: str = "edge-01"
    noisy: bool = False  # a camera with many false alarms (precision visibly low)


# the 岗位 (post) each camera watches: the job done at the place the camera is named after
POSTS = {
    "cam-yard-01": "厂内叉车运输岗",
    "cam-yj-melt": "熔铸炉前操作岗",
    "cam-yj-press": "挤压机操作岗",
    "cam-yj-store": "仓库管理岗",
    "cam-yj-ctrl": "配电值班岗",
    "cam-hx-tank": "储罐区巡检岗",
    "cam-hx-load": "危化品装卸岗",
    "cam-hx-ctrl": "中控室操作岗",
    "cam-hx-ware": "危化品仓管岗",
    "cam-lc-spray": "喷漆作业岗",
    "cam-lc-saw": "开料锯切岗",
    "cam-lc-dust": "除尘设备巡检岗",
    "cam-lc-gate": "成品装卸岗",
    "cam-dj-crane": "起重司索指挥岗",
    "cam-dj-weld": "电焊作业岗",
    "cam-dj-assy": "装配作业岗",
    "cam-dj-dock": "叉车搬运岗",
    "cam-ms-store1": "成品库保管岗",
    "cam-ms-store2": "成品库保管岗",
    "cam-ms-gate": "库区门卫岗",
    "cam-ms-duty": "库区值班岗",
    "cam-hf-inject": "注塑机操作岗",
    "cam-hf-punch": "冲压作业岗",
    "cam-hf-ware": "原料仓管岗",
    "cam-sy-crusher": "破碎机操作岗",
    "cam-sy-belt": "皮带巡检岗",
    "cam-sy-yard": "装载机作业岗",
    "cam-jl-melt": "熔炼炉前操作岗",
    "cam-jl-oxide": "氧化槽作业岗",
    "cam-jl-dock": "装车作业岗",
}


@dataclass
class Ent:
    id: str
    name: str
    industry: str
    org8: str
    address: str
    pos: tuple[float, float]
    contact: tuple[str, str, str]
    insurer: str
    premium: float
    headcount: int
    alerts_per_day: float
    cams: list[Cam] = field(default_factory=list)


ENTERPRISES = [
    Ent(
        "yj-metal",
        "佛山市南海毅佳金属制品有限公司",
        "metal_smelting",
        "MA4UXY12",
        "毅佳工业园A区3号",
        (0.22, 0.30),
        ("陈国强", "0757-8666 1201", "安全主任"),
        "picc",
        38600,
        120,
        5.0,
        [
            Cam("cam-yard-01", "厂区主通道", ["intrusion", "vehicle_proximity"], True, "edge-01"),
            Cam("cam-yj-melt", "熔铸车间炉前", ["missing_ppe", "fire_smoke"], True, "edge-01"),
            Cam("cam-yj-press", "挤压车间", ["missing_ppe", "phone_use"], False, "edge-01", noisy=True),
            Cam("cam-yj-store", "铝棒仓库", ["smoking", "intrusion"], False, "edge-01"),
            Cam("cam-yj-ctrl", "配电房", ["post_unattended"], True, "edge-01"),
        ],
    ),
    Ent(
        "hx-chem",
        "佛山市南海恒鑫化工有限公司",
        "hazardous_chemicals",
        "MA51HX3K",
        "毅佳工业园A区8号",
        (0.45, 0.22),
        ("黄志明", "0757-8666 1388", "安全总监"),
        "pingan",
        52800,
        65,
        3.0,
        [
            Cam("cam-hx-tank", "储罐区", ["smoking", "fire_smoke"], True, "edge-01"),
            Cam("cam-hx-load", "装卸车区", ["vehicle_proximity", "intrusion"], True, "edge-01"),
            Cam("cam-hx-ctrl", "中控室", ["post_unattended", "phone_use"], True, "edge-01"),
            Cam("cam-hx-ware", "甲类仓库", ["smoking", "intrusion"], True, "edge-01"),
        ],
    ),
    Ent(
        "lc-furniture",
        "佛山市南海林创家具有限公司",
        "furniture",
        "MA4W8LC2",
        "毅佳工业园B区2号",
        (0.70, 0.28),
        ("林晓燕", "0757-8666 2105", "安全员"),
        "cpic",
        21500,
        180,
        2.0,
        [
            Cam("cam-lc-spray", "喷漆房", ["smoking", "fire_smoke"], True, "edge-02"),
            Cam("cam-lc-saw", "开料车间", ["missing_ppe"], False, "edge-02", noisy=True),
            Cam("cam-lc-dust", "除尘房", ["intrusion"], True, "edge-02"),
            Cam("cam-lc-gate", "成品仓出入口", ["vehicle_proximity"], False, "edge-02"),
        ],
    ),
    Ent(
        "dj-machinery",
        "佛山市南海鼎匠机械设备有限公司",
        "machinery",
        "MA52DJ7P",
        "毅佳工业园B区6号",
        (0.82, 0.55),
        ("何家俊", "0757-8666 2266", "设备安全主管"),
        "picc",
        18900,
        95,
        0.6,
        [
            Cam("cam-dj-crane", "行车作业区", ["intrusion", "man_down"], True, "edge-02"),
            Cam("cam-dj-weld", "焊接工位", ["missing_ppe"], False, "edge-02"),
            Cam("cam-dj-assy", "装配车间", ["phone_use"], False, "edge-02"),
            Cam("cam-dj-dock", "发货区", ["vehicle_proximity"], False, "edge-02"),
        ],
    ),
    Ent(
        "ms-fireworks",
        "佛山市南海明盛烟花爆竹贸易有限公司",
        "fireworks",
        "MA4XMH5N",
        "毅佳工业园C区1号",
        (0.18, 0.72),
        ("梁永康", "0757-8666 3011", "仓库主管"),
        "pingan",
        26800,
        22,
        1.2,
        [
            Cam("cam-ms-store1", "1号成品库", ["smoking", "intrusion"], True, "edge-03"),
            Cam("cam-ms-store2", "2号成品库", ["smoking", "intrusion"], True, "edge-03"),
            Cam("cam-ms-gate", "库区大门", ["overcrowding"], False, "edge-03"),
            Cam("cam-ms-duty", "值班室", ["post_unattended"], True, "edge-03"),
        ],
    ),
    Ent(
        "hf-trade",
        "佛山市南海和丰五金塑料制品有限公司",
        "industry_trade",
        "MA53HF9D",
        "毅佳工业园C区5号",
        (0.48, 0.62),
        ("吴丽华", "0757-8666 3520", "行政安全专员"),
        "cpic",
        9800,
        60,
        0.5,
        [
            Cam("cam-hf-inject", "注塑车间", ["missing_ppe"], False, "edge-03"),
            Cam("cam-hf-punch", "冲压工位", ["missing_ppe", "phone_use"], True, "edge-03"),
            Cam("cam-hf-ware", "原料仓", ["smoking"], False, "edge-03"),
        ],
    ),
    Ent(
        "sy-quarry",
        "佛山市南海石岩建材有限公司",
        "metal_nonmetal_mining",
        "MA4YCY8E",
        "毅佳工业园C区9号",
        (0.32, 0.88),
        ("冯建华", "0757-8666 3899", "矿长助理"),
        "picc",
        45200,
        48,
        1.8,
        [
            Cam("cam-sy-crusher", "破碎站", ["intrusion", "missing_ppe"], True, "edge-03"),
            Cam("cam-sy-belt", "皮带廊", ["intrusion", "man_down"], True, "edge-03"),
            Cam("cam-sy-yard", "堆场", ["vehicle_proximity"], False, "edge-03", noisy=True),
        ],
    ),
    Ent(
        "jl-alu",
        "佛山市南海金力铝型材有限公司",
        "metal_smelting",
        "MA51JL4T",
        "毅佳工业园A区12号",
        (0.60, 0.45),
        ("邓志伟", "0757-8666 1620", "安全主任"),
        "cpic",
        33400,
        150,
        1.0,
        [
            Cam("cam-jl-melt", "熔炼炉前", ["missing_ppe", "fire_smoke"], True, "edge-01"),
            Cam("cam-jl-oxide", "氧化车间", ["missing_ppe"], False, "edge-01"),
            Cam("cam-jl-dock", "装车月台", ["vehicle_proximity"], False, "edge-01"),
        ],
    ),
]

USERS = [
    ("admin", "admin", "系统管理员", {}),
    ("operator", "operator", "管控中心值班员", {}),
    ("gov", "government", "狮山镇应急办", {}),
    ("yjmetal", "enterprise", "毅佳安全主任", {"enterprise_id": "yj-metal"}),
    ("hxchem", "enterprise", "恒鑫安全总监", {"enterprise_id": "hx-chem"}),
    ("picc", "insurer", "人保财险佛山", {"insurer_id": "picc"}),
    ("pingan", "insurer", "平安产险佛山", {"insurer_id": "pingan"}),
    ("edge-01", "edge", "边缘节点 edge-01", {"node": "edge-01"}),
    ("svc-liu", "service", "刘建明（广东安评）", {}),  # 第三方服务人员: the tasks assigned to 刘建明
    ("svc-chen", "service", "陈伟（中安咨询）", {}),
]

# the park's 片区 (grid cells) of 狮山镇, by the zone in an enterprise's address
GRID_CELLS = [
    ("yijia-a", "shishan", "毅佳工业园A区片区", "周敏"),
    ("yijia-b", "shishan", "毅佳工业园B区片区", "罗志强"),
    ("yijia-c", "shishan", "毅佳工业园C区片区", "潘慧"),
    ("dali-1", "dali", "大沥镇第一片区", "何俊"),
    ("lishui-1", "lishui", "里水镇第一片区", "钟丽"),
]
# 第三方服务机构 and their staff (name, qualification, login); which insurer engages which
SERVICE_ORGS = [
    (
        "anping",
        "广东安评技术服务有限公司",
        "刘建明",
        "0757-8633 2018",
        [("刘建明", "注册安全工程师", "svc-liu"), ("王芳", "安全评价师", None)],
    ),
    (
        "zhongan",
        "佛山市中安安全技术咨询有限公司",
        "陈伟",
        "0757-8622 5190",
        [("陈伟", "注册安全工程师", "svc-chen"), ("黄晓东", "消防设施操作员", None)],
    ),
]
ORG_OF_INSURER = {"picc": "anping", "cpic": "anping", "pingan": "zhongan"}
# a plan's items: (item, times a year); high-risk industries get two more
PLAN_ITEMS = [("risk_assessment", 1), ("hazard_inspection", 4), ("training", 2), ("emergency_plan", 1)]
HIGH_RISK_ITEMS = [("dual_prevention", 1), ("standardization", 1)]
HIGH_RISK = {"hazardous_chemicals", "fireworks", "metal_nonmetal_mining", "metal_smelting"}
MEASURES = {
    "risk_assessment": "全厂风险辨识，形成风险分级管控清单和四色分布图",
    "hazard_inspection": "按季度全面排查，隐患书面告知并跟踪整改",
    "training": "主要负责人、安全管理人员和新入职员工安全培训",
    "emergency_plan": "指导修订综合及专项应急预案，组织一次桌面推演",
    "dual_prevention": "指导建立风险分级管控和隐患排查治理双重预防机制",
    "standardization": "对照安全生产标准化评定标准开展差距分析",
}


def demo_password(username: str) -> str:
    return f"{username}-demo"


# hazards: (code suffix, enterprise, title, level, source, days ago created, deadline days, final state, late)
HAZARDS = [
    ("01", "yj-metal", "熔铸车间炉前人员未佩戴防护面罩", "major", "ai", 20, 10, "in_progress", True),
    ("02", "yj-metal", "主通道叉车与行人混行，无隔离", "general", "ai", 12, 7, "pending", True),
    ("03", "yj-metal", "铝棒仓库消防通道堆放物料", "general", "inspection", 25, 7, "closed", False),
    ("04", "hx-chem", "储罐区防火堤内有烟头", "major", "ai", 8, 15, "review", False),
    ("05", "hx-chem", "中控室夜班离岗", "general", "ai", 18, 5, "closed", True),
    ("06", "lc-furniture", "喷漆房静电接地线断开", "general", "inspection", 6, 10, "in_progress", False),
    ("07", "ms-fireworks", "成品库内发现吸烟行为", "major", "ai", 15, 7, "pending", True),
    ("08", "sy-quarry", "皮带廊检修未挂牌上锁", "general", "inspection", 9, 14, "review", False),
    ("09", "dj-machinery", "行车吊物下方有人员通行", "general", "ai", 22, 7, "closed", False),
    ("10", "jl-alu", "熔炼炉前防护栏缺失", "general", "inspection", 4, 10, "pending", False),
]

# the camera at the post where each hazard is: an AI hazard comes from an alert of that camera (when
# it has one), an inspector found the others there
HAZARD_PLACES = {
    "01": "cam-yj-melt",
    "02": "cam-yard-01",
    "03": "cam-yj-store",
    "04": "cam-hx-tank",
    "05": "cam-hx-ctrl",
    "06": "cam-lc-spray",
    "07": "cam-ms-store1",
    "08": "cam-sy-belt",
    "09": "cam-dj-crane",
    "10": "cam-jl-melt",
}

SERVICES = [
    (
        "yj-metal",
        "risk_diagnosis",
        40,
        "广东安评技术服务有限公司",
        "picc",
        "熔铸、挤压车间风险诊断，提出整改建议8条",
    ),
    ("yj-metal", "training", 21, "佛山市南海区安全生产协会", None, "高温熔融金属作业安全培训，参训56人"),
    ("hx-chem", "emergency_plan", 35, "中国平安产险风险管理部", "pingan", "储罐区泄漏应急预案修订指导"),
    ("hx-chem", "drill", 10, "恒鑫化工安全部", None, "储罐区泄漏应急演练"),
    ("lc-furniture", "training", 28, "狮山镇应急管理办公室", None, "粉尘防爆安全培训"),
    (
        "ms-fireworks",
        "risk_diagnosis",
        33,
        "中国平安产险风险管理部",
        "pingan",
        "成品库储存条件与防火间距诊断",
    ),
    ("sy-quarry", "inspection", 14, "南海区应急管理局", None, "非煤矿山专项执法检查"),
    ("jl-alu", "risk_diagnosis", 50, "太平洋产险佛山中心支公司", "cpic", "熔炼炉区域风险诊断"),
    ("dj-machinery", "training", 45, "人保财险佛山市分公司", "picc", "起重作业安全培训"),
]


@dataclass
class SeedReport:
    created: dict[str, int] = field(default_factory=dict)
    passwords: list[tuple[str, str, str]] = field(default_factory=list)  # user, role, password (new users)
    scores: list[tuple[str, float, str]] = field(default_factory=list)

    def add(self, kind: str, n: int = 1) -> None:
        self.created[kind] = self.created.get(kind, 0) + n


def _get_or_add(session: Session, report: SeedReport, model: type[Any], key: Any, **fields: Any) -> Any:
    row = session.get(model, key)
    if row is None:
        row = model(**fields)
        session.add(row)
        session.flush()
        report.add(model.__tablename__)
    return row


def _uptime(session: Session, config: CenterConfig, now: int, report: SeedReport) -> None:
    """When each camera was online over the history (center/domain/uptime.py): mostly online, with
    outages of a few hours on some days and one camera down for two days; not for a camera that
    has spans already (a running demo's own heartbeats)."""
    rng = random.Random(20261204)
    have = set(session.scalars(select(CameraUptime.camera).distinct()))
    start = now - HISTORY_DAYS * DAY_MS
    for e in ENTERPRISES:
        for c in e.cams:
            if c.id in have or c.node is None:
                continue
            t = start
            spans: list[tuple[int, int]] = []
            while t < now:
                if rng.random() < 0.12:  # an outage: a few hours, now and then two days
                    t += (48 if rng.random() < 0.08 else rng.randint(1, 8)) * HOUR_MS
                    continue
                up = rng.randint(12, 96) * HOUR_MS
                spans.append((t, min(t + up, now)))
                t += up
            for a, b in spans:
                session.add(
                    CameraUptime(site=config.site, node=c.node, camera=c.id, start_ms=a, end_ms=b, open=False)
                )
                report.add("camera_uptime")


def _alert_history(session: Session, config: CenterConfig, now: int, report: SeedReport) -> None:
    rng = random.Random(20250601)
    tz = ZoneInfo(config.timezone)
    today = datetime.fromtimestamp(now / 1000, tz).date()
    for ent in ENTERPRISES:
        n_days = HISTORY_DAYS
        seq = 0
        for day in range(n_days, 0, -1):
            # more alerts in the older half for some, so histories differ in shape
            count = _poisson(rng, ent.alerts_per_day)
            for _ in range(count):
                seq += 1
                cam = rng.choice(ent.cams)
                rule_type = rng.choice(cam.rules)
                suffix, rule_name, severity = RULES[rule_type]
                if rng.random() < 0.15 and severity != "major":
                    severity = "significant" if severity == "general" else "major"
                # working hours 07:00–22:00 in the park's time zone (not UTC, not relative to now)
                midnight = datetime.combine(today - timedelta(days=day), datetime.min.time(), tz)
                started = int(midnight.timestamp() * 1000) + int(rng.uniform(7, 22) * HOUR_MS)
                duration = int(rng.uniform(10, 300) * 1000)
                n_objects, score, r = rng.randint(1, 3), round(rng.uniform(0.45, 0.95), 2), rng.random()
                reason = rng.choice(
                    ["误检：反光背心被识别为人员", "误检：设备阴影", "测试演练", "误检：人员在安全区域内"]
                )
                handled_after = int(rng.uniform(1, 30) * 60_000)
                event_id = str(uuid.uuid5(NAMESPACE, f"{ent.id}/{seq}"))
                if session.get(Alert, event_id) is not None:
                    continue  # seeded before (every random draw above is made either way)
                ev = AlertEvent(
                    event_id=event_id,
                    phase="end",
                    seq=1,
                    site=config.site,
                    node=cam.node,
                    camera=cam.id,
                    enterprise=ent.id,
                    rule_id=f"{cam.id.removeprefix('cam-')}-{suffix}",
                    rule_type=rule_type,
                    rule_name=f"{cam.post}{rule_name}",
                    severity=severity,
                    started_ms=started,
                    last_ms=started + duration,
                    ended_ms=started + duration,
                    count=n_objects,
                    score=score,
                    sent_ms=started + duration,
                )
                _, row = apply_alert(session, ev, started + duration + 500)
                # the operators' verdicts: most reviewed, the noisy cameras often false alarms
                p_dismiss = 0.55 if cam.noisy else 0.12
                if day <= 1 and r < 0.6:
                    pass  # today's: not reviewed yet
                elif r < p_dismiss:
                    row.status = "dismissed"
                    row.dismiss_reason = reason
                elif r < 0.92:
                    row.status = "acknowledged"
                if row.status != "open":
                    row.handled_by = "operator"
                    row.handled_ms = started + duration + handled_after
                report.add("alerts")


def _poisson(rng: random.Random, lam: float) -> int:
    # Knuth's method; lam is small
    limit, k, p = math.exp(-lam), 0, 1.0
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1


def _hazards(session: Session, now: int, report: SeedReport) -> None:
    for suffix, ent_id, title, level, source, ago, deadline_days, final, late in HAZARDS:
        code = f"YH-DEMO-{suffix}"
        if session.scalars(select(Hazard).where(Hazard.code == code)).first() is not None:
            continue
        created = now - ago * DAY_MS
        deadline = created + deadline_days * DAY_MS
        ent = next(e for e in ENTERPRISES if e.id == ent_id)
        cam = ent.cams[0]
        alert_id = None
        if source == "ai":
            found = select(Alert).where(
                Alert.enterprise == ent_id, Alert.started_ms <= created, Alert.status != "dismissed"
            )
            newest = found.order_by(Alert.started_ms.desc()).limit(1)
            alert = session.scalars(newest.where(Alert.camera == HAZARD_PLACES[suffix])).first()
            alert = alert or session.scalars(newest).first()
            if alert is not None:
                alert.status = "escalated"
                alert.handled_by = "operator"
                alert.handled_ms = created
                alert_id = alert.event_id
                cam = next((c for c in ent.cams if c.id == alert.camera), cam)
        h = workflow.create_hazard(
            session,
            "operator",
            enterprise_id=ent_id,
            title=title,
            level=HazardLevel(level),
            source=HazardSource(source),
            deadline_ms=deadline,
            assignee=ent.contact[0],
            camera_id=cam.id if alert_id else HAZARD_PLACES.get(suffix),
            alert_id=alert_id,
            code=code,
            created_ms=created,
        )
        if alert_id is not None:
            session.get(Alert, alert_id).hazard_id = h.id  # type: ignore[union-attr]
        steps = ["in_progress", "review", "closed"]
        target = steps.index(final) + 1 if final in steps else 0
        span = (deadline + (3 * DAY_MS if late else -DAY_MS)) - created
        t = created
        if target >= 1:
            t += span // 4
            workflow.start(session, h, ent.contact[0], "已安排整改", ts=t)
        if target >= 2:
            t += span // 3
            workflow.submit(session, h, ent.contact[0], "已完成整改并复查", [], ts=t, verify_files=False)
        if target >= 3:
            t = created + span
            workflow.approve(session, h, "operator", "复核通过，予以销号", ts=t)
        report.add("hazards")


def _registry(session: Session, config: CenterConfig, now: int, report: SeedReport) -> None:
    """Towns, the park, insurers, edge nodes, enterprises with their cameras and policies."""
    for tid, name in TOWNS:
        _get_or_add(session, report, Town, tid, id=tid, name=name, district="南海区")
    pid, pname, ptown, paddr = PARK
    _get_or_add(session, report, Park, pid, id=pid, name=pname, town_id=ptown, address=paddr)
    for iid, name in INSURERS:
        _get_or_add(session, report, Insurer, iid, id=iid, name=name)
    for nid, name in NODES:
        node = session.get(Node, (config.site, nid))
        if node is None:
            session.add(
                Node(
                    site=config.site, node=nid, state="offline", status_ms=None, last_seen_ms=0, software="",
                    cameras=[], config_version=None, heartbeat=None, updated_ms=now, name=name,
                )
            )  # fmt: skip
            report.add("nodes")
        elif not node.name:
            node.name = name
    year = datetime.fromtimestamp(now / 1000, ZoneInfo(config.timezone)).year
    for e in ENTERPRISES:
        code = creditcode.make("9", "1", "440605", e.org8)
        _get_or_add(
            session, report, Enterprise, e.id, id=e.id, park_id=pid, town_id=ptown, name=e.name,
            credit_code=code, industry=e.industry, address=f"佛山市南海区狮山镇{e.address}",
            map_x=e.pos[0], map_y=e.pos[1],
            contacts=[{"name": e.contact[0], "phone": e.contact[1], "title": e.contact[2]}],
            created_ms=now, updated_ms=now,
        )  # fmt: skip
        for i, c in enumerate(e.cams):
            cam = _get_or_add(
                session, report, Camera, c.id, id=c.id, enterprise_id=e.id, node=c.node, name=c.post,
                post_name=POSTS[c.id], key_post=c.key_post,
                map_x=min(1.0, e.pos[0] + 0.02 * (i - len(e.cams) / 2)), map_y=min(1.0, e.pos[1] + 0.03),
                created_ms=now - (HISTORY_DAYS + 1) * DAY_MS,  # watching since before the alert history
            )  # fmt: skip
            if cam.post_name in ("", cam.name):  # seeded before posts had names of their own
                cam.post_name = POSTS[c.id]
        for y in (year - 1, year):
            policy_no = f"{e.insurer.upper()}-AZX-{y}-440605-{e.org8[-4:]}"
            if session.scalars(select(InsurancePolicy).where(InsurancePolicy.policy_no == policy_no)).first():
                continue
            session.add(
                InsurancePolicy(
                    enterprise_id=e.id, insurer_id=e.insurer, policy_no=policy_no,
                    start_date=f"{y}-01-01", end_date=f"{y}-12-31",
                    premium_cny=float(e.premium if y == year else round(e.premium * 0.95)),
                    insured_headcount=e.headcount, created_ms=now,
                )
            )  # fmt: skip
            report.add("insurance_policies")


DEMO_PLAN = Path(__file__).resolve().parent / "web" / "plans" / "yijia-park.svg"


def _plan(session: Session, config: CenterConfig, now: int, report: SeedReport) -> None:
    """The pilot park's drawn plan (毅佳工业园, center/web/plans/yijia-park.svg) as the map's base,
    unless the site has uploaded its own; the enterprises' positions above are placed on it."""
    if session.get(ParkPlan, config.site) is not None:
        return
    data = DEMO_PLAN.read_bytes()
    width, height = check_svg(data)
    session.add(
        ParkPlan(
            site=config.site, content_type="image/svg+xml", data=data,
            sha256=hashlib.sha256(data).hexdigest(), width=width, height=height, uploaded_by="seed",
            uploaded_ms=now,
        )
    )  # fmt: skip
    report.add("park plan")


@functools.lru_cache(maxsize=32)
def _demo_hash(username: str) -> str:
    """The argon2 hash of a demo user's documented password, made once per process: about 0.12 s
    each, and a process that seeds many databases (the tests) need not pay it every time."""
    return hash_password(demo_password(username))


def _users(session: Session, report: SeedReport) -> None:
    """A user of each role (the same service as ``parkguard-center user add``)."""
    warned = False
    for username, role, display, links in USERS:
        if user_by_name(session, username) is not None:
            continue
        password = demo_password(username)
        # the demo's documented passwords are too weak for the password policy: this seed alone
        # bypasses it (model_construct skips the schema's length too), and says so
        fields: dict[str, Any] = {"role": Role(role), "display_name": display, **links}
        body = UserIn.model_construct(username=username, password=password, **fields)
        add_user(session, body, password_policy=False, password_hash=_demo_hash(username))
        if not warned:
            log.warning(
                "demo seed: the demo users' passwords (<name>-demo) bypass the password policy; "
                "they are for a demo only: change them (PATCH /api/users/{id}) for anything else"
            )
            warned = True
        report.passwords.append((username, role, password))
        report.add("users")


def _services(session: Session, today: date, now: int, report: SeedReport) -> None:
    for ent_id, kind, ago, provider, insurer, summary in SERVICES:
        day = (today - timedelta(days=ago)).isoformat()
        exists = session.scalars(
            select(ServiceRecord).where(
                ServiceRecord.enterprise_id == ent_id, ServiceRecord.kind == kind, ServiceRecord.date == day
            )
        ).first()
        if exists is None:
            session.add(
                ServiceRecord(
                    enterprise_id=ent_id, kind=kind, date=day, provider=provider, insurer_id=insurer,
                    summary=summary, created_by="operator", created_ms=now,
                )
            )  # fmt: skip
            report.add("service_records")


def _grid(session: Session, report: SeedReport) -> None:
    """片区 of the district, each enterprise in the one of its zone."""
    for cid, town, name, keeper in GRID_CELLS:
        _get_or_add(session, report, GridCell, cid, id=cid, town_id=town, name=name, keeper=keeper)
    for e in ENTERPRISES:
        row = session.get(Enterprise, e.id)
        if row is not None and row.grid_id is None:
            row.grid_id = f"yijia-{e.address[5].lower()}"  # 毅佳工业园A区3号 → yijia-a


def _service_loop(session: Session, today: date, now: int, report: SeedReport) -> None:
    """A year of the 安责险 service loop: a plan for every policy with its tasks (most of the past
    ones done, confirmed, archived and followed up; some overdue; hazards found on visits), a few
    service requests, complaints and claims."""
    rng = random.Random(20261204)
    staff_of: dict[str, list[int]] = {}
    for oid, name, contact, phone, people in SERVICE_ORGS:
        _get_or_add(session, report, ServiceOrg, oid, id=oid, name=name, contact=contact, phone=phone)
        for person, qualification, username in people:
            row = session.scalars(
                select(ServiceStaff).where(ServiceStaff.org_id == oid, ServiceStaff.name == person)
            ).first()
            if row is None:
                row = ServiceStaff(
                    org_id=oid, name=person, phone="", qualification=qualification, username=username
                )
                session.add(row)
                session.flush()
                report.add("service_staff")
            staff_of.setdefault(oid, []).append(row.id)
    industry = {e.id: e.industry for e in ENTERPRISES}
    officer_of = {e.id: e.contact[0] for e in ENTERPRISES}
    for policy in session.scalars(select(InsurancePolicy).order_by(InsurancePolicy.id)).all():
        if session.scalars(select(ServicePlan).where(ServicePlan.policy_id == policy.id)).first() is not None:
            continue
        oid = ORG_OF_INSURER.get(policy.insurer_id, "anping")
        lead, second = staff_of[oid][0], staff_of[oid][-1]
        created = int(datetime.fromisoformat(policy.start_date).timestamp() * 1000)
        plan = ServicePlan(
            policy_id=policy.id,
            enterprise_id=policy.enterprise_id,
            insurer_id=policy.insurer_id,
            org_id=oid,
            goals="重大隐患动态清零，一般隐患整改率不低于95%，从业人员安全培训全覆盖",
            created_by=policy.insurer_id,
            created_ms=min(created, now),
        )
        session.add(plan)
        session.flush()
        items = PLAN_ITEMS + (HIGH_RISK_ITEMS if industry.get(policy.enterprise_id) in HIGH_RISK else [])
        for item, times in items:
            session.add(
                ServicePlanItem(
                    plan_id=plan.id,
                    item=item,
                    times=times,
                    staff_id=second if item == "training" else lead,
                    measures=MEASURES[item],
                    goal="",
                )
            )
        session.flush()
        tasks = grid.make_tasks(
            session, plan, date.fromisoformat(policy.start_date), date.fromisoformat(policy.end_date), now
        )
        report.add("service_plans")
        report.add("service_tasks", len(tasks))
        for task in tasks:
            _progress(session, task, today, now, rng, officer_of[policy.enterprise_id])
    _requests_complaints_claims(session, today, now, report)


def _progress(
    session: Session, task: ServiceTask, today: date, now: int, rng: random.Random, officer: str
) -> None:
    """Move a seeded task along as the pilot's year went: a past one mostly done to the end (one in
    eight not: overdue), one due within a month booked or done, a later one planned."""
    due = date.fromisoformat(task.due_date)
    left = (due - today).days
    roll = rng.random()
    if left > 30:
        return
    if left >= 0 and roll < 0.35:  # due within the month: booked
        task.status = TaskStatus.BOOKED.value
        task.booked_date = min(due, today + timedelta(days=rng.randint(1, 7))).isoformat()
        task.booking_note = "已与企业安全员电话确认"
        return
    this_year = (today - due).days < 180  # last year's policies' services were all done
    if (left >= 0 and roll >= 0.6) or (left < 0 and roll < 0.125 and this_year):  # not yet, or overdue
        return
    # done: early (in the last days) when not due yet, else some weeks before its due day
    visit = (
        today - timedelta(days=rng.randint(1, 8)) if left >= 0 else due - timedelta(days=rng.randint(3, 40))
    )
    day_ms = int(datetime(visit.year, visit.month, visit.day, 10).timestamp() * 1000)
    task.status = TaskStatus.BOOKED.value
    task.booked_date = (visit - timedelta(days=3)).isoformat()
    task.record = f"按计划开展{label(SERVICE_ITEM_LABELS, task.item)}，已与企业交换意见"
    task.status = TaskStatus.DONE.value
    task.done_ms, task.done_date = day_ms, visit.isoformat()
    task.archive_due = add_working_days(visit, grid.ARCHIVE_WORKING_DAYS).isoformat()
    if task.item == "hazard_inspection" and roll < 0.5:
        h = workflow.create_hazard(
            session,
            "svc-liu",
            enterprise_id=task.enterprise_id,
            title=rng.choice(SERVICE_FINDINGS),
            level=HazardLevel.GENERAL,
            source=HazardSource.SERVICE,
            deadline_ms=day_ms + 15 * DAY_MS,
            assignee=officer,
            created_ms=day_ms,
            verify_files=False,
        )
        h.service_task_id = task.id
        if (today - visit).days > 30 or roll < 0.3:
            workflow.start(session, h, officer, "已安排整改", ts=day_ms + 2 * DAY_MS)
            workflow.submit(session, h, officer, "已整改", [], ts=day_ms + 8 * DAY_MS, verify_files=False)
            workflow.approve(session, h, "operator", "复核通过", ts=day_ms + 10 * DAY_MS)
    if (today - visit).days < 4 and roll < 0.9:
        return  # done, waiting for the enterprise's confirmation
    task.status = TaskStatus.CONFIRMED.value
    task.confirmed_by, task.confirmed_ms = officer, day_ms + DAY_MS
    if (today - visit).days < 10 and roll < 0.95:
        return
    late = roll > 0.92
    archived = add_working_days(visit, 8 if late else 3)
    task.status = TaskStatus.ARCHIVED.value
    task.archived_by, task.archived_ms = task.insurer_id, day_ms + (archived - visit).days * DAY_MS
    task.archived_date = archived.isoformat()
    if roll < 0.8:
        session.add(
            FollowUp(
                task_id=task.id,
                enterprise_id=task.enterprise_id,
                satisfaction=rng.choice([5, 5, 4, 4, 4, 3]),
                opinion=rng.choice(["讲解细致，建议实用", "希望增加车间一线员工参与", "整改建议清楚", ""]),
                created_by=task.insurer_id,
                created_role="insurer",
                created_ms=day_ms + 5 * DAY_MS,
            )
        )


SERVICE_FINDINGS = [
    "配电箱未上锁，警示标识缺失",
    "消防通道堆放物料",
    "灭火器压力不足",
    "安全出口指示灯损坏",
    "叉车未按规定年检",
    "有限空间作业未审批",
]


def _requests_complaints_claims(session: Session, today: date, now: int, report: SeedReport) -> None:
    if session.scalars(select(Complaint).where(Complaint.created_by == "seed")).first() is not None:
        return

    def ms(days_ago: int) -> int:
        return now - days_ago * DAY_MS

    def day(days_ago: int) -> date:
        return today - timedelta(days=days_ago)

    for eid, kind, text, status, ago in [
        ("yj-metal", "training", "新招员工25人，需要一次入场安全培训", "open", 2),
        ("lc-furniture", "inspection", "除尘系统改造后请协助排查粉尘防爆隐患", "accepted", 9),
        ("hf-trade", "emergency_plan", "请指导修订综合应急预案", "done", 40),
    ]:
        session.add(
            ServiceRequest(
                enterprise_id=eid,
                kind=kind,
                text=text,
                status=status,
                created_by="seed",
                created_ms=ms(ago),
                reply="" if status == "open" else "已安排服务机构对接",
                replied_by=None if status == "open" else "picc",
                replied_role=None if status == "open" else "insurer",
                replied_ms=None if status == "open" else ms(ago - 1),
            )
        )
        report.add("service_requests")
    # complaints: answered on time and closed; complex, answered; open past the deadline; open in time
    for eid, ins, text, ago, complex_, answered_after, closed in [
        ("hf-trade", "cpic", "第二季度隐患排查推迟两次，未提前告知", 60, False, 5, True),
        ("hx-chem", "pingan", "应急预案指导内容与企业实际不符，要求重新指导", 45, True, 20, False),
        ("ms-fireworks", "pingan", "约定的培训至今未安排", 25, False, None, False),
        ("yj-metal", "picc", "服务人员到场时间与预约不一致", 3, False, None, False),
    ]:
        filed = day(ago)
        c = Complaint(
            enterprise_id=eid,
            insurer_id=ins,
            text=text,
            filed_date=filed.isoformat(),
            complex=complex_,
            complex_reason="需调取服务机构全年记录核实" if complex_ else "",
            deadline=grid.complaint_deadline(filed, complex_).isoformat(),
            status="open",
            answer="",
            created_by="seed",
            created_ms=ms(ago),
        )
        if answered_after is not None:
            c.status, c.answer, c.answered_by = "answered", "已核实并整改，向企业致歉", ins
            c.answered_ms, c.answered_date = ms(ago - answered_after), day(ago - answered_after).isoformat()
        if closed:
            c.status, c.closed_by, c.closed_ms = "closed", "seed", ms(ago - answered_after - 2)  # type: ignore[operator]
        session.add(c)
        report.add("complaints")
    for eid, text, ago, status, claimed, assessed, paid in [
        ("yj-metal", "挤压车间员工左手被挤伤，送医治疗", 200, "paid", 38000.0, 32000.0, 32000.0),
        ("jl-alu", "熔炼炉前员工烫伤", 75, "assessed", 56000.0, 50500.0, None),
        ("sy-quarry", "装载机倒车碰伤一名员工", 12, "reported", 20000.0, None, None),
        ("lc-furniture", "员工下班途中交通事故（非生产安全事故）", 120, "rejected", 15000.0, None, None),
        ("hx-chem", "装卸作业中员工滑倒骨折", 30, "surveyed", 42000.0, None, None),
    ]:
        policy = session.scalars(
            select(InsurancePolicy).where(
                InsurancePolicy.enterprise_id == eid,
                InsurancePolicy.start_date <= day(ago).isoformat(),
                InsurancePolicy.end_date >= day(ago).isoformat(),
            )
        ).first()
        if policy is None:
            continue
        claim = Claim(
            claim_no=f"LP-DEMO-{eid}",
            policy_id=policy.id,
            enterprise_id=eid,
            insurer_id=policy.insurer_id,
            accident_date=day(ago).isoformat(),
            accident=text,
            injured=1,
            status=status,
            claimed_cny=claimed,
            assessed_cny=assessed,
            paid_cny=paid,
            note="不属于保险责任范围" if status == "rejected" else "",
            reported_ms=ms(ago - 1),
            surveyed_ms=ms(ago - 4) if status != "reported" else None,
            assessed_ms=ms(ago - 20) if assessed else None,
            closed_ms=ms(ago - 40) if status in ("paid", "rejected") else None,
            created_by="seed",
            updated_ms=now,
        )
        session.add(claim)
        report.add("claims")


def seed(session: Session, config: CenterConfig, at_ms: int | None = None) -> SeedReport:
    """Create what is missing of the demo park; the caller commits."""
    now = now_ms() if at_ms is None else at_ms
    tz = ZoneInfo(config.timezone)
    report = SeedReport()
    _registry(session, config, now, report)
    _plan(session, config, now, report)
    _grid(session, report)
    _users(session, report)
    session.flush()
    _alert_history(session, config, now, report)
    _uptime(session, config, now, report)
    session.flush()
    _hazards(session, now, report)
    today = datetime.fromtimestamp(now / 1000, tz).date()
    _services(session, today, now, report)
    session.flush()
    _service_loop(session, today, now, report)
    session.flush()
    for back in range(HISTORY_DAYS, -1, -1):
        scoring.snapshot(session, config.risk, tz, today - timedelta(days=back))
    scores = scoring.current_many(session, [e.id for e in ENTERPRISES], config.risk, now)
    report.scores.extend((eid, r["score"], r["level_label"]) for eid, r in scores.items())
    return report
