"""Who an evidence file belongs to, and so who may cite it and read it: the one place.

A file is stored once under its SHA-256, but it *belongs* to enterprises through
:class:`~center.store.models.EvidenceOwner` rows written when it is first uploaded (uploading a
stored file again adds no owner):

- an edge node names the camera (which must be on that node): the camera's enterprise;
- an enterprise officer: its own enterprise;
- park staff: no enterprise yet; the file is bound to the enterprise of the first hazard its
  uploader cites it in.

Knowing a hash grants nothing: a hazard of enterprise E may cite only files that belong to E
(or the citing person's own unbound uploads), and a scoped caller reads only files that belong
to an enterprise in its scope or that it uploaded itself. An alert citing a hash (from an edge
node) does not make the file its enterprise's either. Unknown and foreign files are answered
alike, so a hash of another enterprise's file is not confirmed.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from center.domain.errors import Invalid
from center.store.models import EvidenceFile, EvidenceOwner
from protocol import now_ms


def grant(
    session: Session,
    sha256: str,
    *,
    enterprise_id: str | None,
    uploaded_by: str,
    via: str,
    camera_id: str | None = None,
    node: str | None = None,
) -> None:
    """Record that the file belongs to ``enterprise_id`` (once per enterprise, camera and uploader)."""
    same = select(EvidenceOwner.id).where(
        EvidenceOwner.sha256 == sha256,
        EvidenceOwner.uploaded_by == uploaded_by,
        EvidenceOwner.enterprise_id.is_(None)
        if enterprise_id is None
        else EvidenceOwner.enterprise_id == enterprise_id,
        EvidenceOwner.camera_id.is_(None) if camera_id is None else EvidenceOwner.camera_id == camera_id,
    )
    if session.scalar(same.limit(1)) is not None:
        return
    session.add(
        EvidenceOwner(
            sha256=sha256,
            enterprise_id=enterprise_id,
            camera_id=camera_id,
            node=node,
            uploaded_by=uploaded_by,
            via=via,
            created_ms=now_ms(),
        )
    )
    session.flush()


def owners(session: Session, sha256: str) -> list[tuple[str | None, str]]:
    """(enterprise id, uploaded by) of each owner row of the file."""
    rows = session.execute(
        select(EvidenceOwner.enterprise_id, EvidenceOwner.uploaded_by).where(EvidenceOwner.sha256 == sha256)
    )
    return [(e, u) for e, u in rows]


def may_read(session: Session, sha256: str, username: str, scope: set[str] | None) -> bool:
    """May a caller whose enterprise scope is ``scope`` (None: all) read the file?"""
    if scope is None:
        return True
    return any(u == username or (e is not None and e in scope) for e, u in owners(session, sha256))


def missing(sha256: str) -> str:
    return f"no evidence file {sha256} (upload it first: PUT /api/evidence/{{sha256}})"


def check_citable(
    session: Session, shas: list[str], enterprise_id: str, actor: str, loc: tuple[str | int, ...]
) -> None:
    """Each file must be stored and belong to ``enterprise_id``; an unbound file that ``actor``
    uploaded is bound to it now. Raises :class:`Invalid` (the same answer for a file that does
    not exist and one of another enterprise)."""
    for i, sha in enumerate(shas):
        if session.get(EvidenceFile, sha) is None:
            raise Invalid((*loc, i), missing(sha))
        rows = owners(session, sha)
        if any(e == enterprise_id for e, _ in rows):
            continue
        if any(e is None and u == actor for e, u in rows):
            grant(session, sha, enterprise_id=enterprise_id, uploaded_by=actor, via="hazard")
            continue
        raise Invalid((*loc, i), missing(sha))
