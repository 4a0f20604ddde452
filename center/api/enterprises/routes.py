"""The park's registry: towns, parks, enterprises, insurers, policies, service records."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Query
from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from center.api.deps import (
    NOT_FOUND,
    ConfigDep,
    IdQuery,
    Limit,
    Offset,
    count_of,
    enterprise_or_404,
    make_router,
    scope_of,
)
from center.api.enterprises.schemas import (
    EnterpriseIn,
    EnterpriseOut,
    EnterprisePatch,
    InsurerOut,
    ParkOut,
    PolicyIn,
    PolicyOut,
    ServiceIn,
    ServiceOut,
    TownOut,
)
from center.api.enterprises.service import enterprise_out, policy_out, today
from center.api.schemas import Page
from center.auth.audit import audit
from center.auth.deps import CurrentUser, SessionDep
from center.auth.policy import Principal, service_records_visible
from center.config import CenterConfig
from center.domain.errors import Invalid, StateConflict
from center.domain.vocabulary import Industry, Role
from center.store.models import Enterprise, InsurancePolicy, Insurer, Park, ServiceRecord, Town
from protocol import now_ms

router = make_router("enterprises")

EnterpriseId = Annotated[str, Path(min_length=1, max_length=64, description="enterprise id, e.g. yj-metal")]


def _check_refs(session: Session, park_id: str | None, town_id: str | None) -> None:
    if park_id is not None and session.get(Park, park_id) is None:
        raise Invalid(("body", "park_id"), f"no park {park_id!r}")
    if town_id is not None and session.get(Town, town_id) is None:
        raise Invalid(("body", "town_id"), f"no town {town_id!r}")


def _credit_code_free(session: Session, code: str, enterprise_id: str) -> None:
    other = session.scalars(select(Enterprise).where(Enterprise.credit_code == code)).first()
    if other is not None and other.id != enterprise_id:
        raise StateConflict(f"credit code {code} already belongs to enterprise {other.id}")


@router.get("/towns", response_model=list[TownOut])
def list_towns(session: SessionDep) -> list[TownOut]:
    """镇街 of the district."""
    return [TownOut.model_validate(t) for t in session.scalars(select(Town).order_by(Town.id))]


@router.get("/parks", response_model=list[ParkOut])
def list_parks(session: SessionDep) -> list[ParkOut]:
    return [ParkOut.model_validate(p) for p in session.scalars(select(Park).order_by(Park.id))]


@router.get("/enterprises", response_model=Page[EnterpriseOut])
def list_enterprises(
    session: SessionDep,
    config: ConfigDep,
    user: CurrentUser,
    industry: Industry | None = None,
    town_id: IdQuery = None,
    park_id: IdQuery = None,
    q: Annotated[str | None, Query(max_length=64, description="part of the name or the credit code")] = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> Page[EnterpriseOut]:
    """Enterprises the caller may see, with their current risk score."""
    stmt = select(Enterprise)
    scope = scope_of(session, user, config)
    if scope is not None:
        stmt = stmt.where(Enterprise.id.in_(sorted(scope)))
    if industry is not None:
        stmt = stmt.where(Enterprise.industry == industry.value)
    if town_id is not None:
        stmt = stmt.where(Enterprise.town_id == town_id)
    if park_id is not None:
        stmt = stmt.where(Enterprise.park_id == park_id)
    if q:
        stmt = stmt.where(Enterprise.name.contains(q) | Enterprise.credit_code.contains(q.upper()))
    rows = list(session.scalars(stmt.order_by(Enterprise.id).limit(limit).offset(offset)))
    return Page(
        items=[enterprise_out(session, config, e) for e in rows],
        total=count_of(session, stmt),
        limit=limit,
        offset=offset,
    )


@router.post(
    "/enterprises", response_model=EnterpriseOut, status_code=201, responses={409: {"description": "taken"}}
)
def create_enterprise(
    body: EnterpriseIn, session: SessionDep, config: ConfigDep, user: CurrentUser
) -> EnterpriseOut:
    if session.get(Enterprise, body.id) is not None:
        raise StateConflict(f"enterprise {body.id!r} exists")
    _check_refs(session, body.park_id, body.town_id)
    _credit_code_free(session, body.credit_code, body.id)
    now = now_ms()
    data = body.model_dump(mode="json")
    row = Enterprise(**data, created_ms=now, updated_ms=now)
    session.add(row)
    session.flush()
    audit(session, user, "create_enterprise", f"enterprise:{row.id}", {"name": row.name})
    session.commit()
    return enterprise_out(session, config, row)


@router.get("/enterprises/{enterprise_id}", response_model=EnterpriseOut, responses=NOT_FOUND)
def get_enterprise(
    enterprise_id: EnterpriseId, session: SessionDep, config: ConfigDep, user: CurrentUser
) -> EnterpriseOut:
    """An enterprise's file (安全档案) head: who it is, where, its contacts and its current risk."""
    return enterprise_out(session, config, enterprise_or_404(session, user, config, enterprise_id))


@router.patch(
    "/enterprises/{enterprise_id}",
    response_model=EnterpriseOut,
    responses={**NOT_FOUND, 409: {"description": "the credit code belongs to another enterprise"}},
)
def update_enterprise(
    enterprise_id: EnterpriseId,
    body: EnterprisePatch,
    session: SessionDep,
    config: ConfigDep,
    user: CurrentUser,
) -> EnterpriseOut:
    row = enterprise_or_404(session, user, config, enterprise_id)
    changes = body.model_dump(mode="json", exclude_unset=True)
    _check_refs(session, changes.get("park_id"), changes.get("town_id"))
    if "credit_code" in changes:
        _credit_code_free(session, changes["credit_code"], row.id)
    for key, value in changes.items():
        if value is None and key in ("name", "credit_code", "industry", "address", "contacts"):
            raise Invalid(("body", key), "may not be null")
        setattr(row, key, value)
    row.updated_ms = now_ms()
    audit(session, user, "update_enterprise", f"enterprise:{row.id}", changes)
    session.commit()
    return enterprise_out(session, config, row)


@router.get("/insurers", response_model=list[InsurerOut])
def list_insurers(session: SessionDep, user: CurrentUser) -> list[InsurerOut]:
    stmt = select(Insurer).order_by(Insurer.id)
    if user.role is Role.INSURER:
        stmt = stmt.where(Insurer.id == user.insurer_id)
    return [InsurerOut.model_validate(i) for i in session.scalars(stmt)]


def _policies_stmt(session: Session, user: Principal, config: CenterConfig) -> Select[InsurancePolicy]:
    stmt = select(InsurancePolicy)
    if user.role is Role.INSURER:
        return stmt.where(InsurancePolicy.insurer_id == user.insurer_id)
    scope = scope_of(session, user, config)
    if scope is not None:
        stmt = stmt.where(InsurancePolicy.enterprise_id.in_(sorted(scope)))
    return stmt


@router.get("/policies", response_model=Page[PolicyOut])
def list_policies(
    session: SessionDep,
    config: ConfigDep,
    user: CurrentUser,
    enterprise_id: IdQuery = None,
    insurer_id: IdQuery = None,
    in_force: bool | None = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> Page[PolicyOut]:
    """安责险 policies: an insurer sees its own, an enterprise its own."""
    stmt = _policies_stmt(session, user, config)
    day = today(config)
    if enterprise_id is not None:
        stmt = stmt.where(InsurancePolicy.enterprise_id == enterprise_id)
    if insurer_id is not None:
        stmt = stmt.where(InsurancePolicy.insurer_id == insurer_id)
    if in_force is True:
        stmt = stmt.where(InsurancePolicy.start_date <= day, InsurancePolicy.end_date >= day)
    elif in_force is False:
        stmt = stmt.where((InsurancePolicy.start_date > day) | (InsurancePolicy.end_date < day))
    rows = list(session.scalars(stmt.order_by(InsurancePolicy.id).limit(limit).offset(offset)))
    insurers = {i.id: i for i in session.scalars(select(Insurer))}
    return Page(
        items=[policy_out(p, insurers.get(p.insurer_id), day) for p in rows],
        total=count_of(session, stmt),
        limit=limit,
        offset=offset,
    )


@router.post(
    "/policies", response_model=PolicyOut, status_code=201, responses={409: {"description": "taken"}}
)
def create_policy(body: PolicyIn, session: SessionDep, config: ConfigDep, user: CurrentUser) -> PolicyOut:
    if body.end_date < body.start_date:
        raise Invalid(("body", "end_date"), "end_date is before start_date")
    if session.get(Enterprise, body.enterprise_id) is None:
        raise Invalid(("body", "enterprise_id"), f"no enterprise {body.enterprise_id!r}")
    insurer = session.get(Insurer, body.insurer_id)
    if insurer is None:
        raise Invalid(("body", "insurer_id"), f"no insurer {body.insurer_id!r}")
    if session.scalars(select(InsurancePolicy).where(InsurancePolicy.policy_no == body.policy_no)).first():
        raise StateConflict(f"policy {body.policy_no} exists")
    row = InsurancePolicy(**body.model_dump(mode="json"), created_ms=now_ms())
    session.add(row)
    session.flush()
    audit(session, user, "create_policy", f"policy:{row.policy_no}", {"enterprise_id": row.enterprise_id})
    session.commit()
    return policy_out(row, insurer, today(config))


@router.get("/enterprises/{enterprise_id}/services", response_model=list[ServiceOut], responses=NOT_FOUND)
def list_services(
    enterprise_id: EnterpriseId, session: SessionDep, config: ConfigDep, user: CurrentUser
) -> list[ServiceOut]:
    """Safety services the enterprise received (风险诊断, 培训, 应急预案指导 …), newest first."""
    enterprise_or_404(session, user, config, enterprise_id)
    stmt = select(ServiceRecord).where(
        ServiceRecord.enterprise_id == enterprise_id, service_records_visible(user)
    )
    return [
        ServiceOut.model_validate(s)
        for s in session.scalars(stmt.order_by(ServiceRecord.date.desc(), ServiceRecord.id.desc()))
    ]


@router.post(
    "/enterprises/{enterprise_id}/services", response_model=ServiceOut, status_code=201, responses=NOT_FOUND
)
def create_service(
    enterprise_id: EnterpriseId, body: ServiceIn, session: SessionDep, config: ConfigDep, user: CurrentUser
) -> ServiceOut:
    """Record a service; an insurer records its own (its id is filled in)."""
    enterprise_or_404(session, user, config, enterprise_id)
    insurer_id = body.insurer_id
    if user.role is Role.INSURER:
        if insurer_id not in (None, user.insurer_id):
            raise Invalid(("body", "insurer_id"), "an insurer records services under its own id only")
        insurer_id = user.insurer_id
    if insurer_id is not None and session.get(Insurer, insurer_id) is None:
        raise Invalid(("body", "insurer_id"), f"no insurer {insurer_id!r}")
    row = ServiceRecord(
        enterprise_id=enterprise_id,
        kind=body.kind.value,
        date=body.date.isoformat(),
        provider=body.provider,
        insurer_id=insurer_id,
        summary=body.summary,
        created_by=user.username,
        created_ms=now_ms(),
    )
    session.add(row)
    session.flush()
    audit(
        session, user, "create_service", f"enterprise:{enterprise_id}", {"kind": row.kind, "date": row.date}
    )
    session.commit()
    return ServiceOut.model_validate(row)
