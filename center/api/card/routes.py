"""全安码: each enterprise's QR code and the page it opens; what that page shows depends on
who looks (anyone: the name and the risk colour)."""

from __future__ import annotations

from typing import Annotated

from fastapi import HTTPException, Path, Query, Request
from fastapi.responses import Response
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from center.api.card.schemas import CardOut
from center.api.deps import NOT_FOUND, ConfigDep, Responses, make_router
from center.api.enterprises.service import in_force, today
from center.api.schemas import iso_utc
from center.auth.deps import CurrentUser, SessionDep
from center.config import CenterConfig
from center.domain import qr, scoring
from center.domain.errors import NotFound
from center.domain.timeparse import DAY_MS
from center.domain.vocabulary import INDUSTRY_LABELS, HazardStatus, Role, label
from center.domain.workflow import is_overdue
from center.store.models import Alert, Enterprise, Hazard, InsurancePolicy
from protocol import now_ms

router = make_router("card")

EnterpriseId = Annotated[str, Path(min_length=1, max_length=64)]
Scale = Annotated[int, Query(ge=1, le=40, description="pixels per module")]


def _base_url(request: Request, config: CenterConfig) -> str:
    """Where the QR codes point: the config's ``public_url``; without one, the address this
    request came to (the center warns at start about that)."""
    return config.public_url or str(request.base_url)


def _enterprise(session: Session, enterprise_id: str) -> Enterprise:
    """Any enterprise (the QR images and the poster are public: they show what the card shows
    anyone, the name and the colour)."""
    e = session.get(Enterprise, enterprise_id[:64])
    if e is None:
        raise NotFound(f"no enterprise {enterprise_id[:64]!r}")
    return e


@router.get("/enterprises/{enterprise_id}/card", response_model=CardOut, responses=NOT_FOUND)
def enterprise_card(
    enterprise_id: EnterpriseId, session: SessionDep, config: ConfigDep, user: CurrentUser
) -> CardOut:
    """What the 全安码 page shows. Anyone: the name and the risk colour. Someone who may see the
    enterprise: also the score, hazards and recent alerts; an insurer: its policies too."""
    e = _enterprise(session, enterprise_id)
    r = scoring.current(session, e.id, config.risk)
    last_alert = session.scalar(select(func.max(Alert.started_ms)).where(Alert.enterprise == e.id))
    last_hazard = session.scalar(select(func.max(Hazard.updated_ms)).where(Hazard.enterprise_id == e.id))
    updated = max(v for v in (e.updated_ms, last_alert, last_hazard) if v is not None)
    card = CardOut(
        id=e.id,
        name=e.name,
        level=r["level"],
        level_label=r["level_label"],
        color=qr.DISPLAY_COLORS[r["level"]],
        viewer=user.role.value if user.role else "anonymous",
        updated_at=iso_utc(int(updated)),
    )
    if not user.authenticated or user.role is Role.EDGE or not user.may_see(session, e.id, config.timezone):
        return card
    hazards = list(
        session.scalars(
            select(Hazard).where(Hazard.enterprise_id == e.id, Hazard.status != HazardStatus.CLOSED.value)
        )
    )
    since = now_ms() - 30 * DAY_MS
    card.score = r["score"]
    card.coefficient = r["coefficient"]
    card.industry_label = label(INDUSTRY_LABELS, e.industry)
    card.address = e.address
    card.open_hazards = len(hazards)
    card.overdue_hazards = sum(1 for h in hazards if is_overdue(h))
    card.alerts_30d = int(
        session.scalar(
            select(func.count()).select_from(Alert).where(Alert.enterprise == e.id, Alert.started_ms >= since)
        )
        or 0
    )
    if user.role is Role.INSURER:
        day = today(config)
        card.policies = [
            {
                "policy_no": p.policy_no,
                "start_date": p.start_date,
                "end_date": p.end_date,
                "in_force": in_force(p, day),
            }
            for p in session.scalars(
                select(InsurancePolicy).where(
                    InsurancePolicy.enterprise_id == e.id, InsurancePolicy.insurer_id == user.insurer_id
                )
            )
        ]
    return card


QR_IMAGES = {"png": ("image/png", qr.png), "svg": ("image/svg+xml", qr.svg)}


def _image(kind: str) -> Responses:
    media_type = QR_IMAGES[kind][0]
    return {**NOT_FOUND, 200: {"content": {media_type: {}}, "description": f"the 全安码 as {kind.upper()}"}}


def _qr_image(
    kind: str,
    request: Request,
    session: Session,
    config: CenterConfig,
    enterprise_id: str,
    scale: int,
) -> Response:
    e = _enterprise(session, enterprise_id)
    level = scoring.current(session, e.id, config.risk)["level"]
    media_type, render = QR_IMAGES[kind]
    image = render(qr.card_url(_base_url(request, config), e.id), level, scale)
    return Response(image, media_type=media_type, headers={"Cache-Control": "no-cache"})


@router.get("/enterprises/{enterprise_id}/qr.png", response_class=Response, responses=_image("png"))
def enterprise_qr_png(
    enterprise_id: EnterpriseId,
    request: Request,
    session: SessionDep,
    config: ConfigDep,
    scale: Scale = 8,
) -> Response:
    return _qr_image("png", request, session, config, enterprise_id, scale)


@router.get("/enterprises/{enterprise_id}/qr.svg", response_class=Response, responses=_image("svg"))
def enterprise_qr_svg(
    enterprise_id: EnterpriseId,
    request: Request,
    session: SessionDep,
    config: ConfigDep,
    scale: Scale = 8,
) -> Response:
    return _qr_image("svg", request, session, config, enterprise_id, scale)


@router.get(
    "/enterprises/{enterprise_id}/poster.png",
    response_class=Response,
    responses={
        **NOT_FOUND,
        200: {"content": {"image/png": {}}, "description": "the 全安码 poster, A4 portrait at 150 dpi"},
        503: {"description": "the center has no CJK font to draw the poster with"},
    },
)
def enterprise_poster_png(
    enterprise_id: EnterpriseId, request: Request, session: SessionDep, config: ConfigDep
) -> Response:
    """A printable 全安码 poster (A4 PNG): the enterprise's name, its level colour, the QR code,
    the park and the date, to put up at the gate. Public, like the card's anonymous view."""
    e = _enterprise(session, enterprise_id)
    r = scoring.current(session, e.id, config.risk)
    try:
        image = qr.poster_png(
            qr.card_url(_base_url(request, config), e.id),
            r["level"],
            r["level_label"],
            e.name,
            config.site_name,
            today(config),
        )
    except qr.FontMissing as exc:
        raise HTTPException(
            503, f"无法生成海报：服务器缺少中文字体（请安装 fonts-noto-cjk）。{exc}"
        ) from None
    filename = f"qr-poster-{e.id}.png"
    return Response(
        image,
        media_type="image/png",
        headers={"Cache-Control": "no-cache", "Content-Disposition": f'inline; filename="{filename}"'},
    )
