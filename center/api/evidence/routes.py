"""Evidence files: edge nodes upload snapshots and clips, people upload rectification photos;
every read is written to the audit log. Insurers never get here (see center/auth/policy.py)."""

from __future__ import annotations

from typing import Annotated

from fastapi import HTTPException, Path, Query, Request, Response
from fastapi.responses import FileResponse
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
    length = int(request.headers.get("content-length") or 0)
    if length > evidence.MAX_UPLOAD_BYTES:
        raise Invalid(("header", "content-length"), f"larger than {evidence.MAX_UPLOAD_BYTES} bytes")
    data = await request.body()
    if len(data) > evidence.MAX_UPLOAD_BYTES:
        raise Invalid(("body",), f"larger than {evidence.MAX_UPLOAD_BYTES} bytes")

    def save() -> EvidenceOut:
        with request.app.state.session_factory() as session:
            row, created = evidence.store(
                session, config.evidence_dir, sha256, content_type, data, user.username
            )
            evidence.record_owner(session, sha256, user, camera)
            if created:
                audit(session, user, "upload_evidence", f"evidence:{sha256}", {"size": len(data)})
            session.commit()
            return EvidenceOut.model_validate({**row.columns(), "created": created})

    out = await run_in_threadpool(save)
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
    return FileResponse(path, media_type=row.content_type, headers={"Cache-Control": "private, no-store"})
