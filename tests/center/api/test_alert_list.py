"""The operator's alert list through the API (issue 16, item 4): filters and free-text search on
the server, cursor pages, the changes a console missed while its feed was down, names, why an
alert has no snapshot or clip, absurd parameters (422) and the enterprise scope."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from center.app import create_app
from center.ingest.upsert import apply_alert
from center.store.models import Alert, Camera, EvidenceFile, Node, NodeConfigVersion
from protocol import new_event_id, now_ms
from tests.center.api.test_api import HOUR, SITE, T0, alert_event, config
from tests.centerkit import ENT_A, ENT_B, ROLE_USERS, bearer, login, mini_park

STORED = b"\xff\xd8\xff\xe0stored-snapshot"
STORED_SHA = hashlib.sha256(STORED).hexdigest()
LOST_SHA = "ab" * 32


@pytest.fixture
def park(db_url: str) -> Iterator[TestClient]:
    """Two enterprises (甲金属 with cam-a1 厂区主通道, 乙化工 with cam-b1 "B1"), 30 alerts of ent-a and 6 of
    ent-b; logged in as the operator."""
    app = create_app(config(db_url), start_ingest=False)
    factory = app.state.session_factory
    with TestClient(app) as c:
        mini_park(factory)
        with factory.begin() as s:
            cam = s.get(Camera, "cam-a1")
            assert cam is not None
            cam.name, cam.post_name = "厂区主通道", "装卸区岗位"
            s.add(
                Node(
                    site=SITE,
                    node="edge-01",
                    state="online",
                    last_seen_ms=now_ms(),
                    updated_ms=now_ms(),
                    name="A区机房",
                    cameras=["cam-a1", "cam-b1"],
                    heartbeat={"evidence": {"uploads_dropped": 3, "clips_failed": 2}},
                )
            )
            s.add(
                NodeConfigVersion(
                    site=SITE,
                    node="edge-01",
                    version=1,
                    created_ms=now_ms(),
                    created_by="t",
                    config={
                        "cameras": [
                            {"id": "cam-a1", "zones": [{"id": "junction", "name": "道路交汇处禁行区"}]}
                        ],
                        "evidence": {"clips": False},
                    },
                )
            )
            s.add(
                EvidenceFile(
                    sha256=STORED_SHA,
                    content_type="image/jpeg",
                    size=len(STORED),
                    stored_ms=now_ms(),
                    uploaded_by="edge-01",
                )
            )
            for i in range(30):
                kind = ("intrusion", "smoking", "man_down")[i % 3]
                severity = ("general", "significant", "major")[i % 3]
                evidence = [
                    {
                        "kind": "snapshot",
                        "sha256": STORED_SHA if i % 2 else LOST_SHA,
                        "content_type": "image/jpeg",
                        "size": 10,
                    }
                ]
                apply_alert(
                    s,
                    alert_event(
                        node="edge-01",
                        camera="cam-a1",
                        started_ms=T0 + i * HOUR,
                        rule_type=kind,
                        severity=severity,
                        rule_name=f"甲规则{i}",
                        zone="junction" if i == 0 else None,
                        evidence=evidence,
                    ),
                    T0 + 40 * HOUR,
                )
            for i in range(6):
                apply_alert(
                    s,
                    alert_event(
                        node="edge-01",
                        camera="cam-b1",
                        started_ms=T0 + i * HOUR + 1,
                        rule_type="smoking",
                        severity="major",
                        rule_name="乙储罐区_100%",
                    ),
                    T0 + 40 * HOUR,
                )
        login(c, ROLE_USERS["operator"][0])
        yield c


def items(resp: Any) -> list[dict[str, Any]]:
    assert resp.status_code == 200, resp.text
    return resp.json()["items"]


def test_filters_each_and_together(park: TestClient) -> None:
    get = lambda **p: items(park.get("/api/alerts", params={"limit": 1000, **p}))  # noqa: E731
    assert len(get()) == 36
    assert {a["enterprise"] for a in get(enterprise_id=ENT_B)} == {ENT_B} and len(
        get(enterprise_id=ENT_B)
    ) == 6
    assert len(get(camera="cam-a1")) == 30
    assert {a["rule_type"] for a in get(rule_type="man_down")} == {"man_down"} and len(
        get(rule_type="man_down")
    ) == 10
    assert len(get(severity="major")) == 10 + 6
    assert len(get(severity="major", enterprise_id=ENT_A)) == 10
    assert len(get(since=str(T0 + 10 * HOUR), until=str(T0 + 20 * HOUR), camera="cam-a1")) == 10
    first = get(camera="cam-a1", since=str(T0), until=str(T0 + HOUR))[0]
    assert park.post(f"/api/alerts/{first['event_id']}/acknowledge").status_code == 200
    assert [a["event_id"] for a in get(status="acknowledged")] == [first["event_id"]]
    assert len(get(status="open")) == 35
    total = park.get("/api/alerts", params={"severity": "major", "limit": 1}).json()["total"]
    assert total == 16


def test_free_text_search_on_the_server(park: TestClient) -> None:
    get = lambda q, **p: items(park.get("/api/alerts", params={"q": q, "limit": 1000, **p}))  # noqa: E731
    assert {a["enterprise"] for a in get("乙化工")} == {ENT_B}  # the enterprise's name
    assert len(get("主通道")) == 30  # the camera's name
    assert len(get("装卸区岗位")) == 30  # its post
    assert len(get("a区机房")) == 36  # the node's name, any case
    assert [a["rule_name"] for a in get("甲规则17")] == ["甲规则17"]
    assert len(get("junction")) == 1  # the zone
    assert len(get("_100%")) == 6  # % and _ are taken literally
    assert len(get("%")) == 6 and len(get("_")) == 6  # only the names that hold them
    assert get("甲%") == [] and get("甲_则") == []  # as wildcards they would match all 30 甲规则
    some = get("甲规则2", severity="general")  # with the other filters
    assert {a["rule_name"] for a in some} == {"甲规则21", "甲规则24", "甲规则27"}
    eid = some[0]["event_id"]
    assert [a["event_id"] for a in get(eid[:-4])] == [eid]  # an id prefix (uuid7s of one ms share 13 chars)


def test_cursor_pages_cover_everything_once_while_alerts_arrive(park: TestClient) -> None:
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        params: dict[str, Any] = {"limit": 7, "enterprise_id": ENT_A}
        if cursor:
            params["cursor"] = cursor
        body = park.get("/api/alerts", params=params).json()
        seen += [a["event_id"] for a in body["items"]]
        assert body["total"] == 30 + (1 if pages else 0)
        pages += 1
        if pages == 1:  # a newer alert arrives after the first page: the next pages do not shift
            with park.app.state.session_factory.begin() as s:  # type: ignore[attr-defined]
                apply_alert(
                    s, alert_event(node="edge-01", camera="cam-a1", started_ms=T0 + 99 * HOUR), T0 + 99 * HOUR
                )
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert pages == 5 and len(seen) == 30 == len(set(seen))
    by_start = items(park.get("/api/alerts", params={"limit": 1000, "enterprise_id": ENT_A}))[1:]
    assert seen == [a["event_id"] for a in by_start]  # newest first, as one long list


def test_changes_after_a_point_no_gap_no_double(park: TestClient) -> None:
    everything = park.get("/api/alerts/changes", params={"after": "0.0", "limit": 1000}).json()
    assert len(everything["items"]) == 36 and everything["more"] is False
    point = everything["next_after"]
    assert park.get("/api/alerts/changes", params={"after": point}).json()["items"] == []
    # while "offline": one alert handled, two new ones
    target = everything["items"][3]["event_id"]
    assert park.post(f"/api/alerts/{target}/acknowledge").status_code == 200
    new = [new_event_id(), new_event_id()]
    with park.app.state.session_factory.begin() as s:  # type: ignore[attr-defined]
        for eid in new:
            apply_alert(
                s, alert_event(event_id=eid, node="edge-01", camera="cam-b1", started_ms=now_ms()), now_ms()
            )
    got: list[str] = []
    after = point
    while True:  # one at a time: the continuation neither skips nor repeats
        page = park.get("/api/alerts/changes", params={"after": after, "limit": 1}).json()
        got += [a["event_id"] for a in page["items"]]
        after = page["next_after"]
        if not page["more"]:
            break
    assert sorted(got) == sorted([target, *new]) and len(got) == 3
    assert (
        park.get("/api/alerts/changes", params={"after": point, "enterprise_id": ENT_A}).json()["items"][0][
            "status"
        ]
        == "acknowledged"
    )


def test_names_and_why_no_evidence(park: TestClient) -> None:
    rows = items(park.get("/api/alerts", params={"limit": 1000, "enterprise_id": ENT_A}))
    zoned = next(a for a in rows if a["zone"] == "junction")
    assert (zoned["camera_name"], zoned["post_name"]) == ("厂区主通道", "装卸区岗位")
    assert (zoned["enterprise_name"], zoned["node_name"]) == ("甲金属制品有限公司", "A区机房")
    assert zoned["zone_name"] == "道路交汇处禁行区"  # from the node's remote config
    states = {
        (a["evidence_status"]["snapshot"]["state"], a["evidence_status"]["clip"]["state"]) for a in rows
    }
    assert states == {("stored", "off"), ("missing", "off")}  # clips are off in the node's config
    lost = next(a for a in rows if a["evidence_status"]["snapshot"]["state"] == "missing")
    assert "上传失败" in lost["evidence_status"]["snapshot"]["label"]
    assert "3 个文件" in lost["evidence_status"]["snapshot"]["label"]  # the node's dropped uploads
    assert "不生成视频片段" in lost["evidence_status"]["clip"]["label"]
    b = items(park.get("/api/alerts", params={"enterprise_id": ENT_B, "limit": 1}))[0]
    assert b["evidence_status"]["snapshot"]["state"] == "none"  # it never referred to one
    # a fresh alert: its snapshot may still be on its way, its clip waits for its window
    eid = new_event_id()
    with park.app.state.session_factory.begin() as s:  # type: ignore[attr-defined]
        apply_alert(
            s,
            alert_event(
                event_id=eid,
                node="edge-02",
                camera="cam-b1",
                started_ms=now_ms(),
                evidence=[{"kind": "snapshot", "sha256": "cd" * 32, "content_type": "image/jpeg", "size": 5}],
            ),
            now_ms(),
        )
    fresh = park.get(f"/api/alerts/{eid}").json()["evidence_status"]
    assert fresh["snapshot"]["state"] == "pending" and fresh["clip"]["state"] == "pending"


@pytest.mark.parametrize(
    ("path", "params", "field"),
    [
        ("/api/alerts", {"limit": 0}, "limit"),
        ("/api/alerts", {"limit": 10**9}, "limit"),
        ("/api/alerts", {"offset": -1}, "offset"),
        ("/api/alerts", {"q": "x" * 65}, "q"),
        ("/api/alerts", {"q": "   "}, "q"),
        ("/api/alerts", {"cursor": "yesterday"}, "cursor"),
        ("/api/alerts", {"cursor": "1" * 16 + ".a"}, "cursor"),
        ("/api/alerts", {"cursor": "5." + "a" * 65}, "cursor"),
        ("/api/alerts", {"cursor": "5.a b"}, "cursor"),
        ("/api/alerts", {"severity": "catastrophic"}, "severity"),
        ("/api/alerts", {"status": "burning"}, "status"),
        ("/api/alerts", {"rule_type": "x" * 5000}, "rule_type"),
        ("/api/alerts", {"enterprise_id": "../../etc"}, "enterprise_id"),
        ("/api/alerts", {"camera": "<script>"}, "camera"),
        ("/api/alerts", {"since": "the day before"}, "since"),
        ("/api/alerts", {"since": "2025-06-02T00:00:00Z", "until": "2025-06-01T00:00:00Z"}, "until"),
        ("/api/alerts/changes", {}, "after"),
        ("/api/alerts/changes", {"after": "-1.0"}, "after"),
        ("/api/alerts/changes", {"after": "0.0", "limit": 1001}, "limit"),
        ("/api/alerts/changes", {"after": "0.0", "q": "y" * 200}, "q"),
    ],
)
def test_absurd_parameters_get_422_with_a_reason(
    park: TestClient, path: str, params: dict[str, Any], field: str
) -> None:
    resp = park.get(path, params=params)
    assert resp.status_code == 422, resp.text
    assert field in resp.text


def test_an_officer_filtering_for_another_enterprise_gets_nothing(park: TestClient) -> None:
    token = login(park, ROLE_USERS["enterprise"][0])
    h = bearer(token)
    mine = items(park.get("/api/alerts", params={"limit": 1000}, headers=h))
    assert len(mine) == 30 and {a["enterprise"] for a in mine} == {ENT_A}
    for params in ({"enterprise_id": ENT_B}, {"camera": "cam-b1"}, {"q": "乙化工"}, {"q": "乙储罐区"}):
        body = park.get("/api/alerts", params=params, headers=h).json()
        assert (body["items"], body["total"]) == ([], 0), params
        changes = park.get("/api/alerts/changes", params={"after": "0.0", **params}, headers=h).json()
        assert changes["items"] == [], params
    everything = park.get("/api/alerts/changes", params={"after": "0.0", "limit": 1000}, headers=h).json()
    assert {a["enterprise"] for a in everything["items"]} == {ENT_A}
    with park.app.state.session_factory() as s:  # type: ignore[attr-defined]
        other = s.query(Alert).filter(Alert.enterprise == ENT_B).first()
        assert other is not None
    assert park.get(f"/api/alerts/{other.event_id}", headers=h).status_code == 404
    insurer = bearer(login(park, ROLE_USERS["insurer"][0]))
    assert park.get("/api/alerts/changes", params={"after": "0.0"}, headers=insurer).status_code == 403
