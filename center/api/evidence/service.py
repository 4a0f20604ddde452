"""Evidence files (snapshots, clips, rectification photos), stored by SHA-256, and retention
(the API stores and serves them; ``parkguard-center retention`` deletes the old ones)."""

from __future__ import annotations

import hashlib
import logging
import os
import uuid
from pathlib import Path
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from center.auth.policy import Principal
from center.domain import evidence
from center.domain.errors import Invalid
from center.domain.timeparse import DAY_MS
from center.domain.vocabulary import Role
from center.store.models import Camera, EvidenceFile, EvidenceOwner
from protocol import now_ms

log = logging.getLogger(__name__)

CONTENT_TYPES = {"image/jpeg": ".jpg", "image/png": ".png", "video/mp4": ".mp4"}
INCOMING = ".incoming"  # uploads being received, under evidence_dir (same file system as the files)
SNIFF_BYTES = 12  # what :func:`sniff` needs to see


def sniff(head: bytes) -> str | None:
    """The evidence type the first bytes of a file show (its magic number), or None.

    JPEG ``FF D8 FF``; PNG ``89 'PNG' 0D 0A 1A 0A``; MP4 (ISO base media, as the edge's PyAV
    writes its clips) a ``ftyp`` box first: ``'ftyp'`` at offset 4."""
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if len(head) >= 8 and head[4:8] == b"ftyp":
        return "video/mp4"
    return None


def path_of(evidence_dir: Path, sha256: str, content_type: str) -> Path:
    return evidence_dir / sha256[:2] / f"{sha256}{CONTENT_TYPES.get(content_type, '.bin')}"


class WrongContent(Exception):
    """The body is not what its Content-Type says (refused with 415)."""


class Spool:
    """An upload received into a temporary file under ``evidence_dir``, hashed as it comes:
    memory holds one chunk at a time, whatever the size. Checks the declared type against the
    first bytes as soon as they are in (:class:`WrongContent`), and :meth:`discard` cleans up."""

    def __init__(self, evidence_dir: Path, content_type: str) -> None:
        if content_type not in CONTENT_TYPES:
            raise Invalid(("header", "content-type"), f"use one of {', '.join(CONTENT_TYPES)}")
        self.content_type = content_type
        folder = evidence_dir / INCOMING
        folder.mkdir(parents=True, exist_ok=True)
        self.path = folder / f"{uuid.uuid4().hex}.part"  # the umask's mode, like any stored file
        self._file = open(self.path, "xb")  # noqa: SIM115 (closed by finish or discard)
        self._hash = hashlib.sha256()
        self._head = b""
        self.size = 0

    def write(self, chunk: bytes) -> None:
        if not chunk:
            return
        self._hash.update(chunk)
        self._file.write(chunk)
        self.size += len(chunk)
        if len(self._head) < SNIFF_BYTES:
            self._head += chunk[: SNIFF_BYTES - len(self._head)]
            if len(self._head) >= SNIFF_BYTES:
                self.check_type()

    def check_type(self) -> None:
        found = sniff(self._head)
        if found != self.content_type:
            what = f"a {found} file" if found else "no JPEG, PNG or MP4 file"
            raise WrongContent(
                f"内容与类型不符: 声明为 {self.content_type}，实为 {what} (the body is {what})"
            )

    def finish(self) -> str:
        """Close the file and check its type; its SHA-256 (lowercase hex)."""
        self._file.close()
        self.check_type()
        return self._hash.hexdigest()

    def discard(self) -> None:
        if not self._file.closed:
            self._file.close()
        self.path.unlink(missing_ok=True)


def store(
    session: Session, evidence_dir: Path, sha256: str, spool: Spool, uploaded_by: str
) -> tuple[EvidenceFile, bool]:
    """Keep the finished ``spool`` under its SHA-256 (which must match); (row, created).
    Uploading twice is fine. The spool's file is moved into place or discarded."""
    try:
        actual = spool.finish()
        if actual != sha256:
            raise Invalid(("path", "sha256"), f"the body's SHA-256 is {actual}, not {sha256}")
        row = session.get(EvidenceFile, sha256)
        path = path_of(evidence_dir, sha256, spool.content_type)
        if row is not None and path.exists():
            return row, False
        path.parent.mkdir(parents=True, exist_ok=True)
        os.replace(spool.path, path)
    finally:
        spool.discard()
    if row is None:
        row = EvidenceFile(
            sha256=sha256,
            content_type=spool.content_type,
            size=spool.size,
            stored_ms=now_ms(),
            uploaded_by=uploaded_by,
        )
        session.add(row)
    return row, True


def served_type(path: Path) -> str | None:
    """The type a stored file is served as: what its bytes are (None: none of the evidence
    types; such a file, stored before uploads were checked, is only offered as a download)."""
    with path.open("rb") as f:
        return sniff(f.read(SNIFF_BYTES))


def camera_of_node(session: Session, camera: str, node: str | None) -> str | None:
    """Why an edge node may not upload evidence of ``camera`` (None: it may).

    A node's machine account uploads only for the cameras the center has on that node, so one
    compromised node cannot fill the evidence of another's cameras."""
    if not node:
        return "this edge account has no node"
    row = session.get(Camera, camera)
    if row is None:
        return f"camera {camera!r} is not registered at the center"
    if row.node != node:
        return f"camera {camera!r} is not watched by node {node!r}"
    return None


def record_owner(session: Session, sha256: str, user: Principal, camera: str | None) -> None:
    """Whom the uploaded file belongs to (see center/domain/evidence.py): the enterprise of the
    camera an edge node named (checked by :func:`camera_of_node` first), an enterprise officer's
    own enterprise, nobody yet for park staff. The first upload decides: uploading a stored
    file again (its bytes are no secret to whoever has them) makes it nobody else's."""
    if evidence.owners(session, sha256):
        return
    if user.role is Role.EDGE:
        cam = session.get(Camera, camera) if camera else None
        enterprise_id = cam.enterprise_id if cam is not None else None
        evidence.grant(
            session, sha256, enterprise_id=enterprise_id, uploaded_by=user.username, via="upload",
            camera_id=camera, node=user.node,
        )  # fmt: skip
    elif user.role is Role.ENTERPRISE:
        evidence.grant(
            session, sha256, enterprise_id=user.enterprise_id, uploaded_by=user.username, via="upload"
        )
    else:
        evidence.grant(session, sha256, enterprise_id=None, uploaded_by=user.username, via="upload")


def retention(
    session: Session,
    evidence_dir: Path,
    max_age_days: int | None,
    max_bytes: int | None,
    at_ms: int | None = None,
    dry_run: bool = False,
) -> dict[str, Any]:
    """Delete evidence older than ``max_age_days``, then the oldest until the rest fits in
    ``max_bytes``. Rows go with their files; the caller commits."""
    now = now_ms() if at_ms is None else at_ms
    doomed: list[tuple[EvidenceFile, str]] = []
    if max_age_days is not None:
        cutoff = now - max_age_days * DAY_MS
        for row in session.scalars(select(EvidenceFile).where(EvidenceFile.stored_ms < cutoff)):
            doomed.append((row, "age"))
    if max_bytes is not None:
        gone = {r.sha256 for r, _ in doomed}
        total = (session.scalar(select(func.coalesce(func.sum(EvidenceFile.size), 0))) or 0) - sum(
            r.size for r, _ in doomed
        )
        if total > max_bytes:
            oldest = select(EvidenceFile).order_by(EvidenceFile.stored_ms, EvidenceFile.sha256)
            for row in session.scalars(oldest):
                if total <= max_bytes:
                    break
                if row.sha256 in gone:
                    continue
                doomed.append((row, "quota"))
                total -= row.size
    freed = 0
    for row, _why in doomed:
        freed += row.size
        if not dry_run:
            path_of(evidence_dir, row.sha256, row.content_type).unlink(missing_ok=True)
            session.execute(delete(EvidenceOwner).where(EvidenceOwner.sha256 == row.sha256))
            session.delete(row)
    kept = session.scalar(select(func.count()).select_from(EvidenceFile)) or 0
    return {
        "deleted_by_age": sum(1 for _, why in doomed if why == "age"),
        "deleted_by_quota": sum(1 for _, why in doomed if why == "quota"),
        "freed_bytes": freed,
        "kept": int(kept) - (len(doomed) if dry_run else 0),
        "dry_run": dry_run,
    }
