"""Notifications: the admin's channels and routes, the outbox (sent / failed / attempts), each
alert's notifications, and each user's own subscriptions (通知设置, 我的通知)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Query, Request
from sqlalchemy import func, select

from center.api.deps import NOT_FOUND, ConfigDep, Limit, Offset, make_router
from center.api.notify.schemas import (
    ChannelOut,
    MyNotifications,
    NotificationOut,
    PersonalChannel,
    RetryOut,
    RouteOut,
    SubscriptionIn,
    SubscriptionsIn,
    payload_subject,
)
from center.auth.audit import audit
from center.auth.deps import CurrentUser, SessionDep
from center.auth.policy import READ_ALL, Principal
from center.domain.errors import Invalid, NotFound, StateConflict
from center.domain.vocabulary import Role
from center.notify import outbox
from center.notify.config import CHANNEL_LABELS, PERSONAL_TYPES, ChannelIn, RouteIn
from center.notify.service import channel_model, channel_row_values, route_model, route_row_values
from center.store.models import Alert, Notification, NotifyChannel, NotifyRoute, NotifySubscription
from protocol import ID_PATTERN, now_ms

router = make_router("notify")

ChannelId = Annotated[str, Path(pattern=ID_PATTERN, description="the channel's id")]
RouteId = Annotated[str, Path(pattern=ID_PATTERN, description="the route's id")]


def _changed(request: Request) -> None:
    request.app.state.notifier.invalidate()


def _names(session: SessionDep) -> dict[str, str]:
    return {cid: name for cid, name in session.execute(select(NotifyChannel.id, NotifyChannel.name))}


def _out(row: Notification, names: dict[str, str], user: Principal) -> NotificationOut:
    out = NotificationOut.model_validate(row)
    out.channel_name = names.get(row.channel_id, row.channel_id)
    out.subject = payload_subject(row.payload)
    if user.role is not Role.ADMIN:
        out.recipient = outbox.mask(row.recipient)
    return out


# --- channels and routes (admin) ---------------------------------------------------------------


@router.get("/notify/channels", response_model=list[ChannelOut])
def list_notify_channels(session: SessionDep) -> list[ChannelOut]:
    """The channels; each secret shows as the name of its environment variable and whether it is set."""
    out = []
    for row in session.scalars(select(NotifyChannel).order_by(NotifyChannel.id)):
        try:
            out.append(ChannelOut.of(channel_model(row), row.updated_by))
        except ValueError:
            continue
    return out


@router.put("/notify/channels/{channel_id}", response_model=ChannelOut)
def put_notify_channel(
    channel_id: ChannelId, body: ChannelIn, session: SessionDep, user: CurrentUser, request: Request
) -> ChannelOut:
    """Create or replace a channel. Secrets are given as environment variable names
    (``password_env``, ``token_env``, ``secret_env``), never as values."""
    if body.id != channel_id:
        raise Invalid(("body", "id"), f"the body's id {body.id!r} is not the path's {channel_id!r}")
    row = session.get(NotifyChannel, channel_id)
    values = channel_row_values(body)
    if row is None:
        row = NotifyChannel(id=channel_id, updated_ms=now_ms(), updated_by=user.username, **values)
        session.add(row)
    else:
        for k, v in values.items():
            setattr(row, k, v)
        row.updated_ms, row.updated_by = now_ms(), user.username
    audit(
        session,
        user,
        "put_notify_channel",
        f"notify_channel:{channel_id}",
        {"type": body.type, "enabled": body.enabled},
    )
    session.commit()
    _changed(request)
    return ChannelOut.of(body, user.username)


@router.get("/notify/routes", response_model=list[RouteOut])
def list_notify_routes(session: SessionDep) -> list[RouteOut]:
    names = _names(session)
    out = []
    for row in session.scalars(select(NotifyRoute).order_by(NotifyRoute.id)):
        try:
            r = route_model(row)
        except ValueError:
            continue
        out.append(RouteOut(route=r, channel_name=names.get(r.channel, r.channel), updated_by=row.updated_by))
    return out


@router.put("/notify/routes/{route_id}", response_model=RouteOut)
def put_notify_route(
    route_id: RouteId, body: RouteIn, session: SessionDep, user: CurrentUser, request: Request
) -> RouteOut:
    """Create or replace a route. A template naming an unknown field is refused (422, naming it)."""
    if body.id != route_id:
        raise Invalid(("body", "id"), f"the body's id {body.id!r} is not the path's {route_id!r}")
    channel = session.get(NotifyChannel, body.channel)
    if channel is None:
        raise Invalid(("body", "channel"), f"no channel {body.channel!r}")
    row = session.get(NotifyRoute, route_id)
    values = route_row_values(body)
    if row is None:
        session.add(NotifyRoute(id=route_id, updated_ms=now_ms(), updated_by=user.username, **values))
    else:
        for k, v in values.items():
            setattr(row, k, v)
        row.updated_ms, row.updated_by = now_ms(), user.username
    audit(
        session,
        user,
        "put_notify_route",
        f"notify_route:{route_id}",
        {"channel": body.channel, "enabled": body.enabled},
    )
    session.commit()
    _changed(request)
    return RouteOut(route=body, channel_name=channel.name, updated_by=user.username)


@router.delete("/notify/routes/{route_id}", status_code=204, responses=NOT_FOUND)
def delete_notify_route(route_id: RouteId, session: SessionDep, user: CurrentUser, request: Request) -> None:
    row = session.get(NotifyRoute, route_id)
    if row is None:
        raise NotFound(f"no route {route_id!r}")
    session.delete(row)
    audit(session, user, "delete_notify_route", f"notify_route:{route_id}")
    session.commit()
    _changed(request)


# --- the outbox ----------------------------------------------------------------------------


@router.get("/notify/notifications", response_model=list[NotificationOut])
def list_notifications(
    session: SessionDep,
    user: CurrentUser,
    state: Annotated[
        str | None, Query(max_length=12, description="pending / sending / sent / failed / held / digested")
    ] = None,
    kind: Annotated[str | None, Query(max_length=16)] = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> list[NotificationOut]:
    """The outbox, newest first: what was sent, what failed and why, how many attempts."""
    stmt = select(Notification)
    if state:
        stmt = stmt.where(Notification.state == state)
    if kind:
        stmt = stmt.where(Notification.kind == kind)
    names = _names(session)
    rows = session.scalars(stmt.order_by(Notification.id.desc()).limit(limit).offset(offset))
    return [_out(r, names, user) for r in rows]


@router.get("/notify/notifications/count", response_model=dict[str, int])
def count_notifications(session: SessionDep) -> dict[str, int]:
    """How many notifications are in each state."""
    rows = session.execute(select(Notification.state, func.count()).group_by(Notification.state))
    return {state: int(n) for state, n in rows}


@router.post("/notify/notifications/{notification_id}/retry", response_model=RetryOut, responses=NOT_FOUND)
def retry_notification(
    notification_id: Annotated[int, Path(ge=1, le=2**31 - 1)], session: SessionDep, user: CurrentUser
) -> RetryOut:
    """Send a failed notification again (its attempts start over)."""
    row = session.get(Notification, notification_id)
    if row is None:
        raise NotFound(f"no notification {notification_id}")
    if row.state != outbox.FAILED:
        raise StateConflict(
            f"notification {notification_id} is {outbox.STATE_LABELS.get(row.state, row.state)}, not failed"
        )
    row.state, row.attempts, row.next_attempt_ms, row.last_error = outbox.PENDING, 0, now_ms(), None
    audit(session, user, "retry_notification", row.alert_id or row.event_key, {"notification": row.id})
    session.commit()
    return RetryOut(id=row.id, state=row.state)


@router.get("/alerts/{event_id}/notifications", response_model=list[NotificationOut], responses=NOT_FOUND)
def alert_notifications(
    event_id: Annotated[str, Path(max_length=64)], session: SessionDep, config: ConfigDep, user: CurrentUser
) -> list[NotificationOut]:
    """The notifications of one alert (its routes, subscribers, escalation levels): sent or
    failed, attempts, the last error. Addresses are masked for all but the admin."""
    alert = session.get(Alert, event_id)
    if alert is None or not user.may_see(session, alert.enterprise, config.timezone):
        raise NotFound(f"no alert with event_id {event_id!r}")
    names = _names(session)
    rows = session.scalars(
        select(Notification).where(Notification.alert_id == event_id).order_by(Notification.id).limit(200)
    )
    return [_out(r, names, user) for r in rows]


# --- each user's own --------------------------------------------------------------------------


def _personal(session: SessionDep) -> list[NotifyChannel]:
    rows = session.scalars(
        select(NotifyChannel).where(NotifyChannel.enabled.is_(True)).order_by(NotifyChannel.id)
    )
    return [r for r in rows if r.type in PERSONAL_TYPES]


def _scope_words(user: Principal) -> str:
    if user.role in READ_ALL:
        return "全园区所有企业的告警"
    return "本企业的告警与隐患提醒"


def _mine(session: SessionDep, user: Principal) -> MyNotifications:
    subs = session.scalars(
        select(NotifySubscription)
        .where(NotifySubscription.user_id == user.user_id)
        .order_by(NotifySubscription.id)
    )
    items = [
        SubscriptionIn(
            channel=s.channel_id,
            address=s.address,
            severities=s.severities,
            hazards=s.hazards,
            enabled=s.enabled,
        )
        for s in subs
    ]
    channels = [
        PersonalChannel(id=c.id, name=c.name, type=c.type, type_label=CHANNEL_LABELS.get(c.type, c.type))
        for c in _personal(session)
    ]
    names = _names(session)
    recent = session.scalars(
        select(Notification)
        .where(Notification.route == f"sub:{user.user_id}")
        .order_by(Notification.id.desc())
        .limit(20)
    )
    return MyNotifications(
        items=items,
        channels=channels,
        scope=_scope_words(user),
        recent=[_out(r, names, user) for r in recent],
    )


@router.get("/notify/me", response_model=MyNotifications)
def my_notifications(session: SessionDep, user: CurrentUser) -> MyNotifications:
    """Your subscriptions: which of your addresses get which alerts (only those you may see)."""
    return _mine(session, user)


@router.put("/notify/me", response_model=MyNotifications)
def put_my_notifications(
    body: SubscriptionsIn, session: SessionDep, user: CurrentUser, request: Request
) -> MyNotifications:
    """Replace your subscriptions (one per channel; e-mail and SMS channels only)."""
    allowed = {c.id: c for c in _personal(session)}
    seen: set[str] = set()
    for i, item in enumerate(body.items):
        if item.channel not in allowed:
            raise Invalid(
                ("body", "items", i, "channel"), f"no personal channel {item.channel!r} (e-mail or SMS)"
            )
        if item.channel in seen:
            raise Invalid(("body", "items", i, "channel"), "one subscription per channel")
        seen.add(item.channel)
        kind = allowed[item.channel].type
        if kind == "email" and "@" not in item.address:
            raise Invalid(("body", "items", i, "address"), "not an e-mail address")
        if kind == "sms" and not item.address.lstrip("+").isdigit():
            raise Invalid(("body", "items", i, "address"), "give a mobile number (digits)")
    for old in session.scalars(select(NotifySubscription).where(NotifySubscription.user_id == user.user_id)):
        session.delete(old)
    session.flush()
    for item in body.items:
        session.add(
            NotifySubscription(
                user_id=user.user_id, channel_id=item.channel, address=item.address,
                severities=[s.value for s in item.severities], hazards=item.hazards, enabled=item.enabled,
                updated_ms=now_ms(),
            )
        )  # fmt: skip
    audit(session, user, "put_my_notifications", f"user:{user.username}", {"channels": sorted(seen)})
    session.commit()
    _changed(request)
    return _mine(session, user)
