"""Delivery of one notification on one channel: e-mail over SMTP, the group robots of 企业微信,
钉钉 and 飞书 in their documented JSON shapes (钉钉 and 飞书 signed when a secret is set), an
SMS gateway over HTTP with a configurable JSON body, and a generic webhook signed with
HMAC-SHA256 (docs/notify.md describes it for integrators).

Each sender raises :class:`DeliveryError` with a one-line reason; the reason never holds a
secret (robot keys, tokens, passwords are masked out of it).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import smtplib
import ssl
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from email.message import EmailMessage
from email.utils import formataddr, make_msgid
from typing import Any

from center.notify import templates
from center.notify.config import ChannelIn

USER_AGENT = "ParkGuard-notify/1"
MAX_TEXT_CHARS = 4000  # robots refuse long texts (钉钉 20000 bytes, 企业微信 2048 bytes of text)
WEBHOOK_SIGNATURE = "X-ParkGuard-Signature"
WEBHOOK_TIMESTAMP = "X-ParkGuard-Timestamp"
WEBHOOK_KEY = "X-ParkGuard-Idempotency-Key"


class DeliveryError(Exception):
    """A delivery that did not go through (retried until the attempts run out)."""


def _secret(name: str | None, what: str) -> str | None:
    if name is None:
        return None
    value = os.environ.get(name)
    if not value:
        raise DeliveryError(f"{what}: environment variable {name} is not set")
    return value


def _masked(text: str, secrets: list[str | None]) -> str:
    for s in secrets:
        if s:
            text = text.replace(s, "***").replace(urllib.parse.quote(s, safe=""), "***")
    return text[:500]


def _post_json(
    url: str, body: bytes, headers: Mapping[str, str], timeout: float, secrets: list[str | None]
) -> tuple[int, bytes]:
    req = urllib.request.Request(url, data=body, method="POST")
    req.add_header("Content-Type", "application/json; charset=utf-8")
    req.add_header("User-Agent", USER_AGENT)
    for k, v in headers.items():
        req.add_header(k, v)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, resp.read(64 * 1024)
    except urllib.error.HTTPError as exc:
        detail = exc.read(300).decode("utf-8", "replace").strip().replace("\n", " ")
        raise DeliveryError(_masked(f"HTTP {exc.code} {exc.reason}: {detail}", secrets)) from None
    except (urllib.error.URLError, OSError, TimeoutError) as exc:
        reason = getattr(exc, "reason", exc)
        raise DeliveryError(_masked(f"cannot reach the server: {reason}", secrets)) from None


def _clip(text: str) -> str:
    return text if len(text) <= MAX_TEXT_CHARS else text[: MAX_TEXT_CHARS - 1] + "…"


def _robot_text(payload: Mapping[str, Any]) -> str:
    return _clip(f"{payload['subject']}\n{payload['text']}")


def _check_errcode(status: int, raw: bytes, key: str) -> None:
    """企业微信/钉钉 answer ``{"errcode": 0}``, 飞书 ``{"code": 0}``; anything else failed."""
    try:
        answer = json.loads(raw.decode("utf-8") or "{}")
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise DeliveryError(f"HTTP {status}: the answer is not JSON") from None
    code = answer.get(key, answer.get("StatusCode", 0)) if isinstance(answer, dict) else None
    if code not in (0, None):
        msg = answer.get("errmsg") or answer.get("msg") or ""
        raise DeliveryError(f"{key} {code}: {str(msg)[:200]}")


def _with_query(url: str, **params: str) -> str:
    sep = "&" if urllib.parse.urlsplit(url).query else "?"
    return url + sep + urllib.parse.urlencode(params)


def dingtalk_sign(secret: str, timestamp_ms: int) -> str:
    """钉钉加签: Base64(HmacSHA256(key=secret, msg="timestamp\\nsecret")) (then URL-encoded in the query)."""
    digest = hmac.new(secret.encode(), f"{timestamp_ms}\n{secret}".encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def feishu_sign(secret: str, timestamp_s: int) -> str:
    """飞书签名校验: Base64(HmacSHA256(key="timestamp\\nsecret", msg=""))."""
    digest = hmac.new(f"{timestamp_s}\n{secret}".encode(), b"", hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def webhook_signature(secret: str, timestamp_s: str, body: bytes) -> str:
    """The generic webhook's signature: ``sha256=`` + hex HMAC-SHA256(secret, timestamp + "." + body)."""
    mac = hmac.new(secret.encode(), timestamp_s.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def _wecom(ch: ChannelIn, recipient: str, payload: Mapping[str, Any], now_s: float) -> None:
    key = _secret(ch.token_env, "企业微信 key")
    url = _with_query(ch.url or "", key=key) if key else ch.url or ""
    text: dict[str, Any] = {"content": _robot_text(payload)}
    if recipient and recipient.isdigit():
        text["mentioned_mobile_list"] = [recipient]
    body = json.dumps({"msgtype": "text", "text": text}, ensure_ascii=False).encode()
    status, raw = _post_json(url, body, {}, ch.timeout_s, [key])
    _check_errcode(status, raw, "errcode")


def _dingtalk(ch: ChannelIn, recipient: str, payload: Mapping[str, Any], now_s: float) -> None:
    token = _secret(ch.token_env, "钉钉 access_token")
    secret = _secret(ch.secret_env, "钉钉加签密钥")
    url = ch.url or ""
    if token:
        url = _with_query(url, access_token=token)
    if secret:
        ts = int(now_s * 1000)
        url = _with_query(url, timestamp=str(ts), sign=dingtalk_sign(secret, ts))
    at: dict[str, Any] = {"isAtAll": False}
    if recipient and recipient.isdigit():
        at["atMobiles"] = [recipient]
    msg = {"msgtype": "text", "text": {"content": _robot_text(payload)}, "at": at}
    status, raw = _post_json(
        url, json.dumps(msg, ensure_ascii=False).encode(), {}, ch.timeout_s, [token, secret]
    )
    _check_errcode(status, raw, "errcode")


def _feishu(ch: ChannelIn, recipient: str, payload: Mapping[str, Any], now_s: float) -> None:
    token = _secret(ch.token_env, "飞书 hook id")
    secret = _secret(ch.secret_env, "飞书签名密钥")
    url = (ch.url or "").rstrip("/") + "/" + token if token else ch.url or ""
    msg: dict[str, Any] = {"msg_type": "text", "content": {"text": _robot_text(payload)}}
    if secret:
        ts = int(now_s)
        msg = {"timestamp": str(ts), "sign": feishu_sign(secret, ts), **msg}
    status, raw = _post_json(
        url, json.dumps(msg, ensure_ascii=False).encode(), {}, ch.timeout_s, [token, secret]
    )
    _check_errcode(status, raw, "code")


def _sms(ch: ChannelIn, recipient: str, payload: Mapping[str, Any], now_s: float) -> None:
    if not recipient:
        raise DeliveryError("an SMS needs a phone number as recipient")
    token = _secret(ch.token_env, "短信网关 token")
    values = {
        "phone": recipient,
        "text": _clip(f"{payload['subject']} {payload['fields'].get('link', '')}".strip()),
        "subject": payload["subject"],
        "idempotency_key": payload["fields"]["idempotency_key"],
    }
    body = {k: templates.render(tpl, values) for k, tpl in (ch.sms_body or {}).items()}
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    headers[WEBHOOK_KEY] = values["idempotency_key"]
    _post_json(ch.url or "", json.dumps(body, ensure_ascii=False).encode(), headers, ch.timeout_s, [token])


def _webhook(ch: ChannelIn, recipient: str, payload: Mapping[str, Any], now_s: float) -> None:
    secret = _secret(ch.secret_env, "webhook 签名密钥")
    fields = payload["fields"]
    doc = {
        "idempotency_key": fields["idempotency_key"],
        "kind": payload.get("kind", "alert"),
        "event_id": fields.get("event_id", ""),
        "recipient": recipient,
        "subject": payload["subject"],
        "text": payload["text"],
        "fields": fields,
    }
    body = json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode()
    ts = str(int(now_s))
    headers = {WEBHOOK_TIMESTAMP: ts, WEBHOOK_KEY: fields["idempotency_key"]}
    if secret:
        headers[WEBHOOK_SIGNATURE] = webhook_signature(secret, ts, body)
    _post_json(ch.url or "", body, headers, ch.timeout_s, [secret])


def _email(ch: ChannelIn, recipient: str, payload: Mapping[str, Any], now_s: float) -> None:
    smtp = ch.smtp
    assert smtp is not None
    if not recipient or "@" not in recipient:
        raise DeliveryError(f"not an e-mail address: {recipient!r}")
    password = _secret(smtp.password_env, "SMTP password")
    msg = EmailMessage()
    msg["Subject"] = payload["subject"]  # encoded as RFC 2047 UTF-8 by the policy
    msg["From"] = formataddr((smtp.from_name, smtp.from_addr))
    msg["To"] = recipient
    key = payload["fields"]["idempotency_key"]
    msg["Message-ID"] = make_msgid(idstring=key, domain="parkguard.local")
    msg["X-ParkGuard-Idempotency-Key"] = key
    msg.set_content(payload["text"], charset="utf-8")
    context = ssl.create_default_context()
    if not smtp.verify_tls:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    try:
        client: smtplib.SMTP
        if smtp.security == "ssl":
            client = smtplib.SMTP_SSL(smtp.host, smtp.port, timeout=smtp.timeout_s, context=context)
        else:
            client = smtplib.SMTP(smtp.host, smtp.port, timeout=smtp.timeout_s)
        with client:
            if smtp.security == "starttls":
                client.starttls(context=context)
            if smtp.username:
                client.login(smtp.username, password or "")
            client.send_message(msg)
    except (smtplib.SMTPException, OSError) as exc:
        raise DeliveryError(
            _masked(f"SMTP {smtp.host}:{smtp.port}: {type(exc).__name__}: {exc}", [password])
        ) from None


SENDERS: dict[str, Callable[[ChannelIn, str, Mapping[str, Any], float], None]] = {
    "email": _email,
    "wecom": _wecom,
    "dingtalk": _dingtalk,
    "feishu": _feishu,
    "sms": _sms,
    "webhook": _webhook,
}


def deliver(
    channel: ChannelIn, recipient: str, payload: Mapping[str, Any], now_s: float | None = None
) -> None:
    """Send ``payload`` (subject, text, fields) to ``recipient`` on ``channel``; raises DeliveryError."""
    if not channel.enabled:
        raise DeliveryError(f"channel {channel.id} is disabled")
    SENDERS[channel.type](channel, recipient, payload, time.time() if now_s is None else now_s)
