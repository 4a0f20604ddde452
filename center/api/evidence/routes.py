"""Evidence files: edge nodes upload snapshots and clips, people upload rectification photos;
every read is written to the audit log. Insurers never get here (see center/auth/policy.py)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import HTTPException, Path, Query, Request, Response
from fastapi.responses import FileResponse, JSONResponse
from starlette.concurrency import run_in_threadpool

from center.api.deps import NOT_FOUND, ConfigDep, make_router
from center.api.evidence import service as evidence
from center.api.evidence.schemas import EvidenceOut
from center.auth.audit import audit
from center.auth.deps import CurrentUser, SessionDep
from center.auth.policy import Role
from center.domain import evidence as ownership
from center.domain.errors import Invalid, NotFound
from center.store.models import EvidenceFile
from protocol import ID_PATTERN

router = make_router("evidence")

ShaPath = Annotated[str, Path(pattern=r"^[0-9a-f]{64}$", description="SHA-256 of the file, lowercase hex")]
BINARY = {"schema": {"type": "string", "format": "binary"}}
CameraQuery = Annotated[
    str | None,
    Query(
        pattern=ID_PATTERN,
        description="camera the file is evidence of; required for edge nodes (checked against the node)",
    ),
]


@router.put(
    "/evidence/{sha256}",
    response_model=EvidenceOut,
    responses={
        200: {"model": EvidenceOut, "description": "already stored (created: false)"},
        201: {"model": EvidenceOut, "description": "stored (created: true)"},
        403: {"description": "an edge node uploading for a camera that is not on that node"},
        413: {"description": "the body is larger than http.limits.evidence_mib"},
        415: {"description": "the body is not what its Content-Type says (checked by its first bytes)"},
        422: {"description": "hash or type wrong; an edge node without camera"},
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"image/jpeg": BINARY, "image/png": BINARY, "video/mp4": BINARY},
        }
    },
)
async def upload_evidence(
    sha256: ShaPath,
    request: Request,
    response: Response,
    config: ConfigDep,
    user: CurrentUser,
    camera: CameraQuery = None,
) -> EvidenceOut:
    """Store a file under its SHA-256 (the body must hash to it): 201 when stored, 200 when it
    was already (uploading again is harmless).

    An edge node names the camera (``?camera=``) and may upload only for cameras on that node."""
    if user.role is Role.EDGE:
        if camera is None:
            raise Invalid(("query", "camera"), "an edge node names the camera the evidence is of")

        def check() -> str | None:
            with request.app.state.session_factory() as session:
                return evidence.camera_of_node(session, camera, user.node)

        refusal = await run_in_threadpool(check)
        if refusal is not None:
            raise HTTPException(status_code=403, detail=refusal)
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    # the body is streamed to a file under evidence_dir (never whole in memory); center/api/limits.py
    # has already refused a Content-Length over http.limits.evidence_mib, and stops a longer stream
    spool = await run_in_threadpool(evidence.Spool, config.evidence_dir, content_type)
    try:
        async for chunk in request.stream():
            await run_in_threadpool(spool.write, chunk)
    except evidence.WrongContent as exc:
        await run_in_threadpool(spool.discard)
        raise HTTPException(status_code=415, detail=str(exc), headers={"Connection": "close"}) from None
    except BaseException:
        await run_in_threadpool(spool.discard)
        raise

    def save() -> EvidenceOut:
        with request.app.state.session_factory() as session:
            row, created = evidence.store(session, config.evidence_dir, sha256, spool, user.username)
            evidence.record_owner(session, sha256, user, camera)
            if created:
                audit(session, user, "upload_evidence", f"evidence:{sha256}", {"size": row.size})
            session.commit()
            return EvidenceOut.model_validate({**row.columns(), "created": created})

    try:
        out = await run_in_threadpool(save)
    except evidence.WrongContent as exc:
        raise HTTPException(status_code=415, detail=str(exc)) from None
    request.app.state.metrics.evidence_uploaded(out.created, out.size)
    response.status_code = 201 if out.created else 200
    return out


@router.get(
    "/evidence/{sha256}",
    response_class=FileResponse,
    responses={**NOT_FOUND, 200: {"content": {"image/jpeg": {}, "image/png": {}, "video/mp4": {}}}},
)
def get_evidence(sha256: ShaPath, session: SessionDep, config: ConfigDep, user: CurrentUser) -> FileResponse:
    """The file itself, for a caller it belongs to (its enterprise's camera or upload, see
    center/domain/evidence.py); the read is written to the audit log."""
    row = session.get(EvidenceFile, sha256)
    readable = row is not None and (
        user.role is not Role.INSURER  # never faces for insurers (the policy refuses them first)
        and ownership.may_read(
            session, sha256, user.username, user.enterprise_scope(session, config.timezone)
        )
    )
    if row is None or not readable:
        raise NotFound(f"no evidence file {sha256}")
    path = evidence.path_of(config.evidence_dir, row.sha256, row.content_type)
    if not path.is_file():
        raise NotFound(f"evidence file {sha256} is no longer stored (retention)")
    audit(session, user, "read_evidence", f"evidence:{sha256}")
    session.commit()
    # served as what its bytes are, never as what the uploader said; nosniff comes with every
    # answer (center/api/headers.py)
    served = evidence.served_type(path)
    if served is None:
        return FileResponse(
            path,
            media_type="application/octet-stream",
            filename=f"{sha256}.bin",
            content_disposition_type="attachment",
            headers={"Cache-Control": "private, no-store"},
        )
    return FileResponse(
        path,
        media_type=served,
        filename=f"{sha256}{evidence.CONTENT_TYPES[served]}",
        content_disposition_type="inline",
        headers={"Cache-Control": "private, no-store"},
    )


def photo_refusal(content_type: str, data: bytes) -> str | None:
    """Why ``data`` is not a photo the console may upload (None: it is one), by its first bytes."""
    if content_type not in ("image/jpeg", "image/png"):
        return f"照片须为 JPEG 或 PNG 图片（收到的类型：{content_type or '未注明'}）"
    if not data:
        return "照片是空文件"
    if evidence.sniff(data[: evidence.SNIFF_BYTES]) != content_type:
        return f"文件内容不是 {content_type.split('/')[1].upper()} 图片"
    return None


@router.post(
    "/evidence",
    response_model=EvidenceOut,
    status_code=201,
    responses={
        200: {"model": EvidenceOut, "description": "already stored"},
        413: {"description": "larger than 10 MiB (center/api/limits.py)"},
        422: {"description": "not a JPEG or PNG image"},
    },
    openapi_extra={"requestBody": {"required": True, "content": {"image/jpeg": BINARY, "image/png": BINARY}}},
)
async def upload_photo(request: Request, config: ConfigDep, user: CurrentUser) -> Any:
    """A photo from the console (a rectification's 'after' photos, an inspection's 'before'
    photos, a phone's camera): the center hashes it, so the page needs no SHA-256 of its own.
    JPEG or PNG, checked by its first bytes; at most 10 MiB (the body limit of this route in
    center/api/limits.py, so the body held here is bounded). Answers the file's ``sha256`` to
    name in the hazard's step."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    body = await request.body()
    refusal = photo_refusal(content_type, body)
    if refusal is not None:
        raise Invalid(("body",), refusal)

    def save() -> tuple[EvidenceOut, bool]:
        spool = evidence.Spool(config.evidence_dir, content_type)
        try:
            spool.write(body)
            sha = spool.finish()  # the spool hashes what it writes
        except BaseException:
            spool.discard()
            raise
        with request.app.state.session_factory() as session:
            row, created = evidence.store(session, config.evidence_dir, sha, spool, user.username)
            evidence.record_owner(session, sha, user, None)  # an officer's own; staff's when cited
            if created:
                audit(session, user, "upload_photo", f"evidence:{sha}", {"size": row.size})
            session.commit()
            return EvidenceOut.model_validate({**row.columns(), "created": created}), created

    out, created = await run_in_threadpool(save)
    request.app.state.metrics.evidence_uploaded(created, out.size)
    return JSONResponse(out.model_dump(mode="json"), status_code=201 if created else 200)
