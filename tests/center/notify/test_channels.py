"""Each channel against a real receiver: an aiosmtpd server gets the e-mail with its Chinese
subject and the console link; a local HTTP server gets the 企业微信 / 钉钉 / 飞书 robot payloads in
their documented shape (钉钉 and 飞书 signed as their docs say), the SMS gateway body from its
template, and the generic webhook whose signature verifies; a 500 or an errcode is an error that
names the cause and never holds a secret."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from typing import Any

import pytest

from center.notify.channels import DeliveryError, deliver
from center.notify.config import ChannelIn
from center.notify.message import alert_fields, idempotency_key, payload
from tests.center.notify.receivers import http_sink, smtp_server

ALERT = {
    "event_id": "0b7c4c1e-5f7b-4a7e-9d1a-1c2b3c4d5e6f",
    "camera": "cam-a1",
    "camera_name": "熔铸车间炉前",
    "enterprise": "ent-a",
    "enterprise_name": "甲金属制品有限公司",
    "rule_type": "missing_ppe",
    "rule_name": "未戴安全帽",
    "severity": "major",
    "started_ms": 1_750_000_000_000,
    "count": 2,
    "evidence": [{"kind": "snapshot", "sha256": "a" * 64}],
}


def _payload(route: str = "r1", recipient: str = "") -> dict[str, Any]:
    from zoneinfo import ZoneInfo

    fields = alert_fields(ALERT, "毅佳工业园", "https://pg.example.cn", ZoneInfo("Asia/Shanghai"))
    return payload(fields, idempotency_key(ALERT["event_id"], route, recipient), "alert")


def test_email_reaches_a_real_smtp_server_with_the_chinese_subject_and_the_links() -> None:
    with smtp_server() as (port, mails):
        ch = ChannelIn.model_validate(
            {
                "id": "mail",
                "name": "邮件",
                "type": "email",
                "smtp": {
                    "host": "127.0.0.1",
                    "port": port,
                    "security": "none",
                    "from_addr": "pg@park.example.cn",
                },
            }
        )
        deliver(ch, "anquan@ent-a.example.cn", _payload(recipient="anquan@ent-a.example.cn"))
        deadline = time.monotonic() + 5
        while not mails and time.monotonic() < deadline:
            time.sleep(0.02)
    assert len(mails) == 1
    rcpts, msg = mails[0]
    assert rcpts == ["anquan@ent-a.example.cn"]
    assert msg["Subject"] == "【毅佳工业园】重大告警：甲金属制品有限公司 熔铸车间炉前 未戴安全帽"
    body = msg.get_content()
    assert f"https://pg.example.cn/alerts?event={ALERT['event_id']}" in body
    assert f"https://pg.example.cn/api/evidence/{'a' * 64}" in body
    assert "2025-06-15 23:06:40" in body  # the park's time zone
    key = idempotency_key(ALERT["event_id"], "r1", "anquan@ent-a.example.cn")
    assert msg["X-ParkGuard-Idempotency-Key"] == key and key in msg["Message-ID"]


def test_email_to_a_closed_port_is_an_error_naming_the_server() -> None:
    from tests.support.ports import free_port

    port = free_port()
    smtp = {"host": "127.0.0.1", "port": port, "security": "starttls", "from_addr": "pg@park.example.cn"}
    ch = ChannelIn.model_validate({"id": "mail", "name": "邮件", "type": "email", "smtp": smtp})
    with pytest.raises(DeliveryError, match=f"SMTP 127.0.0.1:{port}"):
        deliver(ch, "x@example.cn", _payload())


def test_wecom_robot_gets_its_documented_text_message(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("T_WECOM_KEY", "wecom-key-123")
    with http_sink() as sink:
        ch = ChannelIn(
            id="wx",
            name="企业微信",
            type="wecom",
            url=f"{sink.url}/cgi-bin/webhook/send",
            token_env="T_WECOM_KEY",
        )
        deliver(ch, "13800138000", _payload())
        (hit,) = sink.wait(1)
    assert hit.path == "/cgi-bin/webhook/send" and hit.query == {"key": "wecom-key-123"}
    doc = hit.json()
    assert doc["msgtype"] == "text"
    assert doc["text"]["content"].startswith("【毅佳工业园】重大告警")
    assert doc["text"]["mentioned_mobile_list"] == ["13800138000"]


def test_dingtalk_robot_is_signed_as_documented(monkeypatch: pytest.MonkeyPatch) -> None:
    secret = "SECabcdef0123456789"
    monkeypatch.setenv("T_DING_TOKEN", "ding-token")
    monkeypatch.setenv("T_DING_SECRET", secret)
    with http_sink() as sink:
        ch = ChannelIn(id="dd", name="钉钉", type="dingtalk", url=f"{sink.url}/robot/send",
                       token_env="T_DING_TOKEN", secret_env="T_DING_SECRET")  # fmt: skip
        deliver(ch, "", _payload())
        (hit,) = sink.wait(1)
    assert hit.query["access_token"] == "ding-token"
    ts = hit.query["timestamp"]
    assert abs(int(ts) - time.time() * 1000) < 60_000  # milliseconds
    # the documented algorithm: Base64(HmacSHA256(secret, timestamp + "\n" + secret)), URL-encoded
    want = base64.b64encode(
        hmac.new(secret.encode(), f"{ts}\n{secret}".encode(), hashlib.sha256).digest()
    ).decode()
    assert hit.query["sign"] == want  # parse_qs decoded the URL encoding
    doc = hit.json()
    assert doc["msgtype"] == "text" and "熔铸车间炉前" in doc["text"]["content"]
    assert doc["at"] == {"isAtAll": False}


def test_feishu_robot_is_signed_as_documented(monkeypatch: pytest.MonkeyPatch) -> None:
    secret = "feishu-secret"
    monkeypatch.setenv("T_FS_HOOK", "hook-id-42")
    monkeypatch.setenv("T_FS_SECRET", secret)
    with http_sink() as sink:
        ch = ChannelIn(id="fs", name="飞书", type="feishu", url=f"{sink.url}/open-apis/bot/v2/hook",
                       token_env="T_FS_HOOK", secret_env="T_FS_SECRET")  # fmt: skip
        deliver(ch, "", _payload())
        (hit,) = sink.wait(1)
    assert hit.path == "/open-apis/bot/v2/hook/hook-id-42"
    doc = hit.json()
    assert doc["msg_type"] == "text" and "甲金属制品有限公司" in doc["content"]["text"]
    ts = doc["timestamp"]
    assert abs(int(ts) - time.time()) < 60  # seconds
    # the documented algorithm: Base64(HmacSHA256(key = timestamp + "\n" + secret, message = ""))
    want = base64.b64encode(hmac.new(f"{ts}\n{secret}".encode(), b"", hashlib.sha256).digest()).decode()
    assert doc["sign"] == want


def test_robot_errcode_is_a_failure(monkeypatch: pytest.MonkeyPatch) -> None:
    with http_sink(answer={"errcode": 310000, "errmsg": "sign not match"}) as sink:
        ch = ChannelIn(id="dd", name="钉钉", type="dingtalk", url=f"{sink.url}/robot/send")
        with pytest.raises(DeliveryError, match="errcode 310000: sign not match"):
            deliver(ch, "", _payload())


def test_sms_gateway_gets_the_templated_body(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("T_SMS_TOKEN", "sms-token")
    with http_sink() as sink:
        body = {"mobile": "{phone}", "content": "{text}", "sign": "毅佳园区", "biz_id": "{idempotency_key}"}
        ch = ChannelIn(
            id="sms", name="短信", type="sms", url=f"{sink.url}/send", token_env="T_SMS_TOKEN", sms_body=body
        )
        deliver(ch, "13800138000", _payload(recipient="13800138000"))
        (hit,) = sink.wait(1)
    doc = hit.json()
    assert hit.headers["authorization"] == "Bearer sms-token"
    assert doc["mobile"] == "13800138000" and doc["sign"] == "毅佳园区"
    assert (
        doc["content"].startswith("【毅佳工业园】重大告警")
        and "https://pg.example.cn/alerts?event=" in doc["content"]
    )
    assert doc["biz_id"] == idempotency_key(ALERT["event_id"], "r1", "13800138000")


def test_generic_webhook_signature_verifies_with_the_documented_algorithm(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    secret = "integrator-shared-key"
    monkeypatch.setenv("T_HOOK_SECRET", secret)
    with http_sink() as sink:
        ch = ChannelIn(
            id="hook", name="对接", type="webhook", url=f"{sink.url}/in", secret_env="T_HOOK_SECRET"
        )
        deliver(ch, "", _payload())
        (hit,) = sink.wait(1)
    ts = hit.headers["x-parkguard-timestamp"]
    # docs/notify.md: sha256= hex(HMAC-SHA256(key=secret, message=timestamp + "." + raw body))
    mac = hmac.new(secret.encode(), ts.encode() + b"." + hit.body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(hit.headers["x-parkguard-signature"], f"sha256={mac}")
    doc = hit.json()
    assert doc["idempotency_key"] == hit.headers["x-parkguard-idempotency-key"]
    assert doc["event_id"] == ALERT["event_id"] and doc["fields"]["enterprise"] == "甲金属制品有限公司"
    tampered = hit.body.replace("甲金属".encode(), "乙金属".encode())
    assert hmac.new(secret.encode(), ts.encode() + b"." + tampered, hashlib.sha256).hexdigest() != mac


def test_a_500_is_an_error_without_the_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("T_WECOM_KEY", "very-secret-key")
    with http_sink(status=500, answer={"error": "boom"}) as sink:
        ch = ChannelIn(
            id="wx", name="企业微信", type="wecom", url=f"{sink.url}/send", token_env="T_WECOM_KEY"
        )
        with pytest.raises(DeliveryError) as info:
            deliver(ch, "", _payload())
    assert "HTTP 500" in str(info.value) and "very-secret-key" not in str(info.value)


def test_a_missing_secret_variable_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("T_UNSET_SECRET", raising=False)
    ch = ChannelIn(
        id="hook", name="对接", type="webhook", url="http://127.0.0.1:9/in", secret_env="T_UNSET_SECRET"
    )
    with pytest.raises(DeliveryError, match="environment variable T_UNSET_SECRET is not set"):
        deliver(ch, "", _payload())
