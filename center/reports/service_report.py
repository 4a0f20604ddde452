"""服务报告 of one accident-prevention service (a visit): who served whom and when, what it was,
the hazards recorded on site that day with their photos, advice for them, and the lines on
which both sides confirm it.

The center's service record holds the kind, date, provider and a summary. The hazards found in
the visit are those registered with its id (``hazards.service_id``, set by whoever records them:
``POST /api/hazards`` with ``service_id``), whatever day they were entered. A visit that has none
linked (records made before the link existed) falls back to the inspection hazards (现场排查) of the
enterprise registered on the service's day and linked to no visit, and the report says that
they were matched by date. Both sides confirm on paper (signature lines): the center has no
electronic confirmation of a service yet, and the report says so."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from center.auth.policy import Principal
from center.config import CenterConfig
from center.domain.vocabulary import (
    HAZARD_LEVEL_LABELS,
    HAZARD_STATUS_LABELS,
    INDUSTRY_LABELS,
    ROLE_LABELS,
    SERVICE_LABELS,
    Role,
    label,
)
from center.reports.data import LIST_CAP, _thumbnail, recommendations, thumbnails
from center.reports.faces import Thumbnails
from center.store.models import (
    Camera,
    Enterprise,
    EvidenceFile,
    EvidenceOwner,
    Hazard,
    Insurer,
    ServiceRecord,
)
from protocol import now_ms

PHOTOS_PER_HAZARD = 2


def _photos(
    session: Session, config: CenterConfig, thumbs: Thumbnails, enterprise_id: str, shas: list[str]
) -> list[str]:
    """Thumbnails of the hazard's photos that belong to the enterprise (its owner rows)."""
    out: list[str] = []
    for sha in shas[:8]:
        ctype = session.scalar(
            select(EvidenceFile.content_type)
            .join(EvidenceOwner, EvidenceOwner.sha256 == EvidenceFile.sha256)
            .where(EvidenceFile.sha256 == sha, EvidenceOwner.enterprise_id == enterprise_id)
            .limit(1)
        )
        if ctype is None or not ctype.startswith("image/"):
            continue
        thumb = _thumbnail(thumbs, config.evidence_dir, sha, ctype)
        if thumb:
            out.append(thumb)
        if len(out) >= PHOTOS_PER_HAZARD:
            break
    return out


def service_report(
    session: Session,
    config: CenterConfig,
    e: Enterprise,
    record: ServiceRecord,
    user: Principal,
    tz: Any,
    report_no: str = "",
) -> dict[str, Any]:
    day = date.fromisoformat(record.date)
    start = int(datetime.combine(day, time(), tz).timestamp() * 1000)
    end = int(datetime.combine(day + timedelta(days=1), time(), tz).timestamp() * 1000)
    insurer = session.get(Insurer, record.insurer_id) if record.insurer_id else None
    thumbs = thumbnails(config)
    cams = {c.id: c for c in session.scalars(select(Camera).where(Camera.enterprise_id == e.id))}
    linked = list(
        session.scalars(
            select(Hazard)
            .where(Hazard.enterprise_id == e.id, Hazard.service_id == record.id)
            .order_by(Hazard.created_ms)
            .limit(LIST_CAP)
        )
    )
    by_date = not linked
    found = linked or list(
        session.scalars(
            select(Hazard)
            .where(
                Hazard.enterprise_id == e.id,
                Hazard.service_id.is_(None),
                Hazard.source == "inspection",
                Hazard.created_ms >= start,
                Hazard.created_ms < end,
            )
            .order_by(Hazard.created_ms)
            .limit(LIST_CAP)
        )
    )
    hazards = []
    for h in found:
        cam = cams.get(h.camera_id or "")
        hazards.append(
            {
                "code": h.code,
                "title": h.title,
                "description": h.description,
                "level": label(HAZARD_LEVEL_LABELS, h.level),
                "major": h.level == "major",
                "overdue": h.status != "closed" and h.deadline_ms < now_ms(),
                "status": label(HAZARD_STATUS_LABELS, h.status),
                "post": (cam.post_name or cam.name) if cam else "",
                "deadline": datetime.fromtimestamp(h.deadline_ms / 1000, tz).strftime("%Y-%m-%d"),
                "photos": _photos(session, config, thumbs, e.id, list(h.before_evidence or [])),
            }
        )
    table = recommendations()
    advice = []
    if any(h["major"] for h in hazards):
        advice.append(table["entries"]["hazard_major"])
    if hazards:
        advice.append(table["entries"]["hazard_rectify"])
    if any(h["overdue"] for h in hazards):
        advice.append(table["entries"]["hazard_overdue"])
    tz_now = datetime.now(tz)
    who = user.display_name or user.username or "系统"
    return {
        "kind": "service",
        "cover": {
            "report_no": report_no,
            "title": "事故预防技术服务报告",
            "enterprise_name": e.name,
            "credit_code": e.credit_code,
            "industry": label(INDUSTRY_LABELS, e.industry),
            "address": e.address,
            "service": label(SERVICE_LABELS, record.kind),
            "date": record.date,
            "provider": record.provider or (insurer.name if insurer else ""),
            "insurer": insurer.name if insurer else "",
            "issuer": config.site_name,
            "issued_by": f"{who}（{label(ROLE_LABELS, user.role or '')}）",
            "issued_at": tz_now.strftime("%Y-%m-%d %H:%M"),
            "timezone": str(tz),
        },
        "summary": record.summary,
        "hazards": hazards,
        "hazards_note": (
            "本次服务未登记关联隐患；以下为服务当日为该企业登记、未关联其他服务的现场排查隐患（按日期匹配）。"
            if by_date and hazards
            else "本次服务登记的隐患（按服务记录关联）。"
        ),
        "photo_note": "照片为隐患登记时上传的整改前照片，缩略显示。"
        + thumbs.note()
        + ("保险机构只获得人脸已模糊的缩略图，不获得原始照片。" if user.role is Role.INSURER else ""),
        "advice": {"items": advice, "basis": table["basis"], "review_status": table["review_status"]},
        "confirmation_note": "平台尚未记录双方的电子确认，请服务机构和企业在下方签字确认。",
    }
