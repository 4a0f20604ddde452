"""Service requests (服务需求): an enterprise officer files one for its own enterprise (from its
全安码 page); the park's staff and the enterprise's insurers see it and answer it (已受理,
已完成); the government reads. Every read is scoped by enterprise, every change audited."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Query
from sqlalchemy import select
from sqlalchemy.orm import Session

from center.api.deps import (
    NOT_FOUND,
    ConfigDep,
    IdQuery,
    Limit,
    Offset,
    conflict,
    enterprise_or_404,
    make_router,
    scope_of,
)
from center.api.requests.schemas import ServiceAnswerIn, ServiceRequestIn, ServiceRequestOut
from center.auth.audit import audit
from center.auth.deps import CurrentUser, SessionDep
from center.domain.errors import NotFound, StateConflict
from center.domain.vocabulary import (
    REQUEST_KIND_LABELS,
    REQUEST_STATUS_LABELS,
    RequestStatus,
    label,
)
from center.store.models import Enterprise, ServiceRequest
from protocol import ID_PATTERN, now_ms

router = make_router("service requests")

RequestId = Annotated[int, Path(ge=1, le=2**31 - 1, description="the request's number")]
EnterpriseId = Annotated[str, Path(pattern=ID_PATTERN)]
CONFLICT = conflict("service request")


def request_out(row: ServiceRequest, enterprise_name: str) -> ServiceRequestOut:
    created_at, replied_at = ServiceRequestOut.times(row.created_ms, row.replied_ms)
    return ServiceRequestOut(
        id=row.id,
        enterprise_id=row.enterprise_id,
        enterprise_name=enterprise_name,
        kind=row.kind,
        kind_label=label(REQUEST_KIND_LABELS, row.kind),
        text=row.text,
        status=row.status,
        status_label=label(REQUEST_STATUS_LABELS, row.status),
        created_by=row.created_by,
        created_at=created_at,
        reply=row.reply,
        replied_by=row.replied_by,
        replied_role=row.replied_role,
        replied_at=replied_at,
    )


def _name(session: Session, enterprise_id: str) -> str:
    e = session.get(Enterprise, enterprise_id)
    return e.name if e else enterprise_id


@router.get("/service-requests", response_model=list[ServiceRequestOut])
def list_service_requests(
    session: SessionDep,
    config: ConfigDep,
    user: CurrentUser,
    enterprise_id: IdQuery = None,
    status: Annotated[RequestStatus | None, Query(description="open, accepted or done")] = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> list[ServiceRequestOut]:
    """Service requests the caller may see, newest first: an enterprise its own, an insurer those
    of the enterprises it insures, the park and the government all."""
    stmt = select(ServiceRequest, Enterprise.name).join(
        Enterprise, Enterprise.id == ServiceRequest.enterprise_id
    )
    scope = scope_of(session, user, config)
    if scope is not None:
        stmt = stmt.where(ServiceRequest.enterprise_id.in_(sorted(scope)))
    if enterprise_id is not None:
        stmt = stmt.where(ServiceRequest.enterprise_id == enterprise_id)
    if status is not None:
        stmt = stmt.where(ServiceRequest.status == status.value)
    stmt = (
        stmt.order_by(ServiceRequest.created_ms.desc(), ServiceRequest.id.desc()).limit(limit).offset(offset)
    )
    return [request_out(row, name) for row, name in session.execute(stmt)]


# an enterprise's open requests: enough for any real need, and a bound on what one account files
MAX_OPEN_PER_ENTERPRISE = 50


@router.post(
    "/enterprises/{enterprise_id}/service-requests",
    response_model=ServiceRequestOut,
    status_code=201,
    responses={**NOT_FOUND, **CONFLICT},
)
def create_service_request(
    enterprise_id: EnterpriseId,
    body: ServiceRequestIn,
    session: SessionDep,
    config: ConfigDep,
    user: CurrentUser,
) -> ServiceRequestOut:
    """File a service request (服务需求) for the officer's own enterprise."""
    e = enterprise_or_404(session, user, config, enterprise_id)
    if user.enterprise_id != e.id:  # the policy lets only enterprise officers here; belt and braces
        raise NotFound(f"no enterprise {enterprise_id!r}")
    open_now = session.scalars(
        select(ServiceRequest.id).where(
            ServiceRequest.enterprise_id == e.id, ServiceRequest.status != RequestStatus.DONE.value
        )
    ).all()
    if len(open_now) >= MAX_OPEN_PER_ENTERPRISE:
        raise StateConflict(f"已有 {len(open_now)} 条未完成的服务需求，请等待处理后再提交")
    row = ServiceRequest(
        enterprise_id=e.id,
        kind=body.kind.value,
        text=body.text,
        status=RequestStatus.OPEN.value,
        created_by=user.username,
        created_ms=now_ms(),
        reply="",
    )
    session.add(row)
    session.flush()
    audit(
        session,
        user,
        "create_service_request",
        f"service_request:{row.id}",
        {"enterprise_id": e.id, "kind": row.kind},
    )
    session.commit()
    return request_out(row, e.name)


@router.post(
    "/service-requests/{request_id}/answer",
    response_model=ServiceRequestOut,
    responses={**NOT_FOUND, **CONFLICT},
)
def answer_service_request(
    request_id: RequestId, body: ServiceAnswerIn, session: SessionDep, config: ConfigDep, user: CurrentUser
) -> ServiceRequestOut:
    """Answer a request: 已受理 (accepted) or 已完成 (done), with a reply to the enterprise. The
    park's staff answer any; an insurer those of the enterprises it insures. A done request is final."""
    row = session.get(ServiceRequest, request_id)
    if row is None or not user.may_see(session, row.enterprise_id, config.timezone):
        raise NotFound(f"no service request {request_id}")
    if row.status == RequestStatus.DONE.value:
        raise StateConflict("该服务需求已完成，不能再次答复")
    if (
        body.status == RequestStatus.ACCEPTED.value
        and row.status == RequestStatus.ACCEPTED.value
        and not body.reply
    ):
        raise StateConflict("该服务需求已受理；请填写答复内容或标记为已完成")
    before = row.status
    row.status = body.status
    if body.reply:
        row.reply = body.reply
    row.replied_by = user.username
    row.replied_role = str(user.role or "")
    row.replied_ms = now_ms()
    audit(
        session,
        user,
        "answer_service_request",
        f"service_request:{row.id}",
        {"enterprise_id": row.enterprise_id, "from": before, "to": row.status},
    )
    session.commit()
    return request_out(row, _name(session, row.enterprise_id))
