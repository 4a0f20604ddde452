"""The park's registry: towns, parks, enterprises (with their risk in brief), insurers,
安责险 policies and safety service records."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictFloat, StrictInt, StringConstraints
from pydantic.json_schema import JsonDict

from center.api.schemas import MapPos, RowOut, Text128, derived
from center.domain import creditcode
from center.domain.vocabulary import INDUSTRY_LABELS, SERVICE_LABELS, Industry, ServiceKind, label
from protocol import Id


def _credit_code(value: str) -> str:
    value = value.strip()
    why = creditcode.problem(value)
    if why:
        raise ValueError(f"not a valid 统一社会信用代码 (GB 32100-2015): {why}")
    return value


CreditCode = Annotated[str, AfterValidator(_credit_code), Field(min_length=18, max_length=18)]
Address = Annotated[str, StringConstraints(max_length=256)]


class TownOut(RowOut):
    id: str
    name: str
    district: str


class ParkOut(RowOut):
    id: str
    name: str
    town_id: str | None
    address: str


class Contact(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Annotated[str, StringConstraints(min_length=1, max_length=32)]
    phone: Annotated[str, StringConstraints(pattern=r"^[0-9+\- ]{5,20}$")]
    title: Annotated[str, StringConstraints(max_length=32)] = ""


ENTERPRISE_EXAMPLE: JsonDict = {
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
    address: Address = ""
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
    address: Address | None = None
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


class IndustryLabelled(RowOut):
    industry: str

    @derived
    def industry_label(self) -> str:
        return label(INDUSTRY_LABELS, self.industry)


class EnterpriseOut(IndustryLabelled):
    id: str
    name: str
    credit_code: str
    address: str
    park_id: str | None
    town_id: str | None
    map_x: float | None
    map_y: float | None
    contacts: list[dict[str, Any]]
    cameras: int
    risk: RiskBrief | None


class InsurerOut(RowOut):
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
    premium_cny: StrictFloat = Field(ge=0, le=1e9)
    insured_headcount: StrictInt = Field(ge=1, le=100_000)


class PolicyOut(RowOut):
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


class ServiceOut(RowOut):
    id: int
    enterprise_id: str
    kind: str
    date: str
    provider: str
    insurer_id: str | None
    summary: str
    created_by: str

    @derived
    def kind_label(self) -> str:
        return label(SERVICE_LABELS, self.kind)
