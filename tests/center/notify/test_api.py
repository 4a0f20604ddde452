"""The notification settings through the API and the config file: templates and routes are
checked when they are loaded (an unknown field is named), no secret is ever answered or logged,
each user manages their own subscriptions within what their role may see."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from center.app import create_app
from center.config import load_config, parse_config
from common.configfile import ConfigError
from tests.centerkit import ENT_A, ROLE_USERS, SITE, bearer, login, mini_park

SECRET = "s3cr3t-value-never-shown"
HOOK = {
    "id": "hook",
    "name": "对接平台",
    "type": "webhook",
    "url": "http://127.0.0.1:9/in",
    "secret_env": "PG_TEST_HOOK_SECRET",
}
SMTP = {"host": "127.0.0.1", "port": 25, "from_addr": "pg@park.cn", "password_env": "PG_TEST_NOPE"}
MAIL = {"id": "mail", "name": "邮件", "type": "email", "smtp": SMTP}


@pytest.fixture
def client(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    monkeypatch.setenv("PG_TEST_HOOK_SECRET", SECRET)
    cfg = parse_config(
        {
            "site": SITE,
            "database": {"url": db_url},
            "notify": {
                "enabled": False,
                "channels": [
                    {
                        "id": "hook",
                        "name": "对接平台",
                        "type": "webhook",
                        "url": "http://127.0.0.1:9/in",
                        "secret_env": "PG_TEST_HOOK_SECRET",
                    },
                    {
                        "id": "mail",
                        "name": "邮件",
                        "type": "email",
                        "smtp": {
                            "host": "127.0.0.1",
                            "port": 25,
                            "from_addr": "pg@park.cn",
                            "password_env": "PG_TEST_NOPE",
                        },
                    },
                ],
                "routes": [{"id": "all", "name": "全部", "channel": "hook"}],
            },
        },
        "test",
        tmp_path,
    )
    app = create_app(cfg, start_ingest=False)
    with TestClient(app) as c:
        mini_park(app.state.session_factory)  # a user of every role (ROLE_USERS)
        yield c


def test_config_names_an_unknown_template_field_and_the_file(tmp_path: Path) -> None:
    path = tmp_path / "center.yaml"
    path.write_text(
        "site: yijia\nnotify:\n  channels: [{id: hook, name: 对接, type: webhook, url: 'http://x/in'}]\n"
        "  routes: [{id: r1, name: 路由, channel: hook, subject_template: '{enterprise} {camra}'}]\n",
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as info:
        load_config(path)
    text = str(info.value)
    assert str(path) in text
    assert "notify.routes[0].subject_template: unknown template field {camra}" in text


def test_config_refuses_a_route_to_a_missing_channel_and_a_secret_in_place_of_its_name(
    tmp_path: Path,
) -> None:
    bad_route = {"site": "yijia", "notify": {"routes": [{"id": "r", "name": "r", "channel": "nope"}]}}
    with pytest.raises(ConfigError, match="no channel 'nope'"):
        parse_config(bad_route, "c.yaml", tmp_path)
    dd = {
        "id": "dd",
        "name": "钉钉",
        "type": "dingtalk",
        "url": "https://x/robot",
        "secret_env": "SEC-abc/123==",
    }
    secret = {"site": "yijia", "notify": {"channels": [dd]}}
    with pytest.raises(ConfigError, match="NAME of an environment variable"):
        parse_config(secret, "c.yaml", tmp_path)


def test_channels_never_show_a_secret(client: TestClient, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    admin = bearer(login(client, ROLE_USERS["admin"][0]))
    resp = client.get("/api/notify/channels", headers=admin)
    assert resp.status_code == 200
    assert SECRET not in resp.text
    hook = next(c for c in resp.json() if c["channel"]["id"] == "hook")
    assert hook["secrets_set"] == {"PG_TEST_HOOK_SECRET": True} and hook["type_label"] == "签名 Webhook"
    mail = next(c for c in resp.json() if c["channel"]["id"] == "mail")
    assert mail["secrets_set"] == {"PG_TEST_NOPE": False}
    body = {"id": "dd", "name": "值班钉钉群", "type": "dingtalk", "url": "https://oapi.dingtalk.com/robot/send",
            "token_env": "PG_TEST_HOOK_SECRET"}  # fmt: skip
    put = client.put("/api/notify/channels/dd", json=body, headers=admin)
    assert put.status_code == 200 and SECRET not in put.text
    assert client.get("/api/audit", headers=admin).status_code == 200
    assert SECRET not in client.get("/api/audit?limit=1000", headers=admin).text
    assert SECRET not in caplog.text
    # a secret value where a variable name goes is refused
    body["secret_env"] = "SEC0123/abc=="
    assert client.put("/api/notify/channels/dd", json=body, headers=admin).status_code == 422


def test_a_route_with_an_unknown_template_field_is_refused_naming_it(client: TestClient) -> None:
    admin = bearer(login(client, ROLE_USERS["admin"][0]))
    route = {"id": "r2", "name": "模板", "channel": "hook", "text_template": "{enterprise}{post}{nope}"}
    resp = client.put("/api/notify/routes/r2", json=route, headers=admin)
    assert resp.status_code == 422 and "{nope}" in resp.text
    route["text_template"] = "{enterprise} {camera} {link}"
    route["channel"] = "missing"
    resp = client.put("/api/notify/routes/r2", json=route, headers=admin)
    assert resp.status_code == 422 and "no channel 'missing'" in resp.text
    route["channel"] = "hook"
    route["enterprises"] = [ENT_A]
    assert client.put("/api/notify/routes/r2", json=route, headers=admin).status_code == 200
    names = [r["route"]["id"] for r in client.get("/api/notify/routes", headers=admin).json()]
    assert names == ["all", "r2"]
    assert client.delete("/api/notify/routes/r2", headers=admin).status_code == 204
    operator = bearer(login(client, ROLE_USERS["operator"][0]))
    assert client.put("/api/notify/routes/r2", json=route, headers=operator).status_code == 403


def test_each_user_manages_their_own_subscriptions(client: TestClient) -> None:
    officer = bearer(login(client, ROLE_USERS["enterprise"][0]))
    mine = client.get("/api/notify/me", headers=officer).json()
    assert [c["id"] for c in mine["channels"]] == ["mail"]  # e-mail and SMS only, not the webhook
    assert mine["scope"] == "本企业的告警与隐患提醒"
    item = {
        "channel": "mail",
        "address": "anquan@ent-a.cn",
        "severities": ["major"],
        "hazards": True,
        "enabled": True,
    }
    resp = client.put("/api/notify/me", json={"items": [item]}, headers=officer)
    assert resp.status_code == 200 and resp.json()["items"][0]["address"] == "anquan@ent-a.cn"
    assert (
        client.put(
            "/api/notify/me", json={"items": [{**item, "channel": "hook"}]}, headers=officer
        ).status_code
        == 422
    )
    assert (
        client.put(
            "/api/notify/me", json={"items": [{**item, "address": "13800000000"}]}, headers=officer
        ).status_code
        == 422
    )
    gov = bearer(login(client, ROLE_USERS["government"][0]))
    assert client.get("/api/notify/me", headers=gov).json()["items"] == []  # each sees their own
    assert client.get("/api/notify/me", headers=gov).json()["scope"] == "全园区所有企业的告警"
    insurer = bearer(login(client, ROLE_USERS["insurer"][0]))
    assert (
        client.get("/api/notify/me", headers=insurer).status_code == 403
    )  # no alerts, no alert notifications
