"""The ``notify`` section of the center's config, and the channel and route models the API
shares with it.

Channels and routes live in the database (the admin edits them in the console, 通知设置); the
ones in the config file are created at start-up when no channel or route of that id exists yet.
Escalation levels, hazard reminders, the worker's retry policy and the digest time are config
only. No secret is stored in the database or the config file's copy in memory: a channel names
the environment variables that hold its password, robot key or signing secret
(``password_env``, ``token_env``, ``secret_env``) and the worker reads them at delivery time.
"""

from __future__ import annotations

import os
import re
from datetime import time
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator, model_validator

from center.notify import templates
from protocol import RuleType, Severity
from protocol.ids import valid_id

ChannelType = Literal["email", "wecom", "dingtalk", "feishu", "sms", "webhook"]
CHANNEL_TYPES: tuple[str, ...] = ("email", "wecom", "dingtalk", "feishu", "sms", "webhook")
CHANNEL_LABELS = {
    "email": "电子邮件",
    "wecom": "企业微信群机器人",
    "dingtalk": "钉钉群机器人",
    "feishu": "飞书群机器人",
    "sms": "短信网关",
    "webhook": "签名 Webhook",
}
# channels that deliver to a person's own address (a user may subscribe to them); the robots post
# to their group, whatever the recipient
PERSONAL_TYPES = frozenset({"email", "sms"})
ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
HOURS = re.compile(r"^([01]\d|2[0-3]):[0-5]\d-([01]\d|2[0-4]):[0-5]\d$")
SMS_FIELDS = {"phone": "手机号", "text": "短信正文", "subject": "标题", "idempotency_key": "幂等键"}

Name = Annotated[str, StringConstraints(min_length=1, max_length=64, strip_whitespace=True)]
Recipient = Annotated[str, StringConstraints(min_length=1, max_length=254, strip_whitespace=True)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _id(value: str) -> str:
    if not valid_id(value):
        raise ValueError("use 1–64 letters, digits, '_', '-', '.'")
    return value


def _env(value: str | None) -> str | None:
    if value is not None and not ENV_NAME.match(value):
        raise ValueError("give the NAME of an environment variable (letters, digits, '_'), not the secret")
    return value


def parse_hours(value: str) -> tuple[time, time]:
    """``"22:00-07:00"`` as (start, end); 24:00 is the end of the day."""
    start, end = value.split("-")
    h1, m1 = (int(x) for x in start.split(":"))
    h2, m2 = (int(x) for x in end.split(":"))
    return time(h1, m1), (time(23, 59, 59, 999999) if h2 == 24 else time(h2, m2))


def in_hours(value: str, at: time) -> bool:
    """Is ``at`` inside the window ``value`` (which may run over midnight)?"""
    start, end = parse_hours(value)
    if start <= end:
        return start <= at < end
    return at >= start or at < end


def _hours(value: str | None) -> str | None:
    if value is not None and not HOURS.match(value):
        raise ValueError("give a window as HH:MM-HH:MM, e.g. 22:00-07:00 (it may run over midnight)")
    if value is not None and parse_hours(value)[0] == parse_hours(value)[1]:
        raise ValueError("the window is empty: start and end are the same")
    return value


class SmtpSettings(_Model):
    host: Annotated[str, StringConstraints(min_length=1, max_length=255)]
    port: int = Field(default=25, ge=1, le=65535)
    security: Literal["none", "starttls", "ssl"] = Field(
        default="starttls", description="starttls: upgrade a plain connection; ssl: TLS from the start (465)"
    )
    username: Annotated[str, StringConstraints(max_length=254)] | None = None
    password_env: str | None = Field(default=None, description="environment variable holding the password")
    from_addr: Annotated[str, StringConstraints(min_length=3, max_length=254)] = Field(
        description="the From address, e.g. parkguard@park.example.cn"
    )
    from_name: Annotated[str, StringConstraints(max_length=64)] = "ParkGuard"
    timeout_s: float = Field(default=10.0, gt=0, le=120)
    verify_tls: bool = Field(default=True, description="check the server's certificate (starttls/ssl)")

    _pw = field_validator("password_env")(_env)


class ChannelIn(_Model):
    """A channel as the admin (or the config file) gives it: settings, and the NAMES of the
    environment variables holding its secrets."""

    id: str
    name: Name
    type: ChannelType
    enabled: bool = True
    url: Annotated[str, StringConstraints(max_length=1024)] | None = Field(
        default=None,
        description="robots, sms, webhook: the address to POST to, without its key; the key "
        "(企业微信 key, 钉钉 access_token, 飞书 hook id) comes from token_env",
    )
    token_env: str | None = Field(
        default=None, description="environment variable holding the robot key / gateway token"
    )
    secret_env: str | None = Field(
        default=None, description="环境变量名: 钉钉/飞书加签密钥, or the webhook's HMAC-SHA256 key"
    )
    smtp: SmtpSettings | None = None
    sms_body: (
        dict[
            Annotated[str, StringConstraints(min_length=1, max_length=64)],
            Annotated[str, StringConstraints(max_length=1000)],
        ]
        | None
    ) = Field(
        default=None,
        max_length=20,
        description="sms: the JSON body the gateway wants, each value a template of {phone} {text} "
        "{subject} {idempotency_key}, e.g. {to: '{phone}', content: '{text}'}",
    )
    timeout_s: float = Field(default=10.0, gt=0, le=120, description="HTTP timeout of a delivery")

    _id_ok = field_validator("id")(_id)
    _envs = field_validator("token_env", "secret_env")(_env)

    @field_validator("url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is not None and not (value.startswith("http://") or value.startswith("https://")):
            raise ValueError("give an http:// or https:// address")
        return value

    @field_validator("sms_body")
    @classmethod
    def _sms_body(cls, value: dict[str, str] | None) -> dict[str, str] | None:
        for key, tpl in (value or {}).items():
            try:
                templates.check(tpl, SMS_FIELDS)
            except templates.TemplateError as exc:
                raise ValueError(f"sms_body.{key}: {exc}") from None
        return value

    @model_validator(mode="after")
    def _complete(self) -> ChannelIn:
        if self.type == "email":
            if self.smtp is None:
                raise ValueError("an email channel needs smtp: {host, port, security, from_addr}")
        elif self.url is None:
            raise ValueError(f"a {self.type} channel needs url")
        if self.type == "sms" and not self.sms_body:
            raise ValueError("an sms channel needs sms_body (the gateway's JSON body as templates)")
        if self.type != "email" and self.smtp is not None:
            raise ValueError("smtp is only for an email channel")
        return self

    def secret_names(self) -> list[str]:
        names = [self.token_env, self.secret_env, self.smtp.password_env if self.smtp else None]
        return [n for n in names if n]


def _template(value: str | None) -> str | None:
    return None if value is None else templates.check(value)


class RouteIn(_Model):
    """Which alerts go to which channel and recipients. An empty filter matches everything."""

    id: str
    name: Name
    enabled: bool = True
    channel: str = Field(description="the channel's id")
    recipients: list[Recipient] = Field(
        default_factory=list,
        max_length=50,
        description="addresses (e-mail, phone); robots and webhooks post to their group, leave it empty",
    )
    enterprises: list[str] = Field(default_factory=list, max_length=200)
    rule_types: list[RuleType] = Field(default_factory=list, max_length=50)
    severities: list[Severity] = Field(default_factory=list, max_length=3)
    cameras: list[str] = Field(default_factory=list, max_length=500)
    hours: str | None = Field(default=None, description="only alerts starting in this window (HH:MM-HH:MM)")
    quiet_hours: str | None = Field(
        default=None,
        description="免打扰: what matches in this window waits until it ends (重大 alerts are not held)",
    )
    digest: bool = Field(default=False, description="每日汇总: one message a day at notify.digest_time")
    subject_template: Annotated[str, StringConstraints(max_length=templates.MAX_TEMPLATE_CHARS)] | None = None
    text_template: Annotated[str, StringConstraints(max_length=templates.MAX_TEMPLATE_CHARS)] | None = None

    _ids = field_validator("id", "channel")(_id)
    _windows = field_validator("hours", "quiet_hours")(_hours)
    _templates = field_validator("subject_template", "text_template")(_template)

    @field_validator("enterprises", "cameras")
    @classmethod
    def _id_list(cls, value: list[str]) -> list[str]:
        for item in value:
            _id(item)
        return value


class EscalationLevel(_Model):
    name: Name = Field(description="who this level is, e.g. 值班长, 园区安全负责人, 镇街联系人")
    after_minutes: float = Field(gt=0, le=7 * 24 * 60, description="minutes after the alert, unacknowledged")
    channel: str
    recipients: list[Recipient] = Field(default_factory=list, max_length=50)

    _ch = field_validator("channel")(_id)


class EscalationConfig(_Model):
    """An alert of these severities still 待处理 (open) after a level's minutes goes to that level."""

    severities: list[Severity] = Field(default_factory=lambda: [Severity.MAJOR], min_length=1)
    levels: list[EscalationLevel] = Field(default_factory=list, max_length=10)

    @field_validator("levels")
    @classmethod
    def _rising(cls, value: list[EscalationLevel]) -> list[EscalationLevel]:
        mins = [lv.after_minutes for lv in value]
        if mins != sorted(mins) or len(set(mins)) != len(mins):
            raise ValueError("levels go up: each after_minutes greater than the one before")
        return value


class HazardReminders(_Model):
    """A hazard due within ``due_within_hours`` reminds its assignee; an overdue one reminds the
    assignee and the park (once a day each)."""

    channel: str
    park_recipients: list[Recipient] = Field(default_factory=list, max_length=50)
    due_within_hours: float = Field(default=24.0, gt=0, le=24 * 30)

    _ch = field_validator("channel")(_id)


class NotifyConfig(_Model):
    enabled: bool = Field(default=True, description="run the delivery worker in this center process")
    poll_s: float = Field(
        default=1.0, gt=0, le=60, description="how often the worker looks for due notifications"
    )
    batch: int = Field(default=20, ge=1, le=500, description="notifications claimed at a time")
    workers: int = Field(default=4, ge=1, le=32, description="deliveries in parallel")
    lease_s: float = Field(
        default=120.0,
        ge=1,
        le=3600,
        description="a claimed notification not finished in this time (the center died) is taken again",
    )
    max_attempts: int = Field(default=5, ge=1, le=50)
    backoff_s: float = Field(
        default=10.0, gt=0, le=3600, description="wait before the 2nd attempt; doubles each time"
    )
    backoff_max_s: float = Field(default=1800.0, gt=0, le=86_400)
    check_s: float = Field(
        default=30.0, gt=0, le=3600, description="how often escalation and hazard reminders are checked"
    )
    digest_time: str = Field(default="18:00", description="when the daily digests go out (park time, HH:MM)")
    channels: list[ChannelIn] = Field(default_factory=list, max_length=100)
    routes: list[RouteIn] = Field(default_factory=list, max_length=500)
    escalation: EscalationConfig = Field(default_factory=EscalationConfig)
    hazard_reminders: HazardReminders | None = None

    @field_validator("digest_time")
    @classmethod
    def _digest_time(cls, value: str) -> str:
        if not re.match(r"^([01]\d|2[0-3]):[0-5]\d$", value):
            raise ValueError("give HH:MM, e.g. 18:00")
        return value

    @model_validator(mode="after")
    def _refs(self) -> NotifyConfig:
        ids = [c.id for c in self.channels]
        if len(set(ids)) != len(ids):
            raise ValueError("channels: two channels with the same id")
        rids = [r.id for r in self.routes]
        if len(set(rids)) != len(rids):
            raise ValueError("routes: two routes with the same id")
        known = set(ids)
        for i, r in enumerate(self.routes):
            if r.channel not in known:
                raise ValueError(f"routes[{i}].channel: no channel {r.channel!r} in notify.channels")
        for i, lv in enumerate(self.escalation.levels):
            if lv.channel not in known:
                raise ValueError(
                    f"escalation.levels[{i}].channel: no channel {lv.channel!r} in notify.channels"
                )
        if self.hazard_reminders and self.hazard_reminders.channel not in known:
            raise ValueError(f"hazard_reminders.channel: no channel {self.hazard_reminders.channel!r}")
        return self

    def missing_env(self) -> list[str]:
        """``channels[i].x_env: NAME`` for each secret variable that is not set (a warning at start)."""
        return [
            f"channel {c.id}: environment variable {name} is not set"
            for c in self.channels
            for name in c.secret_names()
            if name not in os.environ
        ]
