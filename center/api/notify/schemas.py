"""Shapes of the notification API: channels (never their secrets), routes, the outbox rows and
a user's own subscriptions."""

from __future__ import annotations

import os
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StringConstraints

from center.api.schemas import RowOut, derived, iso_utc
from center.notify.config import CHANNEL_LABELS, ChannelIn, RouteIn
from center.notify.outbox import KIND_LABELS, STATE_LABELS
from protocol import Severity


class ChannelOut(BaseModel):
    """A channel as the console shows it: its settings and the NAMES of the environment
    variables of its secrets, with whether each is set; never a secret's value."""

    channel: ChannelIn
    type_label: str
    secrets_set: dict[str, bool] = Field(description="environment variable name → is it set on this center")
    updated_by: str

    @classmethod
    def of(cls, ch: ChannelIn, updated_by: str) -> ChannelOut:
        return cls(
            channel=ch,
            type_label=CHANNEL_LABELS.get(ch.type, ch.type),
            secrets_set={n: bool(os.environ.get(n)) for n in ch.secret_names()},
            updated_by=updated_by,
        )


class RouteOut(BaseModel):
    route: RouteIn
    channel_name: str
    updated_by: str


class NotificationOut(RowOut):
    id: int
    kind: str
    channel_id: str
    channel_name: str = ""
    recipient: str = Field(description="the address; masked (zh***@park.cn) for all but the admin")
    alert_id: str | None
    state: str
    attempts: int
    last_error: str | None
    subject: str = ""
    created_ms: int = Field(exclude=True)
    sent_ms: int | None = Field(default=None, exclude=True)
    next_attempt_ms: int = Field(exclude=True)

    @derived
    def state_label(self) -> str:
        return STATE_LABELS.get(self.state, self.state)

    @derived
    def kind_label(self) -> str:
        return KIND_LABELS.get(self.kind, self.kind)

    @derived
    def created_at(self) -> str:
        return iso_utc(self.created_ms) or ""

    @derived
    def sent_at(self) -> str | None:
        return iso_utc(self.sent_ms)

    @derived
    def next_attempt_at(self) -> str | None:
        return iso_utc(self.next_attempt_ms) if self.state == "pending" else None


Address = Annotated[str, StringConstraints(strip_whitespace=True, min_length=3, max_length=254)]


class SubscriptionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    channel: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    address: Address = Field(description="your e-mail address or mobile number")
    severities: list[Severity] = Field(
        default_factory=list, max_length=3, description="empty: every severity"
    )
    hazards: StrictBool = Field(default=True, description="reminders of your enterprise's hazards")
    enabled: StrictBool = True


class SubscriptionsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    items: list[SubscriptionIn] = Field(max_length=10)


class PersonalChannel(BaseModel):
    id: str
    name: str
    type: str
    type_label: str


class MyNotifications(BaseModel):
    """What reaches the caller: their subscriptions, the channels they may use, and what their
    role lets through (only alerts of enterprises they may see)."""

    items: list[SubscriptionIn]
    channels: list[PersonalChannel]
    scope: str = Field(description="which alerts may reach you, in words")
    recent: list[NotificationOut]


class RetryOut(BaseModel):
    id: int
    state: str


def payload_subject(payload: dict[str, Any]) -> str:
    return str(payload.get("subject", ""))[:300]
